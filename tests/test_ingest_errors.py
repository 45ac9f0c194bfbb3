"""`ingest` on bad input and in a bad environment: a `SemspaceError` that names the file, the record
and the problem, one `ingest: error:` line from the command line, and a warehouse left exactly as it was
(bad input, a locked warehouse, a failure or an interrupt in the middle of the write)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ingest
import ingest.__main__ as cli
from semspace import db
from semspace.errors import SemspaceError
from tests.conftest import BLIP_A, BLIP_B

pytestmark = pytest.mark.usefixtures("ingest_env")

GOOD = {"image": "val2014/COCO_val2014_000000000001.jpg", "caption": ["A fine caption."]}


def blip(*records: Any) -> bytes:
    return json.dumps(list(records)).encode()


def karpathy(*images: dict[str, Any]) -> bytes:
    return json.dumps({"images": list(images)}).encode()


def k_image(name: str, split: str = "test", sentences: Any = None, **extra: Any) -> dict[str, Any]:
    entry = {"filepath": "val2014", "filename": name, "split": split,
             "sentences": [{"raw": "Fine.", "tokens": ["fine"]}] if sentences is None else sentences}
    entry.update(extra)
    return entry


def coco(images: list[Any], annotations: list[Any]) -> bytes:
    return json.dumps({"images": images, "annotations": annotations}).encode()


def parquet(columns: dict[str, list[Any]]) -> Callable[[Path], None]:
    return lambda path: pq.write_table(pa.table(columns), path)


@dataclass
class Bad:
    """A bad source: ``content`` is bytes to write, a callable that writes the file, ``"dir"`` for a
    directory or ``None`` for no file at all. ``expect`` are fragments the message must contain
    besides the file's path."""

    file: str
    content: bytes | Callable[[Path], None] | str | None
    expect: tuple[str, ...]
    options: dict[str, str] = field(default_factory=dict)


