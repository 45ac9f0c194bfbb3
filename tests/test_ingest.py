"""`ingest`: every caption format into raw.datasets / raw.images / raw.captions, dataset replacement,
the default source (shared COCO split, $SEMSPACE_CAPTIONS, download) and the command line."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ingest
import ingest.__main__ as cli
import ingest.sources
from semspace.errors import SemspaceError
from tests.conftest import BLIP_A, BLIP_B, REPO_ROOT, coco_file

pytestmark = pytest.mark.usefixtures("ingest_env")

SHARED_FILE = REPO_ROOT.parent / "shared" / "data" / "coco_karpathy_test.json"


def images(database: Path, dataset: str) -> list[tuple[Any, ...]]:
    """(image_id, image_key, coco_id, file_name, url) of a dataset, by image_id."""
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(
            "select image_id, image_key, coco_id, file_name, url from raw.images where dataset = ? order by image_id",
            [dataset],
        ).fetchall()


def captions(database: Path, dataset: str) -> list[tuple[Any, ...]]:
    """(image_id, caption_index, caption, tokens) of a dataset, in order."""
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(
            "select image_id, caption_index, caption, tokens from raw.captions where dataset = ? "
            "order by image_id, caption_index",
            [dataset],
        ).fetchall()


def captions_by_image(database: Path, dataset: str) -> list[list[str]]:
    grouped: dict[int, list[str]] = {}
    for image_id, index, caption, _ in captions(database, dataset):
        assert index == len(grouped.setdefault(image_id, []))
        grouped[image_id].append(caption)
    assert list(grouped) == list(range(len(grouped)))
    return list(grouped.values())


def dataset_row(database: Path, dataset: str) -> tuple[Any, ...] | None:
    """(source, format, n_images, n_captions) of a dataset."""
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(
            "select source, format, n_images, n_captions from raw.datasets where dataset = ?", [dataset]
        ).fetchall()
    assert len(rows) <= 1
    return rows[0] if rows else None


def dataset_names(database: Path) -> list[str]:
    with duckdb.connect(str(database), read_only=True) as con:
        names = {
            table: sorted({row[0] for row in con.execute(f"select dataset from raw.{table}").fetchall()})
            for table in ("datasets", "images", "captions")
        }
    assert names["datasets"] == names["images"] == names["captions"]
    return names["datasets"]


# --- ALBEF/BLIP list ---------------------------------------------------------------------------------


def test_blip_list(tmp_path: Path, warehouse: Path, write_blip) -> None:
    source = write_blip(tmp_path / "albef_val.json", BLIP_A)
    dataset = ingest.load(source, database=warehouse)
    assert (dataset.name, dataset.format, len(dataset.images), dataset.n_captions) == ("albef_val", "blip", 3, 6)
    assert images(warehouse, "albef_val") == [
        (
            0,
            "val2014/COCO_val2014_000000391895.jpg",
            391895,
            "COCO_val2014_000000391895.jpg",
            "http://images.cocodataset.org/val2014/COCO_val2014_000000391895.jpg",
        ),
        (
            1,
            "val2014/COCO_val2014_000000522418.jpg",
            522418,
            "COCO_val2014_000000522418.jpg",
            "http://images.cocodataset.org/val2014/COCO_val2014_000000522418.jpg",
        ),
        (
            2,
            "val2014/COCO_val2014_000000184613.jpg",
            184613,
            "COCO_val2014_000000184613.jpg",
            "http://images.cocodataset.org/val2014/COCO_val2014_000000184613.jpg",
        ),
    ]
    assert captions(warehouse, "albef_val") == [
        (0, 0, "A man rides a bike.", None),
        (0, 1, "A person on a bicycle.", None),
        (1, 0, "A woman cuts a cake.", None),
        (2, 0, "A boy holds an umbrella.", None),
        (2, 1, "Cows in a field.", None),
        (2, 2, "Rain.", None),
    ]
    assert dataset_row(warehouse, "albef_val") == (str(source), "blip", 3, 6)


def test_blip_non_coco_names_and_single_caption_string(tmp_path: Path, warehouse: Path, write_blip) -> None:
    source = write_blip(
        tmp_path / "flickr.json",
        [
            {"image": "flickr30k-images/1000092795.jpg", "caption": "Two young guys with shaggy hair."},
            {"image": coco_file(9, "train2014"), "caption": ["A plate of food."]},
        ],
    )
    ingest.load(source, database=warehouse, name="mixed")
    assert images(warehouse, "mixed") == [
        (0, "flickr30k-images/1000092795.jpg", None, "1000092795.jpg", None),
        (
            1,
            "train2014/COCO_train2014_000000000009.jpg",
            9,
            "COCO_train2014_000000000009.jpg",
            "http://images.cocodataset.org/train2014/COCO_train2014_000000000009.jpg",
        ),
    ]
    assert captions_by_image(warehouse, "mixed") == [["Two young guys with shaggy hair."], ["A plate of food."]]


# --- replacing a dataset -----------------------------------------------------------------------------


def test_reingest_replaces_only_that_dataset(tmp_path: Path, warehouse: Path, write_blip, raw_snapshot) -> None:
    ingest.load(write_blip(tmp_path / "v1" / "alpha.json", BLIP_A), database=warehouse)
    ingest.load(write_blip(tmp_path / "v1" / "beta.json", BLIP_B), database=warehouse)
    assert dataset_names(warehouse) == ["alpha", "beta"]
    before = raw_snapshot(warehouse)
    assert before["tables"] == ["captions", "datasets", "images", "lexicon"]
    beta_before = {k: [r for r in before[k] if r[0] == "beta"] for k in ("captions", "datasets", "images")}
    assert [len(rows) for rows in beta_before.values()] == [3, 1, 2]  # captions, datasets, images
    assert before["lexicon"]  # the words of both datasets

    new_alpha = [{"image": "other/x.jpg", "caption": ["Replacement caption."]}]
    ingest.load(write_blip(tmp_path / "v2" / "alpha.json", new_alpha), database=warehouse)

    assert dataset_names(warehouse) == ["alpha", "beta"]
    assert images(warehouse, "alpha") == [(0, "other/x.jpg", None, "x.jpg", None)]
    assert captions(warehouse, "alpha") == [(0, 0, "Replacement caption.", None)]
    assert dataset_row(warehouse, "alpha") == (str(tmp_path / "v2" / "alpha.json"), "blip", 1, 1)
    after = raw_snapshot(warehouse)
    assert after["tables"] == before["tables"]
    beta_after = {k: [r for r in after[k] if r[0] == "beta"] for k in ("captions", "datasets", "images")}
    assert beta_after == beta_before  # every column, ingested_at included
    # the lexicon is shared by all datasets and only grows: the old alpha's words stay, the new one's are added
    assert set(before["lexicon"]) < set(after["lexicon"])
    assert {"replacement"} == {r[0] for r in after["lexicon"]} - {r[0] for r in before["lexicon"]}


def test_reingest_under_an_explicit_name(tmp_path: Path, warehouse: Path, write_blip) -> None:
    ingest.load(write_blip(tmp_path / "a.json", BLIP_A), database=warehouse, name="shared")
    ingest.load(write_blip(tmp_path / "b.json", BLIP_B), database=warehouse, name="shared")
    assert dataset_names(warehouse) == ["shared"]
    assert [row[1] for row in images(warehouse, "shared")] == ["photos/b1.jpg", "photos/b2.jpg"]


# --- Karpathy dataset_coco.json ----------------------------------------------------------------------


def karpathy_image(cocoid: int, split: str, *sentences: str, folder: str = "val2014") -> dict[str, Any]:
    return {
        "filepath": folder,
        "filename": f"COCO_{folder}_{cocoid:012d}.jpg",
        "cocoid": cocoid,
        "split": split,
        "sentences": [{"raw": s, "tokens": s.lower().rstrip(".").split()} for s in sentences],
    }


KARPATHY = {
    "dataset": "coco",
    "images": [
        karpathy_image(11, "train", "Train one.", folder="train2014"),
        karpathy_image(22, "test", "Test two a.", "Test two b."),
        karpathy_image(33, "val", "Val three."),
        karpathy_image(44, "restval", "Restval four."),
        karpathy_image(55, "test", "Test five."),
        karpathy_image(66, "train", "Train six.", "Train six b.", folder="train2014"),
        karpathy_image(77, "test", "Test seven."),
        karpathy_image(88, "restval", "Restval eight."),
    ],
}


@pytest.mark.parametrize(
    ("split", "expected_ids"),
    [("test", [22, 55, 77]), ("val", [33]), ("train", [11, 66]), ("restval", [44, 88])],
)
def test_karpathy_split(tmp_path: Path, warehouse: Path, split: str, expected_ids: list[int]) -> None:
    source = tmp_path / "dataset_coco.json"
    source.write_text(json.dumps(KARPATHY))
    dataset = ingest.load(source, database=warehouse, split=split)
    name = f"dataset_coco_{split}"
    assert (dataset.name, dataset.format) == (name, "karpathy")
    rows = images(warehouse, name)
    assert [row[2] for row in rows] == expected_ids
    assert [row[0] for row in rows] == list(range(len(expected_ids)))
    entries = {entry["cocoid"]: entry for entry in KARPATHY["images"]}
    expected_captions = []
    for image_id, cocoid in enumerate(expected_ids):
        entry = entries[cocoid]
        folder = entry["filepath"]
        assert rows[image_id][1:] == (
            f"{folder}/{entry['filename']}",
            cocoid,
            entry["filename"],
            f"http://images.cocodataset.org/{folder}/{entry['filename']}",
        )
        for k, sentence in enumerate(entry["sentences"]):
            expected_captions.append((image_id, k, sentence["raw"], sentence["tokens"]))
    assert captions(warehouse, name) == expected_captions
    assert dataset_row(warehouse, name) == (str(source), "karpathy", len(expected_ids), len(expected_captions))


def test_karpathy_tokens_are_the_sources_own(tmp_path: Path, warehouse: Path) -> None:
    """Tokens come from the file, not from re-tokenizing the raw caption."""
    entry = karpathy_image(5, "test", "A Dog's day.")
    entry["sentences"][0]["tokens"] = ["a", "dogs", "day"]
    source = tmp_path / "karpathy.json"
    source.write_text(json.dumps({"images": [entry]}))
    ingest.load(source, database=warehouse, fmt="karpathy", name="k")
    assert captions(warehouse, "k") == [(0, 0, "A Dog's day.", ["a", "dogs", "day"])]


def test_karpathy_split_from_the_command_line(tmp_path: Path, warehouse: Path, capsys) -> None:
    source = tmp_path / "dataset_coco.json"
    source.write_text(json.dumps(KARPATHY))
    assert cli.main([str(source), "--split", "val", "--db", str(warehouse)]) == 0
    assert dataset_names(warehouse) == ["dataset_coco_val"]
    out = capsys.readouterr().out
    assert "'dataset_coco_val' (karpathy)" in out and "1 images, 1 captions" in out


# --- COCO captions_*.json ----------------------------------------------------------------------------


def test_coco_captions(tmp_path: Path, warehouse: Path) -> None:
    data = {
        "info": {},
        "licenses": [],
        "images": [
            {
                "id": 30,
                "file_name": "COCO_val2014_000000000030.jpg",
                "coco_url": "http://images.cocodataset.org/val2014/COCO_val2014_000000000030.jpg",
            },
            {"id": 10, "file_name": "COCO_val2014_000000000010.jpg"},
            {"id": 20, "file_name": "COCO_val2014_000000000020.jpg"},
        ],
        "annotations": [
            {"id": 1, "image_id": 10, "caption": "ten first"},
            {"id": 2, "image_id": 20, "caption": "twenty first"},
            {"id": 3, "image_id": 30, "caption": "thirty first"},
            {"id": 4, "image_id": 10, "caption": "ten second"},
            {"id": 5, "image_id": 30, "caption": "thirty second"},
            {"id": 6, "image_id": 10, "caption": "ten third"},
        ],
    }
    source = tmp_path / "captions_val2014.json"
    source.write_text(json.dumps(data))
    dataset = ingest.load(source, database=warehouse)
    assert (dataset.name, dataset.format) == ("captions_val2014", "coco")
    url = "http://images.cocodataset.org/val2014/COCO_val2014_{:012d}.jpg"
    assert images(warehouse, "captions_val2014") == [
        (0, "30", 30, "COCO_val2014_000000000030.jpg", url.format(30)),
        (1, "10", 10, "COCO_val2014_000000000010.jpg", url.format(10)),
        (2, "20", 20, "COCO_val2014_000000000020.jpg", url.format(20)),
    ]
    assert captions_by_image(warehouse, "captions_val2014") == [
        ["thirty first", "thirty second"],
        ["ten first", "ten second", "ten third"],
        ["twenty first"],
    ]


# --- tables: CSV / Parquet / JSONL -------------------------------------------------------------------

# One caption per row; images grouped in order of first appearance.
ROWS = [
    ("img/b.jpg", "b one"),
    ("img/a.jpg", "a one"),
    ("img/b.jpg", "b two"),
    ("img/c.jpg", "c one"),
    ("img/a.jpg", "a two"),
    ("img/b.jpg", "b three, with a comma"),
]
GROUPED_KEYS = ["img/b.jpg", "img/a.jpg", "img/c.jpg"]
GROUPED_CAPTIONS = [["b one", "b two", "b three, with a comma"], ["a one", "a two"], ["c one"]]


def write_table(path: Path, columns: dict[str, list[Any]]) -> Path:
    suffix = path.suffix
    if suffix == ".parquet":
        pq.write_table(pa.table(columns), path)
    elif suffix == ".jsonl":
        names = list(columns)
        lines = [json.dumps(dict(zip(names, values))) for values in zip(*columns.values())]
        path.write_text("\n".join(lines) + "\n")
    else:
        assert all(isinstance(v, str) for values in columns.values() for v in values)
        sep = "\t" if suffix == ".tsv" else ","

        def cell(value: str) -> str:
            return '"' + value.replace('"', '""') + '"' if (sep in value or '"' in value) else value

        lines = [sep.join(columns)] + [sep.join(cell(v) for v in values) for values in zip(*columns.values())]
        path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".jsonl"])
def test_table_one_caption_per_row_auto_columns(tmp_path: Path, warehouse: Path, suffix: str) -> None:
    source = write_table(
        tmp_path / f"pairs{suffix}",
        {
            "row_id": [str(i) for i in range(len(ROWS))],
            "caption": [c for _, c in ROWS],
            "image": [i for i, _ in ROWS],
        },
    )
    dataset = ingest.load(source, database=warehouse)
    assert dataset.name == "pairs"
    assert dataset.format == {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".jsonl": "json"}[suffix]
    assert images(warehouse, "pairs") == [(k, key, None, Path(key).name, None) for k, key in enumerate(GROUPED_KEYS)]
    assert captions_by_image(warehouse, "pairs") == GROUPED_CAPTIONS
    assert dataset_row(warehouse, "pairs")[2:] == (3, 6)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_table_explicit_columns(tmp_path: Path, warehouse: Path, suffix: str) -> None:
    # Decoy columns that auto-detection would pick: the explicit names must win.
    source = write_table(
        tmp_path / f"explicit{suffix}",
        {
            "image": ["decoy"] * len(ROWS),
            "caption": ["decoy caption"] * len(ROWS),
            "picture path": [i for i, _ in ROWS],
            "text_en": [c for _, c in ROWS],
        },
    )
    ingest.load(source, database=warehouse, image_col="picture path", caption_col="text_en")
    assert [row[1] for row in images(warehouse, "explicit")] == GROUPED_KEYS
    assert captions_by_image(warehouse, "explicit") == GROUPED_CAPTIONS


def test_table_explicit_columns_from_the_command_line(tmp_path: Path, warehouse: Path) -> None:
    source = write_table(
        tmp_path / "cli.csv",
        {
            "picture": [i for i, _ in ROWS],
            "text_en": [c for _, c in ROWS],
        },
    )
    assert (
        cli.main(
            [
                str(source),
                "--image-col",
                "picture",
                "--caption-col",
                "text_en",
                "--dataset",
                "from_cli",
                "--db",
                str(warehouse),
            ]
        )
        == 0
    )
    assert captions_by_image(warehouse, "from_cli") == GROUPED_CAPTIONS


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_table_list_of_captions_column(tmp_path: Path, warehouse: Path, suffix: str) -> None:
    source = write_table(
        tmp_path / f"lists{suffix}",
        {
            "file_name": ["z.jpg", "COCO_val2014_000000000042.jpg", "m.jpg"],
            "captions": [["z one", "z two"], ["forty-two"], ["m one", "m two", "m three"]],
        },
    )
    ingest.load(source, database=warehouse)
    assert images(warehouse, "lists") == [
        (0, "z.jpg", None, "z.jpg", None),
        (
            1,
            "COCO_val2014_000000000042.jpg",
            42,
            "COCO_val2014_000000000042.jpg",
            "http://images.cocodataset.org/val2014/COCO_val2014_000000000042.jpg",
        ),
        (2, "m.jpg", None, "m.jpg", None),
    ]
    assert captions_by_image(warehouse, "lists") == [["z one", "z two"], ["forty-two"], ["m one", "m two", "m three"]]


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_table_struct_caption_column(tmp_path: Path, warehouse: Path, suffix: str) -> None:
    """One row per caption with a ``sentences: {raw, tokens}`` struct, like HuggingFaceM4/COCO."""
    source = write_table(
        tmp_path / f"structs{suffix}",
        {
            "cocoid": [7, 3, 7],
            "sentences": [
                {"raw": "A red bus.", "tokens": ["a", "red", "bus"], "sentid": 1},
                {"raw": "Two dogs.", "tokens": ["two", "dogs"], "sentid": 2},
                {"raw": "A bus, parked.", "tokens": ["a", "bus", "parked"], "sentid": 3},
            ],
        },
    )
    ingest.load(source, database=warehouse)
    assert images(warehouse, "structs") == [(0, "7", 7, None, None), (1, "3", 3, None, None)]
    assert captions(warehouse, "structs") == [
        (0, 0, "A red bus.", ["a", "red", "bus"]),
        (0, 1, "A bus, parked.", ["a", "bus", "parked"]),
        (1, 0, "Two dogs.", ["two", "dogs"]),
    ]


def test_jsonl_mixed_value_types_are_values_not_json_text(tmp_path: Path, warehouse: Path) -> None:
    """DuckDB reads a JSON column of mixed types as JSON text: the caption must not keep its quotes,
    nor a string image key its quotes."""
    source = tmp_path / "mixed.jsonl"
    source.write_text(
        "\n".join(
            json.dumps(row)
            for row in [
                {"image": 7, "caption": ["seven a", "seven b"]},
                {"image": "b.jpg", "caption": "b one"},
                {"image": "b.jpg", "caption": "b two"},
            ]
        )
        + "\n"
    )
    ingest.load(source, database=warehouse)
    assert [row[1:3] for row in images(warehouse, "mixed")] == [("7", 7), ("b.jpg", None)]
    assert captions_by_image(warehouse, "mixed") == [["seven a", "seven b"], ["b one", "b two"]]


def test_table_struct_tokens_are_stored_as_text(tmp_path: Path, warehouse: Path) -> None:
    source = write_table(
        tmp_path / "numtok.parquet",
        {
            "image": ["a.jpg"],
            "sentences": [{"raw": "Route 66.", "tokens": [66, 1]}],
        },
    )
    ingest.load(source, database=warehouse)
    assert captions(warehouse, "numtok") == [(0, 0, "Route 66.", ["66", "1"])]


def test_csv_cells_are_kept_as_text(tmp_path: Path, warehouse: Path) -> None:
    """An image column whose first 30000 values look like integers still reads when later values do
    not (no type sniffing from a sample), and a zero-padded id there stays as written: an image key,
    not a COCO id (the id rule: digits without leading zeros)."""
    n = 30_000
    lines = ["image,caption"] + [f"{i},caption {i}" for i in range(n)] + ["007,zero padded", "later.jpg,the last one"]
    source = tmp_path / "wide.csv"
    source.write_text("\n".join(lines) + "\n")
    dataset = ingest.load(source, database=warehouse)
    assert len(dataset.images) == n + 2
    rows = images(warehouse, "wide")
    assert rows[:2] == [(0, "0", 0, None, None), (1, "1", 1, None, None)]
    assert rows[n:] == [(n, "007", None, None, None), (n + 1, "later.jpg", None, "later.jpg", None)]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "select image_id, caption from raw.captions where dataset = 'wide' and image_id >= ? order by image_id",
            [n - 1],
        ).fetchall() == [(n - 1, f"caption {n - 1}"), (n, "zero padded"), (n + 1, "the last one")]


def test_csv_numeric_captions_are_captions(tmp_path: Path, warehouse: Path) -> None:
    source = tmp_path / "years.csv"
    source.write_text("image,caption\na.jpg,1984\nb.jpg,2001\na.jpg,0.5\n")
    ingest.load(source, database=warehouse)
    assert captions_by_image(warehouse, "years") == [["1984", "0.5"], ["2001"]]


# --- the CSV/TSV dialect (RFC 4180, on the whole file) ---------------------------------------------


def test_csv_first_quoted_field_after_duckdbs_sample(tmp_path: Path, warehouse: Path) -> None:
    """DuckDB's sniffer chose the quote character from the first rows, so a valid file whose first
    quoted field came after row 30,000 was refused ("Expected Number of Columns: 2 Found: 3")."""
    n = 40_000
    late = '"A caption, with a comma and ""quotes""."'
    lines = ["image,caption"] + [f"{i}.jpg,caption {i}" for i in range(n)] + [f"z.jpg,{late}"]
    source = tmp_path / "late.csv"
    source.write_text("\n".join(lines) + "\n")
    dataset = ingest.load(source, database=warehouse)
    assert len(dataset.images) == n + 1
    assert captions(warehouse, "late")[-1] == (n, 0, 'A caption, with a comma and "quotes".', None)


def test_csv_dialect(tmp_path: Path, warehouse: Path) -> None:
    """Quoted separators and line breaks, "" escapes, a quote inside an unquoted field, CRLF records,
    a byte-order mark, blank lines, backslashes kept as they are."""
    text = (
        "\ufeffimage,caption\r\n"
        'a.jpg,"one, two"\r\n'
        'a.jpg,"a ""quoted"" word"\r\n'
        "\r\n"
        'b.jpg,"first line\nsecond line"\r\n'
        'b.jpg,5" tall\r\n'
        "c.jpg,back\\slash \\n not a newline; -- /* */\r\n"
    )
    source = tmp_path / "dialect.csv"
    source.write_bytes(text.encode())
    ingest.load(source, database=warehouse)
    assert [row[1] for row in images(warehouse, "dialect")] == ["a.jpg", "b.jpg", "c.jpg"]
    assert captions_by_image(warehouse, "dialect") == [
        ["one, two", 'a "quoted" word'],
        ["first line\nsecond line", '5" tall'],
        ["back\\slash \\n not a newline; -- /* */"],
    ]


def test_tsv_quotes_like_csv(tmp_path: Path, warehouse: Path) -> None:
    source = tmp_path / "tabs.tsv"
    source.write_text('image\tcaption\na.jpg\t"a\ttab and, a comma"\nb.jpg\tplain, with comma\n')
    ingest.load(source, database=warehouse)
    assert captions_by_image(warehouse, "tabs") == [["a\ttab and, a comma"], ["plain, with comma"]]


# --- compressed sources (gzip, zstd), told by their first bytes ---------------------------------------


def _gzip(path: Path, data: bytes) -> Path:
    import gzip

    path.write_bytes(gzip.compress(data))
    return path


@pytest.mark.parametrize(
    ("file", "name"),
    [
        ("albef.json.gz", "albef"),
        ("albef.json", "albef"),
        ("pairs.csv.gz", "pairs"),
        ("pairs.csv", "pairs"),
        ("pairs.tsv.gz", "pairs"),
        ("pairs.jsonl.gz", "pairs"),
        ("pairs.parquet.gz", "pairs"),
        ("pairs.parquet", "pairs"),
    ],
)
def test_gzip_sources_whatever_the_suffix(tmp_path: Path, warehouse: Path, file: str, name: str) -> None:
    """A gzip file without .gz used to fail with "not valid UTF-8 ... re-encode the file as UTF-8"."""
    plain = tmp_path / "plain" / file.removesuffix(".gz")
    plain.parent.mkdir()
    if plain.suffix == ".json":
        plain.write_text(json.dumps(BLIP_A))
        expected = [r["caption"] for r in BLIP_A]
    else:
        write_table(plain, {"image": [i for i, _ in ROWS], "caption": [c for _, c in ROWS]})
        expected = GROUPED_CAPTIONS
    source = _gzip(tmp_path / file, plain.read_bytes())
    dataset = ingest.load(source, database=warehouse)
    assert dataset.name == name
    assert captions_by_image(warehouse, name) == expected


def test_zstd_source(tmp_path: Path, warehouse: Path) -> None:
    zstandard = pytest.importorskip("zstandard")
    source = tmp_path / "albef.json.zst"
    source.write_bytes(zstandard.ZstdCompressor().compress(json.dumps(BLIP_A).encode()))
    assert ingest.load(source, database=warehouse).name == "albef"
    assert captions_by_image(warehouse, "albef") == [r["caption"] for r in BLIP_A]
    bare = tmp_path / "bare.csv"  # a zstd stream without a content size in its header, no .zst suffix
    with bare.open("wb") as handle, zstandard.ZstdCompressor().stream_writer(handle) as writer:
        writer.write(b"image,caption\na.jpg,zstd\n")
    ingest.load(bare, database=warehouse)
    assert captions_by_image(warehouse, "bare") == [["zstd"]]


def test_default_name_drops_compression_and_format_suffixes() -> None:
    assert ingest.sources.dataset_name("x/Pairs-2024.csv.gz") == "pairs_2024"
    assert ingest.sources.dataset_name("x/captions_val2014.json.zst") == "captions_val2014"
    assert ingest.sources.dataset_name("x/dataset_coco.json", "val") == "dataset_coco_val"


# --- image ids: one rule for every format -------------------------------------------------------------


def test_image_id_rule_in_tables(tmp_path: Path, warehouse: Path) -> None:
    """A JSON integer or a string of digits without leading zeros is a COCO id and its key is its
    decimal form: 1 and "1" are one image. "02", "2.0" and "١" (an Arabic-Indic digit, which
    str.isdigit() accepts) are image keys without a COCO id; "2.0" is no file name either."""
    source = tmp_path / "ids.jsonl"
    source.write_text(
        "\n".join(
            json.dumps(row)
            for row in [
                {"image": 1, "caption": "one as a number"},
                {"image": "1", "caption": "one as a string"},
                {"image": 2, "caption": "two"},
                {"image": "02", "caption": "zero-padded"},
                {"image": "2.0", "caption": "a string that looks like a float"},
                {"image": "\u0661", "caption": "arabic-indic one"},
                {"image": "val2014/COCO_val2014_000000000005.jpg", "caption": "a COCO file"},
                {"image": "pics/cat.jpeg", "caption": "a plain file"},
                {"image": 0, "caption": "zero"},
            ]
        )
        + "\n"
    )
    ingest.load(source, database=warehouse)
    assert [row[1:4] for row in images(warehouse, "ids")] == [
        ("1", 1, None),
        ("2", 2, None),
        ("02", None, None),
        ("2.0", None, None),
        ("\u0661", None, None),
        ("val2014/COCO_val2014_000000000005.jpg", 5, "COCO_val2014_000000000005.jpg"),
        ("pics/cat.jpeg", None, "cat.jpeg"),
        ("0", 0, None),
    ]
    assert captions_by_image(warehouse, "ids")[0] == ["one as a number", "one as a string"]


def test_coco_id_strings_match_their_annotations(tmp_path: Path, warehouse: Path) -> None:
    """An image id written "7" and annotations that say 7 are the same image (they did not match)."""
    source = tmp_path / "captions_strs.json"
    source.write_text(
        json.dumps(
            {
                "images": [{"id": "7"}, {"id": 8}],
                "annotations": [{"image_id": 7, "caption": "seven"}, {"image_id": "8", "caption": "eight"}],
            }
        )
    )
    ingest.load(source, database=warehouse)
    assert [row[1:3] for row in images(warehouse, "captions_strs")] == [("7", 7), ("8", 8)]
    assert captions_by_image(warehouse, "captions_strs") == [["seven"], ["eight"]]


# --- COCO captions: caption order by annotation id -------------------------------------------------------


def test_coco_captions_are_ordered_by_annotation_id(tmp_path: Path, warehouse: Path) -> None:
    """The same dataset written as COCO captions (annotations in any order) and as a BLIP list
    gives the same caption_index for every caption."""
    coco_ids = [391895, 522418, 184613]
    annotations = [
        {"id": 10 * (j + 1) + k, "image_id": coco_ids[j], "caption": caption}
        for j, record in enumerate(BLIP_A)
        for k, caption in enumerate(record["caption"])
    ]
    shuffled = annotations[::-1][1:] + annotations[-1:]  # neither list order nor image order
    source = tmp_path / "captions_shuffled.json"
    source.write_text(
        json.dumps(
            {
                "images": [{"id": i, "file_name": Path(r["image"]).name} for i, r in zip(coco_ids, BLIP_A)],
                "annotations": shuffled,
            }
        )
    )
    ingest.load(source, database=warehouse)
    ingest.load(_blip(tmp_path), database=warehouse, name="blip")
    assert [c[:3] for c in captions(warehouse, "captions_shuffled")] == [c[:3] for c in captions(warehouse, "blip")]
    assert [row[2] for row in images(warehouse, "captions_shuffled")] == [row[2] for row in images(warehouse, "blip")]


def _blip(tmp_path: Path) -> Path:
    path = tmp_path / "blip.json"
    path.write_text(json.dumps(BLIP_A))
    return path


def test_coco_annotations_without_ids_keep_the_list_order(tmp_path: Path, warehouse: Path) -> None:
    source = tmp_path / "captions_noids.json"
    source.write_text(
        json.dumps(
            {"images": [{"id": 1}], "annotations": [{"image_id": 1, "caption": "b"}, {"image_id": 1, "caption": "a"}]}
        )
    )
    ingest.load(source, database=warehouse)
    assert captions_by_image(warehouse, "captions_noids") == [["b", "a"]]


# --- captions: the length limit, and text stored exactly ---------------------------------------------------


def test_caption_at_the_length_limit_is_stored(tmp_path: Path, warehouse: Path, write_blip) -> None:
    from ingest.readers import MAX_CAPTION_CHARS

    assert MAX_CAPTION_CHARS == 10_000
    longest = "word " * (MAX_CAPTION_CHARS // 5 - 1) + "last."
    assert len(longest) == MAX_CAPTION_CHARS
    ingest.load(write_blip(tmp_path / "long.json", [{"image": "a.jpg", "caption": [longest]}]), database=warehouse)
    assert captions_by_image(warehouse, "long") == [[longest]]


def test_hostile_text_is_stored_exactly(tmp_path: Path, warehouse: Path, write_blip) -> None:
    texts = [
        "it's",
        'say "hi"',
        "back\\slash",
        "a; drop table raw.captions; --",
        "/* c */ x",
        "naïve ☃ 𝄞 \u2028 end",
        "\t tabbed \n lines \r\n",
        "' or '1'='1",
    ]
    ingest.load(
        write_blip(tmp_path / "text.json", [{"image": 'it\'s "a"; --.jpg', "caption": texts}]), database=warehouse
    )
    assert captions_by_image(warehouse, "text") == [texts]
    assert images(warehouse, "text")[0][1] == 'it\'s "a"; --.jpg'
    jsonl = tmp_path / "text.jsonl"  # U+2028 inside a JSON string is not a line break
    jsonl.write_text("".join(json.dumps({"image": "a.jpg", "caption": t}, ensure_ascii=False) + "\n" for t in texts))
    ingest.load(jsonl, database=warehouse)
    assert captions_by_image(warehouse, "text") == [texts]


# --- the command line: --replace-runs ------------------------------------------------------------------------


def test_load_reports_the_runs_it_deleted(tmp_path: Path, warehouse: Path, write_blip) -> None:
    import generate
    from generate.chain import RunPlan
    from tests.generate_helpers import FakeBackend

    ingest.load(write_blip(tmp_path / "v1" / "alpha.json", BLIP_A), database=warehouse)
    generate.run(
        RunPlan(dataset="alpha", model="m", rounds=1, run_id="r1", tokenize=False),
        database=warehouse,
        backend=FakeBackend(),
    )
    dataset = ingest.load(write_blip(tmp_path / "v2" / "alpha.json", BLIP_B), database=warehouse, replace_runs=True)
    assert dataset.dropped_runs == ["r1"]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from raw.associations").fetchone() == (0,)
        assert con.execute("select count(*) from raw.association_runs").fetchone() == (0,)


# --- Hugging Face datasets ---------------------------------------------------------------------------


@pytest.fixture()
def hf_folder(tmp_path: Path) -> Path:
    datasets = pytest.importorskip("datasets")
    test = datasets.Dataset.from_dict(
        {
            # the caption column comes first: the reader must not rely on column order
            "sentences": [
                {"raw": "A cat on a mat.", "tokens": ["a", "cat", "on", "a", "mat"]},
                {"raw": "A kitten sleeping.", "tokens": ["a", "kitten", "sleeping"]},
                {"raw": "Pizza slice.", "tokens": ["pizza", "slice"]},
                {"raw": "The cat again.", "tokens": ["the", "cat", "again"]},
            ],
            "filename": [
                "COCO_val2014_000000000101.jpg",
                "COCO_val2014_000000000202.jpg",
                "COCO_val2014_000000473237.jpg",
                "COCO_val2014_000000000101.jpg",
            ],
            "cocoid": [101, 202, 473237, 101],
        }
    )
    train = datasets.Dataset.from_dict(
        {
            "image_key": ["t1", "t2"],
            "alt_text": [["t1 a", "t1 b"], ["t2 a"]],
        }
    )
    folder = tmp_path / "hf_coco"
    datasets.DatasetDict({"test": test, "train": train}).save_to_disk(str(folder))
    return folder


def test_hf_dataset_default_split_struct_captions(hf_folder: Path, warehouse: Path) -> None:
    dataset = ingest.load(f"hf:{hf_folder}", database=warehouse)
    assert (dataset.name, dataset.format, dataset.source) == ("hf_coco_test", "hf", f"hf:{hf_folder}")
    url = "http://images.cocodataset.org/val2014/COCO_val2014_{:012d}.jpg"
    assert images(warehouse, "hf_coco_test") == [
        (0, "COCO_val2014_000000000101.jpg", 101, "COCO_val2014_000000000101.jpg", url.format(101)),
        (1, "COCO_val2014_000000000202.jpg", 202, "COCO_val2014_000000000202.jpg", url.format(202)),
        (2, "COCO_val2014_000000473237.jpg", 473237, "COCO_val2014_000000473237.jpg", url.format(473237)),
    ]
    assert captions(warehouse, "hf_coco_test") == [
        (0, 0, "A cat on a mat.", ["a", "cat", "on", "a", "mat"]),
        (0, 1, "The cat again.", ["the", "cat", "again"]),
        (1, 0, "A kitten sleeping.", ["a", "kitten", "sleeping"]),
        (2, 0, "Pizza slice.", ["pizza", "slice"]),
    ]


def test_hf_dataset_named_split_and_columns(hf_folder: Path, warehouse: Path) -> None:
    dataset = ingest.load(f"hf:{hf_folder}:train", database=warehouse, caption_col="alt_text")
    assert dataset.name == "hf_coco_train"
    assert [row[1] for row in images(warehouse, "hf_coco_train")] == ["t1", "t2"]
    assert captions_by_image(warehouse, "hf_coco_train") == [["t1 a", "t1 b"], ["t2 a"]]
    # an explicit image column over the auto-detected one
    ingest.load(f"hf:{hf_folder}:test", database=warehouse, name="by_id", image_col="cocoid")
    assert [row[1:3] for row in images(warehouse, "by_id")] == [("101", 101), ("202", 202), ("473237", 473237)]


@pytest.fixture()
def hf_with_pixels(tmp_path: Path) -> Path:
    """Like HuggingFaceM4/COCO: an ``image`` column of the Image feature (pixels) before ``filename``."""
    datasets = pytest.importorskip("datasets")
    test = datasets.Dataset.from_dict(
        {
            "image": [{"bytes": b"\x89PNG-not-really", "path": None}, {"bytes": b"\x89PNG-other", "path": None}],
            "filename": ["COCO_val2014_000000000101.jpg", "COCO_val2014_000000000202.jpg"],
            "sentences": [{"raw": "One.", "tokens": ["one"]}, {"raw": "Two.", "tokens": ["two"]}],
        }
    ).cast_column("image", datasets.Image())  # an arrow-level cast: no Pillow needed
    folder = tmp_path / "hf_pixels"
    datasets.DatasetDict({"test": test}).save_to_disk(str(folder))
    return folder


def test_hf_image_feature_is_not_the_image_key(hf_with_pixels: Path, warehouse: Path) -> None:
    ingest.load(f"hf:{hf_with_pixels}", database=warehouse)
    assert [row[1:3] for row in images(warehouse, "hf_pixels_test")] == [
        ("COCO_val2014_000000000101.jpg", 101),
        ("COCO_val2014_000000000202.jpg", 202),
    ]
    assert captions(warehouse, "hf_pixels_test") == [(0, 0, "One.", ["one"]), (1, 0, "Two.", ["two"])]


# --- the default source ------------------------------------------------------------------------------


@pytest.fixture()
def no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty download cache, so that a file in the real data/cache/ cannot be picked up."""
    cache = tmp_path / "empty_cache"
    monkeypatch.setattr(ingest.sources, "CACHE_DIR", cache)
    return cache


