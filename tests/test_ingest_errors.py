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
    entry = {
        "filepath": "val2014",
        "filename": name,
        "split": split,
        "sentences": [{"raw": "Fine.", "tokens": ["fine"]}] if sentences is None else sentences,
    }
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
    "invalid JSON": Bad(
        "broken.json", b'[{"image": "a.jpg", "caption": ["x"]},\n {"image": ', ("invalid JSON", "line 2")
    ),
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
        "emptystring.json",
        blip(GOOD, {"image": "b.jpg", "caption": ["ok", "  "]}),
        ("record 1 (b.jpg)", "caption 1 is empty"),
    ),
    "caption not a string": Bad(
        "number.json", blip(GOOD, {"image": "b.jpg", "caption": ["ok", 7]}), ("record 1 (b.jpg)", "caption 1 is int")
    ),
    "record not an object": Bad("notobject.json", blip(GOOD, ["b.jpg", "x"]), ("record 1", "expected an object")),
    "duplicate image key": Bad(
        "dup.json",
        blip(GOOD, {"image": "b.jpg", "caption": ["x"]}, GOOD),
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
        "emptycell.csv",
        b"image,caption\na.jpg,dog\nb.jpg,\n",
        ("line 3 (b.jpg)", "missing caption in column 'caption'"),
    ),
    "CSV empty image cell": Bad(
        "emptyimage.csv", b"image,caption\na.jpg,dog\n,cat\n", ("line 3", "missing image in column 'image'")
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
        "duplist.parquet",
        parquet({"image": ["a.jpg", "b.jpg", "a.jpg"], "captions": [["x"], ["y"], ["z"]]}),
        ("row 2 (a.jpg)", "duplicate image key", "first seen at row 0"),
    ),
    "empty caption list in a table": Bad(
        "emptytablelist.parquet",
        parquet({"image": ["a.jpg", "b.jpg"], "captions": [["x"], []]}),
        ("row 1 (b.jpg)", "empty caption list"),
    ),
    "not a Parquet file": Bad("fake.parquet", b"PAR1 but not really", ("cannot read as parquet",)),
    "Karpathy missing sentences": Bad(
        "dataset_coco.json",
        karpathy(k_image("a.jpg"), {"filepath": "val2014", "filename": "b.jpg", "split": "test"}),
        ("record 1", "missing field 'sentences'"),
    ),
    "Karpathy empty raw caption": Bad(
        "dataset_coco.json",
        karpathy(k_image("a.jpg"), k_image("b.jpg", sentences=[{"raw": "", "tokens": []}])),
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
        "captions_val.json",
        coco([{"id": 1}], [{"image_id": 1, "caption": "x"}, {"image_id": 1}]),
        ("annotation 1", "missing field 'caption'"),
    ),
    "COCO image without captions": Bad(
        "captions_val.json",
        coco([{"id": 1}, {"id": 2}], [{"image_id": 1, "caption": "x"}]),
        ("image 1 (id 2)", "empty caption list"),
    ),
    "COCO duplicate image id": Bad(
        "captions_val.json",
        coco([{"id": 1}, {"id": 2}, {"id": 1}], [{"image_id": 1, "caption": "x"}, {"image_id": 2, "caption": "y"}]),
        ("image 2 (id 1)", "duplicate image id 1", "first seen at image 0"),
    ),
    "COCO annotation for an unknown image": Bad(
        "captions_val.json",
        coco([{"id": 1}], [{"image_id": 1, "caption": "x"}, {"image_id": 9, "caption": "y"}]),
        ("image_id 9", "not in 'images'"),
    ),
    "COCO non-integer image id": Bad(
        "captions_val.json",
        coco([{"id": 1}, {"id": "abc"}], [{"image_id": 1, "caption": "x"}]),
        ("image 1", "field 'id' must be an integer id", "'abc'"),
    ),
    "COCO list as annotation image_id": Bad(
        "captions_val.json",
        coco([{"id": 1}], [{"image_id": 1, "caption": "x"}, {"image_id": [1], "caption": "y"}]),
        ("annotation 1", "field 'image_id' must be an integer id", "got [1]"),
    ),
    "Karpathy non-integer cocoid": Bad(
        "dataset_coco.json",
        karpathy(k_image("a.jpg"), k_image("b.jpg", cocoid="b")),
        ("record 1 (b.jpg)", "field 'cocoid' must be an integer id", "'b'"),
    ),
    "table struct caption with string tokens": Bad(
        "tokstr.jsonl",
        b'{"image": "a.jpg", "sentences": {"raw": "A dog.", "tokens": "a dog"}}\n',
        ("line 1 (a.jpg)", "field 'tokens' must be a list"),
    ),
    "unknown table suffix with --format table": Bad(
        "table.txt", b"image,caption\na.jpg,x\n", ("unknown table format '.txt'",), {"fmt": "table"}
    ),
}

