"""DataSample tables -> verl's RL parquet rows.

A verl row is `data_source`, `prompt` (chat messages the tokenizer's chat template
renders), `ability`, `reward_model` = {style: "rule", ground_truth} and `extra_info`.
The judge prompt is the template's, the ground truth is every label of the sample, and
`extra_info` names the sample and the dimension the reward scores.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from rm_core.coerce import user_messages
from rm_core.convert.arrow_text import conversation_text, pairwise_winner
from rm_core.templates import PairwiseTemplate, PointwiseTemplate


def verl_rows(
    samples: pa.Table,
    split: str,
    template: PointwiseTemplate | PairwiseTemplate,
    first_index: int = 0,
) -> pa.Table:
    """verl rows of one batch of samples belonging to `split`."""
    query = conversation_text(samples.column("input").combine_chunks())
    outputs = samples.column("output").combine_chunks()
    first = pc.list_element(outputs, 0)
    if isinstance(template, PointwiseTemplate):
        prompt = template.render_batch(query, pc.struct_field(first, "content"))
        ground_truth = pc.struct_field(first, "label")
        dimension = template.dimension
    else:
        second = pc.list_element(outputs, 1)
        prompt = template.render_batch(
            query, pc.struct_field(first, "content"), pc.struct_field(second, "content")
        )
        ground_truth = _preference_truth(first)
        dimension = "preference"
    count = samples.num_rows
    reward_model = pa.StructArray.from_arrays(
        [pa.array(["rule"] * count, type=pa.string()), ground_truth],
        names=["style", "ground_truth"],
    )
    extra_info = pa.StructArray.from_arrays(
        [
            samples.column("unique_id").combine_chunks(),
            pa.array([split] * count, type=pa.string()),
            pa.array(range(first_index, first_index + count), type=pa.int64()),
            pa.array([dimension] * count, type=pa.string()),
        ],
        names=["unique_id", "split", "index", "dimension"],
    )
    task = samples.column("task_category").combine_chunks()
    return pa.table(
        {
            "data_source": samples.column("source").combine_chunks(),
            "prompt": user_messages(prompt),
            "ability": pc.binary_join_element_wise("judge-", task, ""),
            "reward_model": reward_model,
            "extra_info": extra_info,
        }
    )


def _preference_truth(first_answer: pa.Array) -> pa.StructArray:
    """{"preference": "A"|"B"|"tie", "strength": n} from the first answer's label."""
    label = pc.struct_field(first_answer, "label")
    return pa.StructArray.from_arrays(
        [pairwise_winner(label), pc.struct_field(label, "strength")],
        names=["preference", "strength"],
    )
