"""Reading sources: local files with column mappings, clear errors, Hugging Face snapshots."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from rm_core.config import SourceConfig
from rm_core.data import sources
from rm_core.data.coerce import Kind
from rm_core.data.sources import ERROR_COLUMN, ROW_COLUMN, FetchedSource, fetch, read_batches
from rm_core.errors import SourceError, SourceUnavailable

KINDS: dict[str, Kind] = {"prompt": "messages", "response": "text", "helpfulness": "number"}
MAPPING = {"prompt": "question", "response": "answer", "helpfulness": "score"}


def _renamed_rows() -> list[dict[str, Any]]:
    return [
        {"question": "What is 2+2?", "answer": "4", "score": 4, "extra": "ignored"},
        {"question": "Capital of France?", "answer": "Paris", "score": 3, "extra": "x"},
        {"question": "Say hi", "answer": "hi", "score": 0, "extra": "y"},
    ]


def _read_all(path: Path, columns: dict[str, str], kinds: dict[str, Kind] = KINDS,
              batch_rows: int = 2, root: Path | None = None) -> pa.Table:
    fetched = fetch(SourceConfig(kind="local", path=path, columns=columns), root or path.parent)
    return pa.concat_tables(list(read_batches(fetched, kinds, columns, batch_rows)))


@pytest.mark.parametrize("name", ["renamed.parquet", "renamed.json", "renamed.jsonl"])
def test_local_files_are_read_with_a_column_mapping(
    write_rows: Callable[..., Path], name: str
) -> None:
    """Each format yields canonical column names, coerced types and 0-based source rows."""
    path = write_rows(name, _renamed_rows())
    table = _read_all(path, MAPPING)
    assert table.column_names == ["prompt", "response", "helpfulness", ROW_COLUMN,
                                  ERROR_COLUMN, "_raw"]
    assert table.column("prompt").to_pylist() == [
        [{"role": "user", "content": "What is 2+2?"}],
        [{"role": "user", "content": "Capital of France?"}],
        [{"role": "user", "content": "Say hi"}],
    ]
    assert table.column("response").to_pylist() == ["4", "Paris", "hi"]
    assert table.schema.field("helpfulness").type == pa.float64()
    assert table.column("helpfulness").to_pylist() == [4.0, 3.0, 0.0]
    assert table.column(ROW_COLUMN).to_pylist() == [0, 1, 2]
    assert table.column(ERROR_COLUMN).to_pylist() == [None, None, None]


def test_fetch_pins_local_files_by_content(write_rows: Callable[..., Path]) -> None:
    """The fingerprint is the file's content hash: same bytes, same fingerprint."""
    first = fetch(SourceConfig(kind="local", path=write_rows("a.jsonl", _renamed_rows())),
                  Path("unused"))
    second = fetch(SourceConfig(kind="local", path=write_rows("b.jsonl", _renamed_rows())),
                   Path("unused"))
    other = fetch(SourceConfig(kind="local", path=write_rows("c.jsonl", _renamed_rows()[:2])),
                  Path("unused"))
    assert first.format == "jsonl"
    assert first.fingerprint == second.fingerprint != other.fingerprint
    assert first.path.is_absolute()


def test_missing_file_is_named(tmp_path: Path) -> None:
    """A path that does not exist raises SourceError naming it."""
    missing = tmp_path / "nowhere" / "rows.jsonl"
    with pytest.raises(SourceError, match="not found") as info:
        fetch(SourceConfig(kind="local", path=missing), tmp_path)
    assert str(missing) in str(info.value)


def test_unknown_extension_is_named(write_rows: Callable[..., Path]) -> None:
    """An unrecognised extension raises SourceError naming the file, extension and remedy."""
    path = write_rows("rows.csv", _renamed_rows())
    with pytest.raises(SourceError) as info:
        fetch(SourceConfig(kind="local", path=path), path.parent)
    message = str(info.value)
    assert str(path) in message
    assert "'.csv'" in message
    assert "source.format" in message