BAD = {
    "missing file": Bad("missing.json", None, ("no such file",)),
    "missing table file": Bad("missing.csv", None, ("no such file",)),
    "directory": Bad("folder.json", "dir", ("cannot read the file", "directory")),
    "directory with a table suffix": Bad("folder.csv", "dir", ("cannot read the file", "is a directory")),
    "invalid JSON": Bad("broken.json", b'[{"image": "a.jpg", "caption": ["x"]},\n {"image": ', ("invalid JSON", "line 2")),
    "empty file": Bad("empty.json", b"", ("invalid JSON", "line 1")),
    "unknown JSON layout": Bad("odd.json", b'{"files": []}', ("unknown JSON layout",)),
    "JSON scalar": Bad("scalar.json", b'"just a string"', ("unknown JSON layout",)),
    "missing image field": Bad("noimage.json", blip(GOOD, {"caption": ["x"]}), ("record 1", "missing field 'image'")),
    "missing caption field": Bad(
        "nocaption.json", blip(GOOD, {"image": "b.jpg"}), ("record 1", "missing field 'caption'")
    ),
    "empty caption list": Bad(
        "emptylist.json", blip(GOOD, {"image": "b.jpg", "caption": []}), ("record 1 (b.jpg)", "empty caption list")
    ),
    "empty caption string": Bad(
        "emptystring.json", blip(GOOD, {"image": "b.jpg", "caption": ["ok", "  "]}), ("record 1 (b.jpg)", "caption 1 is empty")
    ),
    "caption not a string": Bad(
        "number.json", blip(GOOD, {"image": "b.jpg", "caption": ["ok", 7]}), ("record 1 (b.jpg)", "caption 1 is int")
    ),
    "record not an object": Bad("notobject.json", blip(GOOD, ["b.jpg", "x"]), ("record 1", "expected an object")),
    "duplicate image key": Bad(
        "dup.json", blip(GOOD, {"image": "b.jpg", "caption": ["x"]}, GOOD),
        ("record 2", "duplicate image key", "COCO_val2014_000000000001.jpg", "first seen at record 0"),
    ),
    "non-UTF-8 JSON": Bad(
        "latin1.json", b'[{"image": "a.jpg", "caption": ["caf\xe9 au lait"]}]', ("not valid UTF-8", "byte 36", "line 1")
    ),
    "non-UTF-8 byte 0xff in JSON": Bad(
        "ff.json", b'[{"image": "a.jpg",\n "caption": ["x\xff"]}]', ("not valid UTF-8", "byte 35", "line 2")
    ),
    "non-UTF-8 CSV": Bad(
        "latin1.csv", b"image,caption\na.jpg,fine\nb.jpg,caf\xff\n", ("not valid UTF-8", "byte 34", "line 3")
    ),
    "CSV missing the caption column": Bad(
        "nocaptions.csv", b"image,label\na.jpg,dog\n", ("cannot tell which column holds the caption", "image, label")
    ),
    "CSV missing the named caption column": Bad(
        "named.csv", b"image,caption\na.jpg,dog\n", ("no column 'text_en'", "caption"), {"caption_col": "text_en"}
    ),
    "CSV missing the image column": Bad(
        "noimages.csv", b"name,caption\na.jpg,dog\n", ("cannot tell which column holds the image",)
    ),
    "CSV empty caption cell": Bad(
        "emptycell.csv", b"image,caption\na.jpg,dog\nb.jpg,\n", ("row 1 (b.jpg)", "missing caption in column 'caption'")
    ),
    "CSV empty image cell": Bad(
        "emptyimage.csv", b"image,caption\na.jpg,dog\n,cat\n", ("row 1", "missing image in column 'image'")
    ),
    "malformed JSONL": Bad(
        "broken.jsonl", b'{"image": "a.jpg", "caption": "x"}\n{"image": \n', ("cannot read as json", "Malformed JSON")
    ),
    "malformed JSONL line after DuckDB's sample": Bad(
        "late.jsonl",
        b"".join(json.dumps({"image": f"{i}.jpg", "caption": "x"}).encode() + b"\n" for i in range(25_000))
        + b'{"image": "z.jpg", "caption": \n',
        ("cannot read as json", "Malformed JSON"),
    ),
    "duplicate image in a list-of-captions table": Bad(
        "duplist.parquet", parquet({"image": ["a.jpg", "b.jpg", "a.jpg"], "captions": [["x"], ["y"], ["z"]]}),
        ("row 2 (a.jpg)", "duplicate image key", "first seen at row 0"),
    ),
    "empty caption list in a table": Bad(
        "emptytablelist.parquet", parquet({"image": ["a.jpg", "b.jpg"], "captions": [["x"], []]}),
        ("row 1 (b.jpg)", "empty caption list"),
    ),
    "not a Parquet file": Bad("fake.parquet", b"PAR1 but not really", ("cannot read as parquet",)),
    "Karpathy missing sentences": Bad(
        "dataset_coco.json", karpathy(k_image("a.jpg"), {"filepath": "val2014", "filename": "b.jpg", "split": "test"}),
        ("record 1", "missing field 'sentences'"),
    ),
    "Karpathy empty raw caption": Bad(
        "dataset_coco.json", karpathy(k_image("a.jpg"), k_image("b.jpg", sentences=[{"raw": "", "tokens": []}])),
        ("record 1 (b.jpg)", "caption 0 is empty"),
    ),
    "Karpathy duplicate image": Bad(
        "dataset_coco.json",
        karpathy(k_image("a.jpg"), k_image("t.jpg", split="train"), k_image("b.jpg"), k_image("a.jpg")),
        ("record 3 (a.jpg)", "duplicate image key 'val2014/a.jpg'", "first seen at record 0"),
    ),
    "Karpathy unknown split": Bad(
        "dataset_coco.json", karpathy(k_image("a.jpg")), ("unknown Karpathy split 'dev'",), {"split": "dev"}
    ),
    "Karpathy split with no images": Bad(
        "dataset_coco.json", karpathy(k_image("a.jpg")), ("no images with split 'val'",), {"split": "val"}
    ),
    "COCO missing caption": Bad(
        "captions_val.json", coco([{"id": 1}], [{"image_id": 1, "caption": "x"}, {"image_id": 1}]),
        ("annotation 1", "missing field 'caption'"),
    ),
    "COCO image without captions": Bad(
        "captions_val.json", coco([{"id": 1}, {"id": 2}], [{"image_id": 1, "caption": "x"}]),
        ("image 1 (id 2)", "empty caption list"),
    ),
    "COCO duplicate image id": Bad(
        "captions_val.json", coco([{"id": 1}, {"id": 2}, {"id": 1}], [{"image_id": 1, "caption": "x"}, {"image_id": 2, "caption": "y"}]),
        ("image 2 (id 1)", "duplicate image id 1", "first seen at image 0"),
    ),
    "COCO annotation for an unknown image": Bad(
        "captions_val.json", coco([{"id": 1}], [{"image_id": 1, "caption": "x"}, {"image_id": 9, "caption": "y"}]),
        ("image_id 9", "not in 'images'"),
    ),
    "COCO non-integer image id": Bad(
        "captions_val.json", coco([{"id": 1}, {"id": "abc"}], [{"image_id": 1, "caption": "x"}]),
        ("image 1", "field 'id' must be an integer id", "'abc'"),
    ),
    "COCO list as annotation image_id": Bad(
        "captions_val.json", coco([{"id": 1}], [{"image_id": 1, "caption": "x"}, {"image_id": [1], "caption": "y"}]),
        ("annotation 1", "field 'image_id' must be an image id"),
    ),
    "Karpathy non-integer cocoid": Bad(
        "dataset_coco.json", karpathy(k_image("a.jpg"), k_image("b.jpg", cocoid="b")),
        ("record 1 (b.jpg)", "field 'cocoid' must be an integer id", "'b'"),
    ),
    "table struct caption with string tokens": Bad(
        "tokstr.jsonl", b'{"image": "a.jpg", "sentences": {"raw": "A dog.", "tokens": "a dog"}}\n',
        ("row 0 (a.jpg)", "field 'tokens' must be a list"),
    ),
    "unknown table suffix with --format table": Bad(
        "table.txt", b"image,caption\na.jpg,x\n", ("unknown table format '.txt'",), {"fmt": "table"}
    ),
}