def test_default_source_is_the_shared_coco_split(warehouse: Path, no_cache: Path) -> None:
    if not SHARED_FILE.is_file():
        pytest.fail(f"{SHARED_FILE} is missing: this test needs ../shared/data")
    dataset = ingest.load(None, warehouse)
    assert Path(dataset.source).resolve() == SHARED_FILE.resolve()
    assert (dataset.name, dataset.format, len(dataset.images), dataset.n_captions) == ("coco", "blip", 5000, 25010)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "select (select count(*) from raw.images where dataset = 'coco'), "
            "(select count(*) from raw.captions where dataset = 'coco'), "
            "(select count(distinct coco_id) from raw.images), "
            "(select min(image_id) from raw.images), (select max(image_id) from raw.images)"
        ).fetchone() == (5000, 25010, 5000, 0, 4999)
        assert con.execute(
            "select image_id, coco_id, url from raw.images where image_id in (0, 100) order by image_id"
        ).fetchall() == [
            (0, 391895, "http://images.cocodataset.org/val2014/COCO_val2014_000000391895.jpg"),
            (100, 473237, "http://images.cocodataset.org/val2014/COCO_val2014_000000473237.jpg"),
        ]
        assert ("A young girl eating a slice of pizza.",) in con.execute(
            "select caption from raw.captions where image_id = 100"
        ).fetchall()
        assert con.execute(
            "select count(*) from (select image_id from raw.captions group by image_id having count(*) = 6)"
        ).fetchone() == (10,)
        assert con.execute("select dataset, format, n_images, n_captions from raw.datasets").fetchall() == [
            ("coco", "blip", 5000, 25010)
        ]