def test_declared_format_overrides_the_extension(write_rows: Callable[..., Path]) -> None:
    """With source.format set, an odd extension is read as declared."""
    path = write_rows("rows.txt", _renamed_rows())
    source = SourceConfig(kind="local", path=path, format="jsonl", columns=MAPPING)
    fetched = fetch(source, path.parent)
    table = pa.concat_tables(list(read_batches(fetched, KINDS, MAPPING, 10)))
    assert table.column("response").to_pylist() == ["4", "Paris", "hi"]


@pytest.mark.parametrize("name", ["rows.parquet", "rows.jsonl"])
def test_missing_columns_list_missing_and_found(
    write_rows: Callable[..., Path], name: str
) -> None:
    """Lacking columns: the message names the file, each missing column and what exists."""
    path = write_rows(name, _renamed_rows())
    mapping = {"prompt": "question", "response": "reply"}  # "reply" and "helpfulness" absent
    with pytest.raises(SourceError) as info:
        _read_all(path, mapping)
    message = str(info.value)
    assert str(path) in message
    assert "'reply' (for 'response')" in message
    assert "'helpfulness'" in message
    found = re.search(r"found: (\[.*?\])", message)
    assert found is not None
    assert found.group(1) == "['answer', 'extra', 'question', 'score']"


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.json", "empty.parquet"])
def test_empty_dataset_is_an_error(tmp_path: Path, name: str) -> None:
    """A source without rows raises SourceError naming the file."""
    path = tmp_path / name
    if name.endswith(".parquet"):
        schema = pa.schema([("question", pa.string()), ("answer", pa.string()),
                            ("score", pa.int64())])
        pq.write_table(schema.empty_table(), path)
    elif name.endswith(".json"):
        path.write_text("[]", encoding="utf-8")
    else:
        path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(SourceError, match="no rows") as info:
        _read_all(path, MAPPING)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("name", ["words.jsonl", "words.parquet"])
def test_entirely_non_numeric_label_column_names_column_and_row(
    write_rows: Callable[..., Path], name: str
) -> None:
    """A label column with no number at all is a wrong mapping: column and row are named."""
    rows = _renamed_rows()
    rows[0]["score"] = None
    rows[1]["score"] = "very good"
    rows[2]["score"] = "bad"
    path = write_rows(name, rows)
    with pytest.raises(SourceError) as info:
        _read_all(path, MAPPING, batch_rows=10)
    message = str(info.value)
    assert str(path) in message
    assert "'score'" in message
    assert "row 1" in message
    assert "'very good'" in message


def test_one_non_numeric_label_is_a_row_error_not_a_crash(
    write_rows: Callable[..., Path],
) -> None:
    """A single bad label value becomes a null plus a per-row error naming the column."""
    rows = _renamed_rows()
    rows[1]["score"] = "three"
    table = _read_all(write_rows("one_bad.jsonl", rows), MAPPING, batch_rows=10)
    assert table.column("helpfulness").to_pylist() == [4.0, None, 0.0]
    errors = table.column(ERROR_COLUMN).to_pylist()
    assert errors[0] is None and errors[2] is None
    assert errors[1] is not None and errors[1].startswith("helpfulness:")
    assert "three" in errors[1]


def test_invalid_json_document_is_named(tmp_path: Path) -> None:
    """A .json file that is not a JSON array raises SourceError naming the file."""
    path = tmp_path / "broken.json"
    path.write_text('[{"question": "a"', encoding="utf-8")
    with pytest.raises(SourceError) as info:
        _read_all(path, MAPPING)
    assert str(path) in str(info.value)


# --- Hugging Face: the real datasets.load_dataset path on a local repo-shaped directory ---