def make(tmp_path: Path, bad: Bad) -> Path:
    path = tmp_path / "bad" / bad.file
    path.parent.mkdir(parents=True, exist_ok=True)
    if bad.content == "dir":
        path.mkdir()
    elif isinstance(bad.content, bytes):
        path.write_bytes(bad.content)
    elif callable(bad.content):
        bad.content(path)
    return path


def check_message(message: str, path: Path, bad: Bad) -> None:
    assert str(path) in message, message
    for fragment in bad.expect:
        assert fragment in message, f"{fragment!r} not in {message!r}"


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input_raises_and_changes_nothing(case: str, tmp_path: Path, good_warehouse: Path, good_rows, raw_snapshot) -> None:
    bad = BAD[case]
    path = make(tmp_path, bad)
    before = good_rows
    assert before["tables"] == ["captions", "datasets", "images"] and len(before["images"]) == 5
    # the same name as a dataset already there: a failed re-ingest must not delete it either
    with pytest.raises(SemspaceError) as info:
        ingest.load(path, database=good_warehouse, name="alpha", **bad.options)
    check_message(str(info.value), path, bad)
    assert raw_snapshot(good_warehouse) == before


CLI_BAD = [case for case, bad in BAD.items() if bad.options.get("split", "test") in ("test", "val", "train", "restval")]


