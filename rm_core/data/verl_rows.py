"""DataSample tables -> verl's RL parquet rows.

A verl row is `data_source`, `prompt` (chat messages the tokenizer's chat template
renders), `ability`, `reward_model` = {style: "rule", ground_truth} and `extra_info`.
The judge prompt is the template's, the ground truth is every label of the sample, and
`extra_info` names the sample and the dimension(s) the reward scores; a pairwise row
also names its prompt and the responses shown as A and B (hashes of their texts), which
the position-consistency and conflict metrics group by.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rm_core.data.coerce import user_messages
from rm_core.data.convert.arrow_text import (
    contiguous,
    conversation_text,
    hex_ids,
    normalize,
    one_each,
    pairwise_winner,
    repeat_text,
    text_hashes,
)
from rm_core.judge.templates import PairwiseTemplate, Template, asked_for


def verl_rows(
    samples: pa.Table,
    split: str,
    template: Template,
    first_index: int = 0,
) -> pa.Table:
    """verl rows of one batch of samples belonging to `split`."""
    query = conversation_text(contiguous(samples.column("input")))
    outputs = contiguous(samples.column("output"))
    first = _first_answer(outputs)
    count = samples.num_rows
    ids: dict[str, pa.Array] = {}
    if isinstance(template, PairwiseTemplate):
        first_text = pc.struct_field(first, "content")
        second_text = pc.struct_field(pc.list_element(outputs, 1), "content")
        prompt = template.render_batch(query, first_text, second_text)
        ground_truth = _preference_truth(first)
        ids = {"prompt_id": hex_ids("", text_hashes(normalize(query))),
               "first_id": hex_ids("", text_hashes(first_text)),
               "second_id": hex_ids("", text_hashes(second_text))}
    else:
        prompt = template.render_batch(query, pc.struct_field(first, "content"))
        ground_truth = pc.struct_field(first, "label")
    reward_model = pa.StructArray.from_arrays(
        [repeat_text("rule", count), ground_truth],
        names=["style", "ground_truth"],
    )
    info = {
        "unique_id": contiguous(samples.column("unique_id")),
        "split": repeat_text(split, count),
        "index": pa.array(np.arange(first_index, first_index + count, dtype=np.int64)),
        "dimension": repeat_text(asked_for(template), count),
        **ids,
    }
    extra_info = pa.StructArray.from_arrays(list(info.values()), names=list(info))
    task = contiguous(samples.column("task_category"))
    return pa.table(
        {
            "data_source": contiguous(samples.column("source")),
            "prompt": user_messages(prompt),
            "ability": pc.binary_join_element_wise("judge-", task, ""),
            "reward_model": reward_model,
            "extra_info": extra_info,
        }
    )


def _first_answer(outputs: pa.ListArray) -> pa.Array:
    """The first answer of each sample; with one answer each, the answers as they are
    (`list_element` would copy every response)."""
    return pc.list_flatten(outputs) if one_each(outputs) else pc.list_element(outputs, 0)


def _preference_truth(first_answer: pa.Array) -> pa.StructArray:
    """{"preference": "A"|"B"|"tie", "strength": n} from the first answer's label."""
    label = pc.struct_field(first_answer, "label")
    return pa.StructArray.from_arrays(
        [pairwise_winner(label), pc.struct_field(label, "strength")],
        names=["preference", "strength"],
    )