def test_semspace_captions_overrides_the_default(
    tmp_path: Path, warehouse: Path, no_cache: Path, write_blip, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_blip(tmp_path / "override.json", BLIP_B)
    monkeypatch.setenv("SEMSPACE_CAPTIONS", str(source))
    dataset = ingest.load(None, warehouse)
    assert (dataset.name, dataset.source, len(dataset.images)) == ("override", str(source), 2)
    assert dataset_names(warehouse) == ["override"]


def test_semspace_captions_missing_file(tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere.json"
    monkeypatch.setenv("SEMSPACE_CAPTIONS", str(missing))
    with pytest.raises(SemspaceError, match="SEMSPACE_CAPTIONS") as info:
        ingest.load(None, warehouse)
    assert str(missing) in str(info.value) and "no such file" in str(info.value)
    assert not warehouse.exists()


def test_cached_copy_comes_before_the_shared_one(
    tmp_path: Path, warehouse: Path, write_blip, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    write_blip(cache / "coco_karpathy_test.json", BLIP_A)
    monkeypatch.setattr(ingest.sources, "CACHE_DIR", cache)
    dataset = ingest.load(None, warehouse)
    assert (dataset.name, len(dataset.images)) == ("coco", 3)


@pytest.fixture()
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No local default file: empty shared and cache folders."""
    shared, cache = tmp_path / "no_shared", tmp_path / "no_cache"
    shared.mkdir()
    monkeypatch.setattr(ingest.sources, "SHARED_DIR", shared)
    monkeypatch.setattr(ingest.sources, "CACHE_DIR", cache)
    return cache


class _Handler(http.server.BaseHTTPRequestHandler):
    body = b""
    truncate = False

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body) * (2 if self.truncate else 1)))
        self.end_headers()
        self.wfile.write(self.body)
        self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def http_server() -> Iterator[type[_Handler]]:
    handler = type("Handler", (_Handler,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.url = f"http://127.0.0.1:{server.server_address[1]}/coco_karpathy_test.json"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


def test_default_source_downloads_into_the_cache(
    warehouse: Path, nowhere: Path, http_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    http_server.body = json.dumps(BLIP_A).encode()
    monkeypatch.setattr(ingest.sources, "DEFAULT_URL", http_server.url)
    monkeypatch.setattr(ingest.sources, "DEFAULT_SHA256", hashlib.sha256(http_server.body).hexdigest())
    dataset = ingest.load(None, warehouse)
    assert (dataset.name, len(dataset.images), dataset.n_captions) == ("coco", 3, 6)
    assert sorted(p.name for p in nowhere.iterdir()) == ["coco_karpathy_test.json"]
    assert json.loads((nowhere / "coco_karpathy_test.json").read_text()) == BLIP_A


def test_download_with_another_checksum_is_not_cached(
    good_warehouse: Path, good_rows, nowhere: Path, http_server, monkeypatch: pytest.MonkeyPatch, raw_snapshot
) -> None:
    """A complete download that is not the published file (an error page served with 200, another
    version) is refused, so it is not cached and reused on every later run."""
    http_server.body = b"<html>Service unavailable</html>"
    monkeypatch.setattr(ingest.sources, "DEFAULT_URL", http_server.url)
    with pytest.raises(SemspaceError, match="checksum mismatch"):
        ingest.load(None, good_warehouse)
    assert list(nowhere.iterdir()) == []
    assert raw_snapshot(good_warehouse) == good_rows


def test_truncated_download_leaves_nothing_behind(
    good_warehouse: Path, good_rows, nowhere: Path, http_server, monkeypatch: pytest.MonkeyPatch, raw_snapshot
) -> None:
    before = good_rows
    http_server.body = json.dumps(BLIP_A).encode()
    http_server.truncate = True
    monkeypatch.setattr(ingest.sources, "DEFAULT_URL", http_server.url)
    with pytest.raises(SemspaceError, match="could not download") as info:
        ingest.load(None, good_warehouse)
    assert http_server.url in str(info.value)
    assert list(nowhere.iterdir()) == []  # no partial file, no stray temporary file
    assert raw_snapshot(good_warehouse) == before


def test_failed_download_says_what_to_pass_instead(
    good_warehouse: Path, good_rows, nowhere: Path, monkeypatch: pytest.MonkeyPatch, raw_snapshot, capsys
) -> None:
    before = good_rows
    url = "http://127.0.0.1:9/none.json"
    monkeypatch.setattr(ingest.sources, "DEFAULT_URL", url)
    with pytest.raises(SemspaceError) as info:
        ingest.load(None, good_warehouse)
    message = str(info.value)
    assert url in message and "coco_karpathy_test.json" in message
    assert "python -m ingest PATH" in message and "SEMSPACE_CAPTIONS" in message
    assert not (nowhere / "coco_karpathy_test.json").exists()
    assert raw_snapshot(good_warehouse) == before

    assert cli.main(["--db", str(good_warehouse)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ingest: error: could not download") and err.count("\n") == 1
    assert raw_snapshot(good_warehouse) == before


# --- command line ------------------------------------------------------------------------------------


def test_cli_reports_what_it_loaded(tmp_path: Path, warehouse: Path, write_blip, capsys) -> None:
    source = write_blip(tmp_path / "cli.json", BLIP_A)
    assert cli.main([str(source), "--db", str(warehouse), "--dataset", "named"]) == 0
    out, err = capsys.readouterr()
    assert out == (f"ingested dataset 'named' (blip) from {source}: 3 images, 6 captions into {warehouse}\n")
    assert "Traceback" not in err
    assert dataset_names(warehouse) == ["named"]


def test_cli_uses_semspace_db(tmp_path: Path, warehouse: Path, write_blip, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMSPACE_DB", str(warehouse))
    assert cli.main([str(write_blip(tmp_path / "env.json", BLIP_B))]) == 0
    assert dataset_names(warehouse) == ["env"]


def test_reingesting_other_captions_drops_their_computed_rows(good_warehouse: Path, tmp_path: Path) -> None:
    """MDS and evaluation rows of a dataset's corpora describe its old captions: a re-ingest with
    other captions deletes them (and only them); the same captions keep them."""
    import duckdb

    from semspace import contract

    with duckdb.connect(str(good_warehouse)) as con:
        contract.ensure(con, [t.qualified for t in contract.tables(contract.COMPUTED)])
        for corpus in ("alpha", "alpha-nostop", "beta"):
            con.execute("insert into computed.mds_eigenvalues values (?, 1, 1.0)", [corpus])
            con.execute(
                "insert into computed.evaluation_scores values (?, ?, 'jaccard', 'eccv_caption', "
                "'map_at_r', 0.5, 3, now())",
                [corpus, corpus],
            )
    same = tmp_path / "alpha.json"
    same.write_text(json.dumps(BLIP_A), encoding="utf-8")
    ingest.load(same, good_warehouse, name="alpha")
    with duckdb.connect(str(good_warehouse), read_only=True) as con:
        assert con.execute("select count(*) from computed.mds_eigenvalues").fetchone() == (3,)
    other = tmp_path / "alpha2.json"
    other.write_text(json.dumps(BLIP_A[:2]), encoding="utf-8")
    ingest.load(other, good_warehouse, name="alpha")
    with duckdb.connect(str(good_warehouse), read_only=True) as con:
        assert con.execute("select corpus from computed.mds_eigenvalues").fetchall() == [("beta",)]
        assert con.execute("select corpus from computed.evaluation_scores").fetchall() == [("beta",)]