@pytest.mark.parametrize("case", CLI_BAD, ids=CLI_BAD)
def test_bad_input_from_the_command_line(case: str, tmp_path: Path, good_warehouse: Path, good_rows, raw_snapshot, capsys) -> None:
    bad = BAD[case]
    path = make(tmp_path, bad)
    before = good_rows
    args = [str(path), "--db", str(good_warehouse)]
    flags = {"caption_col": "--caption-col", "fmt": "--format", "split": "--split"}
    for option, value in bad.options.items():
        args += [flags[option], value]
    assert cli.main(args) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("ingest: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    check_message(err, path, bad)
    assert raw_snapshot(good_warehouse) == before


def test_table_column_type_change_after_duckdbs_sample(tmp_path: Path, good_warehouse: Path, good_rows, raw_snapshot) -> None:
    """DuckDB infers JSON column types from a sample of rows, then fails on a later row that does not
    fit. The file is valid, so loading it is fine; what must not happen is a raw DuckDB exception."""
    before = good_rows
    path = tmp_path / "drift.jsonl"
    lines = [json.dumps({"image": i, "caption": f"caption {i}"}) for i in range(25_000)]
    path.write_text("\n".join([*lines, json.dumps({"image": "z.jpg", "caption": "last"})]) + "\n")
    try:
        dataset = ingest.load(path, database=good_warehouse)
    except SemspaceError as exc:
        assert str(exc).startswith(f"{path}: cannot read as json") and "z.jpg" in str(exc)
        assert raw_snapshot(good_warehouse) == before
    else:
        assert len(dataset.images) == 25_001 and dataset.images[-1].key == "z.jpg"


def test_cli_rejects_unknown_split_before_reading(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["whatever.json", "--split", "dev"])
    assert info.value.code == 2
    assert "invalid choice: 'dev'" in capsys.readouterr().err


# --- Hugging Face sources ----------------------------------------------------------------------------


@pytest.fixture()
def hf_folder(tmp_path: Path) -> Path:
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "hf_small"
    datasets.DatasetDict({
        "test": datasets.Dataset.from_dict({"image": ["a.jpg", "b.jpg"], "caption": ["ok", ""]}),
        "train": datasets.Dataset.from_dict({"image": ["a.jpg"], "label": [1]}),
    }).save_to_disk(str(folder))
    return folder


@pytest.mark.parametrize(
    ("suffix", "options", "expect"),
    [
        (":validation", {}, ("no split 'validation'", "splits are test, train")),
        (":test", {}, ("row 1 (b.jpg)", "caption 0 is empty")),
        (":train", {}, ("cannot tell which column holds the caption", "image, label")),
    ],
    ids=["unknown split", "empty caption", "no caption column"],
)
def test_bad_hf_dataset(
    hf_folder: Path, good_warehouse: Path, good_rows, raw_snapshot, suffix: str, options: dict[str, str], expect: tuple[str, ...]
) -> None:
    before = good_rows
    spec = f"hf:{hf_folder}{suffix}"
    with pytest.raises(SemspaceError) as info:
        ingest.load(spec, database=good_warehouse, **options)
    message = str(info.value)
    assert message.startswith(f"{spec}: ")
    for fragment in expect:
        assert fragment in message, message
    assert raw_snapshot(good_warehouse) == before


def test_hf_image_data_column_as_the_image_key(tmp_path: Path, good_warehouse: Path, good_rows, raw_snapshot) -> None:
    """An explicit image column that holds pixels (a struct of bytes) is an error, not a key of bytes."""
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "hf_pixels"
    datasets.DatasetDict({"test": datasets.Dataset.from_dict({
        "image": [{"bytes": b"\x89PNG", "path": None}], "caption": ["A cat."],
    }).cast_column("image", datasets.Image())}).save_to_disk(str(folder))
    spec = f"hf:{folder}"
    with pytest.raises(SemspaceError) as info:
        ingest.load(spec, database=good_warehouse, image_col="image")
    message = str(info.value)
    assert message.startswith(f"{spec}: row 0: column 'image' holds dict values"), message
    assert "--image-col" in message
    assert raw_snapshot(good_warehouse) == good_rows


def test_hf_hub_name_offline(good_warehouse: Path, good_rows, raw_snapshot) -> None:
    """A hub name that is not a local folder: offline, the error names it (and nothing is fetched)."""
    before = good_rows
    with pytest.raises(SemspaceError, match=r"^hf:no-such-user/no-such-dataset: cannot load the Hugging Face dataset"):
        ingest.load("hf:no-such-user/no-such-dataset", database=good_warehouse)
    assert raw_snapshot(good_warehouse) == before


# --- a locked warehouse ------------------------------------------------------------------------------


def test_locked_warehouse(tmp_path: Path, good_warehouse: Path, good_rows, write_blip, raw_snapshot, capsys) -> None:
    before = good_rows
    source = write_blip(tmp_path / "gamma.json", BLIP_B)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         'import duckdb, time, sys; c = duckdb.connect(sys.argv[1]); print("ready", flush=True); time.sleep(30)',
         str(good_warehouse)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(SemspaceError) as info:
            ingest.load(source, database=good_warehouse)
        message = str(info.value)
        assert message.startswith(f"{good_warehouse}: ") and "locked by another process" in message
        assert cli.main([str(source), "--db", str(good_warehouse)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"ingest: error: {good_warehouse}: the warehouse is locked") and err.count("\n") == 1
    finally:
        holder.kill()
        holder.wait(timeout=10)
        holder.stdout.close()
    assert raw_snapshot(good_warehouse) == before
    ingest.load(source, database=good_warehouse)  # and it works once the lock is gone
    assert [row[0] for row in raw_snapshot(good_warehouse)["datasets"]] == ["alpha", "beta", "gamma"]


# --- a failure in the middle of the write ------------------------------------------------------------


class FailingConnection:
    """Wraps the real connection; the ``fail_at``-th statement that starts with ``prefix`` raises
    ``error`` instead of running."""

    def __init__(self, con: duckdb.DuckDBPyConnection, prefix: str, fail_at: int, error: BaseException) -> None:
        self._con, self._prefix, self._fail_at, self._error = con, prefix, fail_at, error
        self.seen: list[str] = []

    def execute(self, sql: str, *args: Any) -> Any:
        statement = sql.strip().lower()
        self.seen.append(statement)
        if statement.startswith(self._prefix) and sum(s.startswith(self._prefix) for s in self.seen) == self._fail_at:
            raise self._error
        return self._con.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


@pytest.fixture()
def fail_write(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[FailingConnection]]:
    """``fail_write(prefix, n, error)``: the next ``ingest.load`` gets a connection whose n-th
    ``prefix`` statement (inside ``ingest.writer.write``) raises ``error``."""
    made: list[FailingConnection] = []

    def arm(prefix: str, fail_at: int, error: BaseException) -> list[FailingConnection]:
        real_connect = db.connect

        def connect(*args: Any, **kwargs: Any) -> FailingConnection:
            made.append(FailingConnection(real_connect(*args, **kwargs), prefix, fail_at, error))
            return made[-1]

        monkeypatch.setattr(db, "connect", connect)
        return made

    return arm


@pytest.mark.parametrize("dataset_name", ["alpha", "gamma"], ids=["re-ingest", "new dataset"])
def test_interrupt_between_inserts_changes_nothing(
    tmp_path: Path, good_warehouse: Path, good_rows, write_blip, raw_snapshot, fail_write, dataset_name: str
) -> None:
    before = good_rows
    made = fail_write("insert", 2, KeyboardInterrupt())
    source = write_blip(tmp_path / "new.json", [{"image": "n.jpg", "caption": ["new"]}])
    with pytest.raises(KeyboardInterrupt):
        ingest.load(source, database=good_warehouse, name=dataset_name)
    statements = made[0].seen
    # it did get as far as deleting the old rows and inserting the new images
    assert statements[0].startswith("begin")
    assert sum(s.startswith("delete") for s in statements) == 3
    assert sum(s.startswith("insert") for s in statements) == 2
    assert statements[-1] == "rollback"
    assert raw_snapshot(good_warehouse) == before


def test_interrupt_from_the_command_line(tmp_path: Path, good_warehouse: Path, good_rows, write_blip, raw_snapshot, fail_write, capsys) -> None:
    before = good_rows
    fail_write("insert", 3, KeyboardInterrupt())
    source = write_blip(tmp_path / "alpha.json", BLIP_B)
    assert cli.main([str(source), "--db", str(good_warehouse)]) == 130
    assert capsys.readouterr().err == "ingest: interrupted; the warehouse is unchanged\n"
    assert raw_snapshot(good_warehouse) == before


def test_interrupt_on_a_new_warehouse_leaves_no_tables(tmp_path: Path, warehouse: Path, write_blip, raw_snapshot, fail_write) -> None:
    fail_write("insert", 1, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        ingest.load(write_blip(tmp_path / "a.json", BLIP_A), database=warehouse)
    assert raw_snapshot(warehouse) == {"tables": []}


@pytest.mark.parametrize(
    ("prefix", "fail_at"), [("insert", 2), ("insert", 3), ("commit", 1)], ids=["captions", "datasets", "commit"]
)
def test_database_error_mid_write_is_a_semspace_error(
    tmp_path: Path, good_warehouse: Path, good_rows, write_blip, raw_snapshot, fail_write, prefix: str, fail_at: int
) -> None:
    before = good_rows
    fail_write(prefix, fail_at, duckdb.IOException("IO Error: No space left on device"))
    with pytest.raises(SemspaceError, match=r"^writing dataset 'alpha' failed, nothing was changed: .*No space left"):
        ingest.load(write_blip(tmp_path / "alpha.json", BLIP_B), database=good_warehouse)
    assert raw_snapshot(good_warehouse) == before


def test_failed_commit_that_ended_the_transaction(
    tmp_path: Path, good_warehouse: Path, good_rows, write_blip, raw_snapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A COMMIT that fails has already rolled the transaction back: the writer's own ROLLBACK then
    fails too, and that must not hide the real error behind a DuckDB traceback."""
    before = good_rows
    real_connect = db.connect

    class CommitFails(FailingConnection):
        def execute(self, sql: str, *args: Any) -> Any:
            if sql.strip().lower() == "commit":
                self._con.execute("rollback")
                raise duckdb.TransactionException("TransactionContext Error: Failed to commit: disk full")
            return self._con.execute(sql, *args)

    monkeypatch.setattr(db, "connect", lambda *a, **k: CommitFails(real_connect(*a, **k), "", 0, Exception()))
    with pytest.raises(SemspaceError, match="writing dataset 'alpha' failed, nothing was changed: .*Failed to commit"):
        ingest.load(write_blip(tmp_path / "alpha.json", BLIP_B), database=good_warehouse)
    assert raw_snapshot(good_warehouse) == before


def test_read_errors_happen_before_the_warehouse_is_opened(tmp_path: Path, warehouse: Path, write_blip) -> None:
    with pytest.raises(SemspaceError, match="duplicate image key"):
        ingest.load(write_blip(tmp_path / "dup.json", [BLIP_A[0], BLIP_A[0]]), database=warehouse)
    assert not warehouse.exists() and not warehouse.parent.exists()


def test_warehouse_folder_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    with pytest.raises(SemspaceError, match=r"data/semspace.duckdb: cannot create the warehouse's folder"):
        db.connect(blocker / "semspace.duckdb")