@pytest.fixture
def offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Hub access off and every Hugging Face cache inside tmp_path."""
    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(home / "datasets"))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setenv("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", home / "datasets")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    return tmp_path


def _hub_rows(count: int) -> list[dict[str, Any]]:
    return [{"prompt": f"hub prompt {i} — ✓", "response": f"hub answer {i}", "helpfulness": i % 5}
            for i in range(count)]


@pytest.mark.parametrize("layout", ["data/train-00000-of-00001.parquet", "train.jsonl"])
def test_hub_dataset_is_snapshotted_by_content(
    offline_hub: Path, write_rows: Callable[..., Path], layout: str
) -> None:
    """load_dataset on a repo-shaped folder -> parquet under root/fetch/<sha>, stable on refetch."""
    repo = offline_hub / "hub_repo"
    write_rows(repo / layout, _hub_rows(6))
    root = offline_hub / "artifacts"
    source = SourceConfig(kind="huggingface", name=str(repo), split="train")

    fetched = fetch(source, root)
    assert fetched.format == "parquet"
    assert re.fullmatch(r"[0-9a-f]{64}", fetched.fingerprint)
    assert fetched.path == root / "fetch" / fetched.fingerprint / "data.parquet"
    assert fetched.path.is_file()
    assert str(repo) in fetched.origin
    snapshot = pq.read_table(fetched.path)
    assert snapshot.column("prompt").to_pylist() == [r["prompt"] for r in _hub_rows(6)]
    assert snapshot.column("helpfulness").to_pylist() == [r["helpfulness"] for r in _hub_rows(6)]

    mtime = fetched.path.stat().st_mtime_ns
    again = fetch(source, root)
    assert again.fingerprint == fetched.fingerprint
    assert again.path == fetched.path
    assert fetched.path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in (root / "fetch").iterdir() if not p.name.startswith(".")) == [
        fetched.fingerprint
    ]
    table = pa.concat_tables(list(read_batches(again, KINDS, {}, 4)))
    assert table.column("response").to_pylist() == [r["response"] for r in _hub_rows(6)]


def test_hub_dataset_with_other_content_gets_another_snapshot(
    offline_hub: Path, write_rows: Callable[..., Path]
) -> None:
    """Different hub content gives a different fingerprint and directory."""
    root = offline_hub / "artifacts"
    write_rows(offline_hub / "repo_a" / "train.jsonl", _hub_rows(4))
    write_rows(offline_hub / "repo_b" / "train.jsonl", _hub_rows(5))
    first = fetch(SourceConfig(kind="huggingface", name=str(offline_hub / "repo_a")), root)
    second = fetch(SourceConfig(kind="huggingface", name=str(offline_hub / "repo_b")), root)
    assert first.fingerprint != second.fingerprint
    assert first.path.parent != second.path.parent
    assert pq.read_table(second.path).num_rows == 5


def test_unknown_hub_split_is_a_source_error(
    offline_hub: Path, write_rows: Callable[..., Path]
) -> None:
    """A split the dataset does not have raises SourceError naming dataset and split."""
    repo = offline_hub / "repo_split"
    write_rows(repo / "train.jsonl", _hub_rows(3))
    source = SourceConfig(kind="huggingface", name=str(repo), split="validation")
    with pytest.raises(SourceError) as info:
        fetch(source, offline_hub / "artifacts")
    assert not isinstance(info.value, SourceUnavailable)  # waiting will not add the split
    assert str(repo) in str(info.value)
    assert "'validation'" in str(info.value)


def _http_error(status: int) -> Exception:
    from huggingface_hub.errors import HfHubHTTPError

    response = requests.Response()
    response.status_code = status
    return HfHubHTTPError(f"{status} Server Error", response=response)


def _raised_from(error: Exception, cause: Exception) -> Exception:
    error.__cause__ = cause
    return error


def _hub_raises(monkeypatch: pytest.MonkeyPatch, error: Exception) -> list[str]:
    """datasets.load_dataset raises `error` (the hub cannot be asked here); the names it
    was called with."""
    import datasets

    calls: list[str] = []

    def load_dataset(name: str, **kwargs: Any) -> None:
        calls.append(name)
        raise error

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def _not_found_errors() -> list[Exception]:
    from datasets.exceptions import DatasetNotFoundError
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    return [
        DatasetNotFoundError("Dataset 'nvidia/HelpStere2' doesn't exist on the Hub or cannot "
                             "be accessed."),
        FileNotFoundError("Couldn't find any data file at /work/nvidia/HelpStere2."),
        _raised_from(DatasetNotFoundError("Revision 'v9' doesn't exist for dataset "
                                          "'nvidia/HelpStere2' on the Hub."),
                     RevisionNotFoundError("404 Client Error. Revision Not Found")),
        RepositoryNotFoundError("404 Client Error. Repository Not Found"),
    ]


def _unreachable_errors() -> list[Exception]:
    from huggingface_hub.errors import LocalEntryNotFoundError

    return [
        ConnectionError("Couldn't reach 'nvidia/HelpStere2' on the Hub (LocalEntryNotFoundError)"),
        requests.ConnectionError("Failed to resolve 'huggingface.co'"),
        httpx.ConnectTimeout("timed out"),
        LocalEntryNotFoundError("cannot find the requested files in the local cache"),
        _http_error(503),
        _raised_from(RuntimeError("download failed"), requests.ReadTimeout("read timed out")),
    ]


@pytest.mark.parametrize("error", _not_found_errors(), ids=lambda e: type(e).__name__)
def test_a_dataset_the_hub_does_not_have_fails_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    """Not found is a SourceError not worth retrying, naming the dataset and what was
    expected of it."""
    calls = _hub_raises(monkeypatch, error)
    with pytest.raises(SourceError) as info:
        fetch(SourceConfig(kind="huggingface", name="nvidia/HelpStere2"), tmp_path)
    assert not isinstance(info.value, SourceUnavailable)
    message = str(info.value)
    assert "Hugging Face dataset 'nvidia/HelpStere2'" in message and "not found" in message
    assert "Expected data.source.name to be a dataset on the Hub" in message
    assert calls == ["nvidia/HelpStere2"]


@pytest.mark.parametrize("error", _unreachable_errors(), ids=lambda e: type(e).__name__)
def test_an_unreachable_hub_is_worth_retrying(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    _hub_raises(monkeypatch, error)
    with pytest.raises(SourceUnavailable,
                       match="cannot reach the Hugging Face Hub for dataset 'nvidia/HelpSteer2'"):
        fetch(SourceConfig(kind="huggingface", name="nvidia/HelpSteer2"), tmp_path)


def test_a_failure_not_known_to_be_permanent_keeps_its_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _hub_raises(monkeypatch, RuntimeError("unexpected"))
    with pytest.raises(SourceUnavailable, match="cannot load Hugging Face dataset"):
        fetch(SourceConfig(kind="huggingface", name="nvidia/HelpSteer2"), tmp_path)


def test_fetched_source_is_frozen(tmp_path: Path) -> None:
    """FetchedSource is immutable: a pinned source cannot be re-pointed."""
    fetched = FetchedSource(path=tmp_path, format="jsonl", fingerprint="f", origin="o")
    with pytest.raises(ValueError):
        fetched.fingerprint = "g"  # type: ignore[misc]


def test_parquet_read_in_slices_keeps_batches_rows_and_values(
    write_rows: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slices smaller than a batch are regathered into batches of `batch_rows` rows, with
    the same rows and values as an unsliced read."""
    rows = [{"question": f"q{i}", "answer": f"a{i}", "score": i % 5} for i in range(12)]
    path = write_rows("sliced.parquet", rows)
    whole = _read_all(path, MAPPING, batch_rows=5)
    monkeypatch.setattr(sources, "SLICE_ROWS", 3)
    fetched = fetch(SourceConfig(kind="local", path=path, columns=MAPPING), path.parent)
    batches = list(read_batches(fetched, KINDS, MAPPING, 5))
    assert [batch.num_rows for batch in batches] == [5, 5, 2]
    assert batches[0].column("response").num_chunks == 2  # slices of 3 rows, cut at 5
    assert pa.concat_tables(batches).equals(whole)