# --- hostile and malformed sources (the cases; each was read wrongly or crashed before) ---------


def csv_bytes(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def symlink_loop(path: Path) -> None:
    path.symlink_to(path.name)  # the link points at itself


def dangling_symlink(path: Path) -> None:
    path.symlink_to(path.parent / "gone.json")


def fifo(path: Path) -> None:
    import os

    os.mkfifo(path)


def _compressed(kind: str, data: bytes) -> bytes:
    import bz2
    import gzip
    import lzma

    return {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}[kind](data)


LATE = [f"{i}.jpg,caption {i}" for i in range(30_000)]
LONG = "x" * 10_001

BAD.update(
    {
        # CSV: the dialect is fixed (RFC 4180), checked on the whole file, errors name the line
        "CSV unterminated quote": Bad(
            "unterminated.csv",
            csv_bytes("image,caption", 'a.jpg,"never closed', "b.jpg,fine"),
            ("line 2", "never closed (unterminated quote)"),
        ),
        "CSV unterminated quote after DuckDB's sample": Bad(
            "lateunterminated.csv",
            csv_bytes("image,caption", *LATE, 'z.jpg,"never closed'),
            ("line 30002", "unterminated quote"),
        ),
        "CSV text after a closing quote": Bad(
            "afterquote.csv",
            csv_bytes("image,caption", 'a.jpg,"ab"cd'),
            ("line 2", "text after the closing quote"),
        ),
        "CSV row with too many fields": Bad(
            "toomany.csv",
            csv_bytes("image,caption", "a.jpg,x", "b.jpg,y,z"),
            ("line 3", "3 fields, but the header (line 1) has 2", "double quotes"),
        ),
        "CSV row with too few fields": Bad(
            "toofew.csv",
            csv_bytes("image,caption", "a.jpg,x", "b.jpg"),
            ("line 3", "1 field, but the header (line 1) has 2"),
        ),
        "CSV wrong field count after a quoted line break": Bad(
            "multiline.csv",
            csv_bytes("image,caption", 'a.jpg,"two', 'lines"', "b.jpg,y,z"),
            ("line 4", "3 fields"),
        ),
        "TSV row with too many fields": Bad(
            "pairs.tsv",
            csv_bytes("image\tcaption", "a.jpg\tx\ty"),
            ("line 2", "3 fields", "separator (tab)"),
        ),
        "CSV header names a column twice": Bad(
            "twice.csv",
            csv_bytes("image,caption,caption", "a.jpg,x,y"),
            ("line 1", "the column 'caption' twice"),
        ),
        "CSV without a header": Bad("blank.csv", b"\n\n", ("empty file: no header row",)),
        # captions: at most MAX_CAPTION_CHARS characters, no NUL, no unpaired surrogate
        "caption over the length limit": Bad(
            "long.json",
            blip(GOOD, {"image": "b.jpg", "caption": ["ok", LONG]}),
            ("record 1 (b.jpg)", "caption 1 is 10,001 characters long", "limit of 10,000", "MAX_CAPTION_CHARS"),
        ),
        "CSV caption over the length limit": Bad(
            "long.csv",
            csv_bytes("image,caption", "a.jpg,x", f"b.jpg,{LONG}"),
            ("line 3 (b.jpg)", "10,001 characters"),
        ),
        "Karpathy tokens over the length limit": Bad(
            "dataset_coco.json",
            karpathy(k_image("a.jpg", sentences=[{"raw": "Fine.", "tokens": ["y" * 5001, "z" * 5000]}])),
            ("record 0 (a.jpg)", "the tokens of caption 0 are 10,001 characters long"),
        ),
        "NUL in a caption": Bad(
            "nul.json",
            blip(GOOD, {"image": "b.jpg", "caption": ["a\u0000b"]}),
            ("record 1 (b.jpg)", "caption 0 contains a NUL character (U+0000) at position 1"),
        ),
        "unpaired surrogate in a caption": Bad(
            "surrogate.json",
            b'[{"image": "a.jpg", "caption": ["ok \\ud800 no"]}]',
            ("record 0 (a.jpg)", "caption 0 contains an unpaired surrogate (U+D800)"),
        ),
        "NUL in a CSV image key": Bad(
            "nulkey.csv",
            b"image,caption\na\x00.jpg,x\n",
            ("line 2", "the image key in column 'image' contains a NUL"),
        ),
        "unpaired surrogate in a JSONL image key": Bad(
            "surrogatekey.jsonl",
            b'{"image": "\\udfff.jpg", "caption": "x"}\n',
            ("line 1", "unpaired surrogate (U+DFFF)"),
        ),
        "NUL in a token": Bad(
            "nultoken.jsonl",
            b'{"image": "a.jpg", "sentences": {"raw": "A b.", "tokens": ["a", "b\\u0000"]}}\n',
            ("line 1 (a.jpg)", "a token of caption 0 contains a NUL"),
        ),
        # JSON that Python's json module reads wrongly or not at all
        "JSON object with a repeated key": Bad(
            "repeated.json",
            b'[{"image": "a.jpg", "image": "b.jpg", "caption": ["x"]}]',
            ("invalid JSON", "the key 'image' twice"),
        ),
        "JSONL object with a repeated key": Bad(
            "repeated.jsonl",
            b'{"image": "a.jpg", "caption": "x"}\n{"image": "b.jpg", "caption": "y", "caption": "z"}\n',
            ("line 2", "the key 'caption' twice"),
        ),
        "JSON nested too deeply": Bad(
            "deep.json", b"[" * 100_000 + b"]" * 100_000, ("invalid JSON", "nested too deeply")
        ),
        "JSON number with too many digits": Bad(
            "digits.json",
            b'[{"image": "a.jpg", "caption": ["x"], "n": ' + b"1" * 5000 + b"}]",
            ("invalid JSON", "a number with more than 4300 digits"),
        ),
        "JSONL line that is not an object": Bad(
            "list.jsonl",
            b'{"image": "a.jpg", "caption": "x"}\n["b.jpg", "y"]\n',
            ("line 2 is a JSON list, not an object",),
        ),
        # image ids: a JSON integer or a string of digits without leading zeros is a COCO id, floats refused
        "JSONL float image id": Bad(
            "float.jsonl",
            b'{"image": 1, "caption": "x"}\n{"image": 2.0, "caption": "y"}\n',
            ("line 2", "image id 2.0 in column 'image' is a number with a fraction", "write 2 for the COCO id 2"),
        ),
        "JSONL exponent image id": Bad(
            "exp.jsonl",
            b'{"image": 1e3, "caption": "x"}\n',
            ("line 1", "image id 1000.0", "write 1000 for the COCO id 1000"),
        ),
        "JSONL NaN image id": Bad(
            "nan.jsonl",
            b'{"image": NaN, "caption": "x"}\n',
            ("line 1", "image id nan", "not a finite number", "write an integer"),
        ),
        "JSONL boolean image id": Bad(
            "bool.jsonl", b'{"image": true, "caption": "x"}\n', ("line 1", "the boolean True")
        ),
        "JSONL negative image id": Bad(
            "negative.jsonl", b'{"image": -1, "caption": "x"}\n', ("line 1", "image id -1", "out of range")
        ),
        "JSONL image id over 2^63-1": Bad(
            "huge.jsonl",
            b'{"image": 9223372036854775808, "caption": "x"}\n',
            ("line 1", "out of range"),
        ),
        "Parquet float image column": Bad(
            "floats.parquet",
            parquet({"image": [1.0, 2.5], "caption": ["x", "y"]}),
            ("row 0", "image id 1.0 in column 'image'", "write 1 for the COCO id 1"),
        ),
        "two images with one COCO id": Bad(
            "twoids.jsonl",
            b'{"image": 2, "caption": "x"}\n{"image": "val2014/COCO_val2014_000000000002.jpg", "caption": "y"}\n',
            ("images '2' and 'val2014/COCO_val2014_000000000002.jpg' both have COCO id 2",),
        ),
        "BLIP two paths of one COCO image": Bad(
            "twopaths.json",
            blip(GOOD, {"image": "copy/COCO_val2014_000000000001.jpg", "caption": ["x"]}),
            ("both have COCO id 1", "merge their captions"),
        ),
        "COCO image id with a leading zero": Bad(
            "captions_val.json",
            coco([{"id": "02"}], [{"image_id": 2, "caption": "x"}]),
            ("image 0", "field 'id' must be an integer id", "without leading zeros", "'02'"),
        ),
        "COCO float annotation image_id": Bad(
            "captions_val.json",
            coco([{"id": 1}], [{"image_id": 1.0, "caption": "x"}]),
            ("annotation 0", "field 'image_id' must be an integer id", "got 1.0"),
        ),
        "Karpathy float cocoid": Bad(
            "dataset_coco.json",
            karpathy(k_image("a.jpg", cocoid=5.0)),
            ("record 0 (a.jpg)", "field 'cocoid'", "got 5.0"),
        ),
        "COCO duplicate annotation id": Bad(
            "captions_val.json",
            coco([{"id": 1}], [{"id": 7, "image_id": 1, "caption": "x"}, {"id": 7, "image_id": 1, "caption": "y"}]),
            ("annotation 1", "duplicate annotation id 7", "first seen at annotation 0"),
        ),
        "COCO annotations with and without ids": Bad(
            "captions_val.json",
            coco([{"id": 1}], [{"id": 7, "image_id": 1, "caption": "x"}, {"image_id": 1, "caption": "y"}]),
            ("annotation 1: no 'id', but annotation 0 has one", "give every annotation its id, or none"),
        ),
        "COCO file_name that is not a string": Bad(
            "captions_val.json",
            coco([{"id": 1, "file_name": 7}], [{"image_id": 1, "caption": "x"}]),
            ("image 0 (id 1)", "field 'file_name' must be a string, got int 7"),
        ),
        "Karpathy filename that is not a string": Bad(
            "dataset_coco.json",
            karpathy(k_image(7)),
            ("record 0", "field 'filename' must be a non-empty string, got 7"),
        ),
        # files: say what is actually wrong
        "symbolic link loop": Bad("loop.json", symlink_loop, ("a loop of symbolic links",)),
        "symbolic link loop with a table suffix": Bad("loop.csv", symlink_loop, ("a loop of symbolic links",)),
        "dangling symbolic link": Bad(
            "dangling.json", dangling_symlink, ("a symbolic link to", "gone.json", "which does not exist")
        ),
        "named pipe": Bad("pipe.json", fifo, ("not a regular file (a pipe, socket or device)",)),
        "truncated gzip": Bad(
            "cut.json.gz",
            _compressed("gzip", blip(GOOD))[:-12],
            ("gzip-compressed, but the compressed data is corrupt or truncated",),
        ),
        "gzip of Latin-1 text without .gz": Bad(
            "latin1gz.json",
            _compressed("gzip", b'[{"image": "a.jpg", "caption": ["caf\xe9"]}]'),
            ("not valid UTF-8 at byte 36 of its gzip-decompressed content",),
        ),
        "bzip2 file": Bad(
            "bz.json", _compressed("bzip2", blip(GOOD)), ("bzip2-compressed", "only gzip and zstd are read")
        ),
        "xz file": Bad("xz.json", _compressed("xz", blip(GOOD)), ("xz-compressed",)),
        "zip archive": Bad(
            "zipped.json", b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xff\xfe\x00", ("a zip archive", "unzip it")
        ),
        "gzip of a zip archive": Bad(
            "zipgz.json",
            _compressed("gzip", b"PK\x03\x04\x14\x00\xff"),
            ("gzip-compressed and then a zip archive",),
        ),
        "UTF-16 JSON": Bad("utf16.json", json.dumps([GOOD]).encode("utf-16"), ("UTF-16 text", "re-encode it as UTF-8")),
        "Parquet file without the .parquet suffix": Bad(
            "table.json",
            parquet({"image": ["a.jpg"], "caption": ["x"]}),
            ("a Parquet file; give it the .parquet suffix",),
        ),
    }
)


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
def test_bad_input_raises_and_changes_nothing(
    case: str, tmp_path: Path, good_warehouse: Path, good_rows, raw_snapshot
) -> None:
    bad = BAD[case]
    path = make(tmp_path, bad)
    before = good_rows
    assert before["tables"] == ["captions", "datasets", "images", "lexicon"] and len(before["images"]) == 5
    assert before["lexicon"]  # the words of both datasets: the comparison below checks it stays as it is
    # the same name as a dataset already there: a failed re-ingest must not delete it either
    with pytest.raises(SemspaceError) as info:
        ingest.load(path, database=good_warehouse, name="alpha", **bad.options)
    check_message(str(info.value), path, bad)
    assert raw_snapshot(good_warehouse) == before


CLI_BAD = [case for case, bad in BAD.items() if bad.options.get("split", "test") in ("test", "val", "train", "restval")]


@pytest.mark.parametrize("case", CLI_BAD, ids=CLI_BAD)
def test_bad_input_from_the_command_line(
    case: str, tmp_path: Path, good_warehouse: Path, good_rows, raw_snapshot, capsys
) -> None:
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


def test_table_column_type_change_after_duckdbs_sample(
    tmp_path: Path, good_warehouse: Path, good_rows, raw_snapshot
) -> None:
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
    datasets.DatasetDict(
        {
            "test": datasets.Dataset.from_dict({"image": ["a.jpg", "b.jpg"], "caption": ["ok", ""]}),
            "train": datasets.Dataset.from_dict({"image": ["a.jpg"], "label": [1]}),
        }
    ).save_to_disk(str(folder))
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
    hf_folder: Path,
    good_warehouse: Path,
    good_rows,
    raw_snapshot,
    suffix: str,
    options: dict[str, str],
    expect: tuple[str, ...],
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
    datasets.DatasetDict(
        {
            "test": datasets.Dataset.from_dict(
                {
                    "image": [{"bytes": b"\x89PNG", "path": None}],
                    "caption": ["A cat."],
                }
            ).cast_column("image", datasets.Image())
        }
    ).save_to_disk(str(folder))
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
        [
            sys.executable,
            "-c",
            'import duckdb, time, sys; c = duckdb.connect(sys.argv[1]); print("ready", flush=True); time.sleep(30)',
            str(good_warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
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
    assert sum(s.startswith("delete from raw.") for s in statements) == 3
    # a re-ingest with other captions also deletes the old captions' computed rows (rolled back too)
    assert sum(s.startswith("delete from computed.") for s in statements) == (4 if dataset_name == "alpha" else 0)
    assert sum(s.startswith("insert") for s in statements) == 2
    assert statements[-1] == "rollback"
    assert raw_snapshot(good_warehouse) == before


def test_interrupt_from_the_command_line(
    tmp_path: Path, good_warehouse: Path, good_rows, write_blip, raw_snapshot, fail_write, capsys
) -> None:
    before = good_rows
    fail_write("insert", 3, KeyboardInterrupt())
    source = write_blip(tmp_path / "alpha.json", BLIP_B)
    assert cli.main([str(source), "--db", str(good_warehouse)]) == 130
    assert capsys.readouterr().err == "ingest: interrupted; the warehouse is unchanged\n"
    assert raw_snapshot(good_warehouse) == before


def test_interrupt_on_a_new_warehouse_leaves_no_tables(
    tmp_path: Path, warehouse: Path, write_blip, raw_snapshot, fail_write
) -> None:
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


# --- dataset names: one rule (semspace.names), checked before anything is read or written ----------

BAD_NAMES = {
    "empty": ("", "--dataset must not be empty"),
    "blank": ("  ", "--dataset must not be empty or blank"),
    "uppercase": ("Coco", "the uppercase letter 'C'"),
    "a derived corpus's name": ("coco-nostop", "ends in '-nostop', the name of the derived corpus of 'coco'"),
    "slash": ("a/b", "the character '/'"),
    "space": ("my data", "the character ' '"),
    "quote": ("x'y", 'the character "\'"'),
    "semicolon and comment": ("x;--", "the character ';'"),
    "leading dash": ("-x", "starts with '-'"),
    "trailing dot": ("x.", "ends with '.'"),
    "dot": (".", "starts with '.'"),
    "dot dot": ("..", "starts with '.'"),
    "non-ASCII letter": ("café", "the character 'é'"),
    "NUL": ("a\x00b", "the character '\\x00'"),
    "65 characters": ("a" * 65, "65 characters long, over 64"),
}


@pytest.mark.parametrize("case", list(BAD_NAMES), ids=list(BAD_NAMES))
def test_invalid_dataset_name_is_refused(
    case: str, tmp_path: Path, good_warehouse: Path, good_rows, write_blip, raw_snapshot, capsys
) -> None:
    """`--dataset ""` used to fall back to the default name (`coco`, or the file's stem) and replace
    that dataset; every name outside the rule is now refused before the source is even read."""
    name, fragment = BAD_NAMES[case]
    source = write_blip(tmp_path / "alpha.json", BLIP_B)  # the default name would replace alpha
    with pytest.raises(SemspaceError) as info:
        ingest.load(source, database=good_warehouse, name=name)
    message = str(info.value)
    assert fragment in message and "a name is 1-64 characters" in message and "\n" not in message, message
    assert raw_snapshot(good_warehouse) == good_rows
    if "\x00" not in name:  # argv cannot carry a NUL
        assert cli.main([str(source), "--db", str(good_warehouse), f"--dataset={name}"]) == 1
        out, err = capsys.readouterr()
        assert out == "" and err.startswith("ingest: error: --dataset") and err.count("\n") == 1, err
        assert raw_snapshot(good_warehouse) == good_rows


def test_invalid_dataset_name_is_refused_for_a_missing_file_too(good_warehouse: Path) -> None:
    with pytest.raises(SemspaceError, match="^--dataset must not be empty"):
        ingest.load("/nonexistent/x.json", database=good_warehouse, name="")


@pytest.mark.parametrize(
    ("file", "fragment"),
    [
        (
            "日本.json",
            "cannot make a dataset name from '日本.json' (it has no letter or digit a-z 0-9); pass --dataset NAME",
        ),
        ("___.csv", "cannot make a dataset name from '___.csv'"),
        ("x" * 70 + ".json", "is not a valid name: it is 70 characters long, over 64"),
    ],
    ids=["no ASCII letter", "only separators", "too long"],
)
def test_file_name_that_gives_no_valid_dataset_name(
    file: str, fragment: str, tmp_path: Path, good_warehouse: Path, good_rows, raw_snapshot
) -> None:
    """The default name comes from the file's stem; where that gives no valid name the old code fell
    back to `dataset` (two such files replaced each other) or wrote an overlong name: refused now."""
    source = tmp_path / file
    if source.suffix == ".csv":
        source.write_text("image,caption\na.jpg,x\n")
    else:
        source.write_text(json.dumps([GOOD]))
    with pytest.raises(SemspaceError) as info:
        ingest.load(source, database=good_warehouse)
    assert str(info.value).startswith(f"{source}: ") and fragment in str(info.value), str(info.value)
    assert "pass --dataset NAME" in str(info.value)
    assert raw_snapshot(good_warehouse) == good_rows
    ingest.load(source, database=good_warehouse, name="fine")  # an explicit name is the way out
    assert [r[0] for r in raw_snapshot(good_warehouse)["datasets"]] == ["alpha", "beta", "fine"]


# --- zstd without the zstandard module ----------------------------------------------------------------


def _zstd_file(path: Path) -> Path:
    """A zstd-compressed CSV written by DuckDB (no Python zstd module needed)."""
    written = path.with_name(path.name + ".zst")
    with duckdb.connect() as con:
        con.execute(
            f"copy (select 'a.jpg' as image, 'A zstd caption.' as caption) to '{written}' "
            "(format csv, header true, compression zstd)"
        )
    written.rename(path)
    return path


def test_zstd_without_the_zstandard_module(
    tmp_path: Path, good_warehouse: Path, good_rows, raw_snapshot, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    source = _zstd_file(tmp_path / "pairs.csv")  # no .zst suffix: the magic bytes tell
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import zstandard raises ImportError
    with pytest.raises(SemspaceError) as info:
        ingest.load(source, database=good_warehouse)
    message = str(info.value)
    assert message.startswith(f"{source}: zstd-compressed, and the Python module zstandard is not installed")
    assert "pip install zstandard" in message and f"zstd -d {source}" in message
    assert raw_snapshot(good_warehouse) == good_rows
    assert cli.main([str(source), "--db", str(good_warehouse)]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_a_file_where_a_folder_should_be(tmp_path: Path, good_warehouse: Path) -> None:
    (tmp_path / "file.json").write_text("[]")
    with pytest.raises(SemspaceError, match=r"file.json/x.json: no such file \(a part of the path"):
        ingest.load(tmp_path / "file.json" / "x.json", database=good_warehouse)


# --- names that clash with what the warehouse holds, and datasets with association runs ----------------


def _run(database: Path, dataset: str, run_id: str, tokens: bool = True) -> None:
    """A one-round association run of ``dataset`` (fake backend), with one token row."""
    import generate
    from generate import store
    from generate.chain import RunPlan
    from tests.generate_helpers import FakeBackend

    generate.run(
        RunPlan(dataset=dataset, model="m", rounds=1, run_id=run_id, tokenize=False),
        database=database,
        backend=FakeBackend(),
    )
    if tokens:
        with duckdb.connect(str(database)) as con:
            store.replace_tokens(con, run_id, dataset, [0], ["tok"], "fake", "test")


def _run_rows(database: Path) -> dict[str, list[tuple[Any, ...]]]:
    with duckdb.connect(str(database), read_only=True) as con:
        return {
            table: con.execute(f"select distinct run_id, dataset from raw.{table} order by all").fetchall()
            for table in ("association_runs", "associations", "association_tokens")
        }


def test_reingest_of_a_dataset_with_runs_is_refused(
    tmp_path: Path, good_warehouse: Path, write_blip, raw_snapshot, capsys
) -> None:
    """Re-ingesting alpha with other captions used to leave run r1's chains pointing at captions
    that were gone (and at other images under the same ids). Refused now, naming the runs and the fix."""
    _run(good_warehouse, "alpha", "r1")
    _run(good_warehouse, "alpha", "r2")
    before = raw_snapshot(good_warehouse)
    source = write_blip(tmp_path / "alpha.json", BLIP_B)
    with pytest.raises(SemspaceError) as info:
        ingest.load(source, database=good_warehouse)
    message = str(info.value)
    assert message.startswith("dataset 'alpha' has association runs made from its current captions ('r1', 'r2')")
    assert "--replace-runs" in message and "another --dataset name" in message
    assert raw_snapshot(good_warehouse) == before
    assert cli.main([str(source), "--db", str(good_warehouse)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ingest: error: dataset 'alpha' has association runs") and err.count("\n") == 1
    assert raw_snapshot(good_warehouse) == before


def test_reingest_of_the_same_captions_keeps_the_runs(tmp_path: Path, good_warehouse: Path, write_blip) -> None:
    """The same images and captions again (another file, another format): the runs still describe
    them, so no flag is needed and they stay."""
    _run(good_warehouse, "alpha", "r1")
    runs = _run_rows(good_warehouse)
    lines = ["image,caption"] + [f'{r["image"]},"{c}"' for r in BLIP_A for c in r["caption"]]
    (tmp_path / "alpha.csv").write_text("\n".join(lines) + "\n")
    dataset = ingest.load(tmp_path / "alpha.csv", database=good_warehouse)
    assert dataset.format == "csv" and dataset.dropped_runs == []
    assert _run_rows(good_warehouse) == runs


def test_replace_runs_deletes_the_runs_of_that_dataset_only(
    tmp_path: Path, good_warehouse: Path, write_blip, raw_snapshot, capsys
) -> None:
    _run(good_warehouse, "alpha", "r1")
    _run(good_warehouse, "beta", "b1")
    source = write_blip(tmp_path / "alpha.json", BLIP_B)
    assert cli.main([str(source), "--db", str(good_warehouse), "--replace-runs"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "deleted the association runs of the old captions of 'alpha' (--replace-runs): 'r1'"
    assert _run_rows(good_warehouse) == {
        t: [("b1", "beta")] for t in ("association_runs", "associations", "association_tokens")
    }
    snapshot = raw_snapshot(good_warehouse)
    assert sorted(r[2] for r in snapshot["images"] if r[0] == "alpha") == ["photos/b1.jpg", "photos/b2.jpg"]


def test_interrupted_replace_runs_changes_nothing(
    tmp_path: Path, good_warehouse: Path, write_blip, raw_snapshot, fail_write
) -> None:
    _run(good_warehouse, "alpha", "r1")
    before = raw_snapshot(good_warehouse)
    made = fail_write("insert", 1, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        ingest.load(write_blip(tmp_path / "alpha.json", BLIP_B), database=good_warehouse, replace_runs=True)
    assert sum(s.startswith("delete from raw.association") for s in made[0].seen) == 3  # the runs were deleted ...
    assert made[0].seen[-1] == "rollback"
    assert raw_snapshot(good_warehouse) == before  # ... and came back with the rollback


def test_dataset_named_like_a_run_is_refused(tmp_path: Path, good_warehouse: Path, write_blip, raw_snapshot) -> None:
    _run(good_warehouse, "alpha", "gamma")
    before = raw_snapshot(good_warehouse)
    with pytest.raises(SemspaceError) as info:
        ingest.load(write_blip(tmp_path / "gamma.json", BLIP_B), database=good_warehouse)
    assert str(info.value).startswith("--dataset 'gamma' clashes with the association run 'gamma'")
    assert "another --dataset name" in str(info.value)
    assert raw_snapshot(good_warehouse) == before


def test_dataset_whose_variant_is_named_like_an_older_run(
    tmp_path: Path, good_warehouse: Path, write_blip, raw_snapshot
) -> None:
    """A run id from before the rule that ends in -nostop ('delta-nostop') is the derived name of a
    dataset 'delta': ingesting 'delta' would give two corpora of that name."""
    _run(good_warehouse, "alpha", "r1", tokens=False)
    with duckdb.connect(str(good_warehouse)) as con:
        con.execute("update raw.association_runs set run_id = 'delta-nostop'")
        con.execute("update raw.associations set run_id = 'delta-nostop'")
    before = raw_snapshot(good_warehouse)
    with pytest.raises(SemspaceError, match=r"^--dataset 'delta' clashes with the association run 'delta-nostop'"):
        ingest.load(write_blip(tmp_path / "delta.json", BLIP_B), database=good_warehouse)
    assert raw_snapshot(good_warehouse) == before
