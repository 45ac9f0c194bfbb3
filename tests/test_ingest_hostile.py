"""Hostile input through `ingest` (and, for a bounded few datasets, `dbt build`), generated with
hypothesis: dataset names, captions (quotes, backslashes, semicolons, SQL comment markers, NUL,
unpaired surrogates, any Unicode, blank, over the length limit) and image ids (integers in and out
of range, digit strings with and without leading zeros, floats, booleans, COCO file names, any
text) in every table format and the BLIP list.

The law: each source is either stored exactly as an independent model of the documented rules
(`expected`, written from ingest's docstrings, not from its code) says, or refused with one
line of SemspaceError and the warehouse left as it was; and it is refused exactly when the model
says so. The datasets accepted here (a bounded number) and a fixed hostile set then go through one
`dbt build` on a tiny warehouse, whose `image_captions` and `images` marts and `corpora` names must
match the input as well."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import ingest
from semspace import names
from semspace.errors import SemspaceError
from tests.conftest import _raw_snapshot
from tests.dbt_helpers import dbt

pytestmark = pytest.mark.usefixtures("ingest_env")

MAX_CAPTION = 10_000
MAX_ID = 2**63 - 1
FORMATS = ("blip", "jsonl", "csv", "tsv", "parquet")

# --- strategies -------------------------------------------------------------------------------------

SAFE = [
    "'",
    '"',
    "\\",
    ";",
    "--",
    "/*",
    "*/",
    "%",
    "_",
    "$1",
    "?",
    "{{ x }}",
    "{% if %}",
    " ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "\u2028",
    "\u0085",
    "é",
    "𝄞",
    "☃",
    "\ufeff",
    "a",
    "Dog",
    "0",
    "' or '1'='1",
    "'); drop table raw.captions; --",
    "null",
    "NULL",
    "true",
    ",",
]
"""Pieces of text that must be stored exactly."""
BAD = ["\x00", "\ud800", "\udfff", "", "   "]
"""Pieces that must be refused (NUL, unpaired surrogates) or that make a caption blank."""
safe_text = st.lists(
    st.one_of(st.sampled_from(SAFE), st.text(st.characters(exclude_characters="\x00"), max_size=6)),
    min_size=1,
    max_size=6,
).map("".join)
hostile_text = st.lists(
    st.one_of(st.sampled_from(SAFE + BAD), st.text(st.characters(codec=None, exclude_categories=()), max_size=6)),
    max_size=6,
).map("".join)


def mostly(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], percent_rare: int) -> st.SearchStrategy[Any]:
    """``rare`` in about ``percent_rare`` % of draws, else ``usual`` (one_of weighs its branches alike)."""
    return st.sampled_from([False] * (100 - percent_rare) + [True] * percent_rare).flatmap(
        lambda pick_rare: rare if pick_rare else usual
    )


caption = mostly(st.one_of(safe_text.filter(str.strip), safe_text.map(lambda t: f"A {t} caption.")), hostile_text, 5)
image_id = mostly(
    st.one_of(
        st.integers(0, 60),
        st.integers(0, 60).map(str),
        st.integers(0, 60).map(lambda i: f"val2014/COCO_val2014_{i:012d}.jpg"),
        safe_text,
    ),
    st.one_of(
        st.integers(0, 60).map(lambda i: f"0{i}"),
        st.integers(-3, -1),
        st.sampled_from([MAX_ID, MAX_ID + 1, 2**64]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.none(),
        hostile_text,
    ),
    8,
)
valid_name = st.from_regex(r"\A[a-z0-9]([a-z0-9._-]{0,12}[a-z0-9])?\Z")
name = mostly(
    valid_name,
    st.one_of(
        st.sampled_from(
            [
                "alpha",
                "beta",
                "a" * 64,
                "coco-nostop",
                "x-nostop",
                "",
                " ",
                "Coco",
                "a" * 65,
                "a/b",
                "..",
                "x;--",
                "it's",
                "-x",
                "x.",
            ]
        ),
        hostile_text,
    ),
    15,
)
records = st.lists(st.tuples(image_id, st.lists(caption, min_size=1, max_size=3)), min_size=1, max_size=4)


# --- the sources, as files -------------------------------------------------------------------------


def _csv(rows: list[tuple[Any, str]], delimiter: str) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(["image", "caption"])
    for image, text in rows:
        writer.writerow(["" if image is None else str(image), text])
    return out.getvalue().encode("utf-8", "surrogatepass")  # an unpaired surrogate: bytes that are not UTF-8


def write_source(folder: Path, fmt: str, recs: list[tuple[Any, list[str]]]) -> Path:
    """``recs`` (image value, captions) as a file of ``fmt``: a BLIP list has one record per image;
    the tables one row per caption (so records with equal keys are one image)."""
    rows = [(image, text) for image, texts in recs for text in texts]
    if fmt == "blip":
        path = folder / "source.json"
        path.write_text(json.dumps([{"image": image, "caption": texts} for image, texts in recs]))
    elif fmt == "jsonl":
        path = folder / "source.jsonl"
        path.write_text("".join(json.dumps({"image": image, "caption": text}) + "\n" for image, text in rows))
    elif fmt in ("csv", "tsv"):
        path = folder / f"source.{fmt}"
        path.write_bytes(_csv(rows, "," if fmt == "csv" else "\t"))
    else:
        path = folder / "source.parquet"
        clean = [
            (image, text.encode("utf-8", "replace").decode() if isinstance(text, str) else text) for image, text in rows
        ]
        column = [None if image is None else str(image).encode("utf-8", "replace").decode() for image, _ in clean]
        pq.write_table(
            pa.table({"image": pa.array(column, pa.string()), "caption": pa.array([t for _, t in clean], pa.string())}),
            path,
        )
    return path


# --- the model of the rules ----------------------------------------------------------------------------

COCO_FILE = re.compile(r"COCO_(?:train|val|test)\d{4}_(\d+)\.jpg$")


def _surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def _text_ok(text: str) -> bool:
    return "\x00" not in text and not _surrogate(text)


def _coco_id(key: str) -> int | None:
    if key.isascii() and key.isdigit() and (key == "0" or not key.startswith("0")) and int(key) <= MAX_ID:
        return int(key)
    found = COCO_FILE.search(key)
    return int(found.group(1)) if found and int(found.group(1)) <= MAX_ID else None


def _as_stored(fmt: str, value: Any) -> Any:
    """What a value of the source reads back as: text formats keep only text; Parquet gets strings
    with unpaired surrogates replaced (Arrow cannot hold them)."""
    if fmt in ("csv", "tsv"):
        if value is None:
            return None
        text = str(value)
        return text if text != "" else None
    if fmt == "parquet":
        return None if value is None else str(value).encode("utf-8", "replace").decode()
    return value


def expected(fmt: str, dataset: str, recs: list[tuple[Any, list[str]]]) -> dict[str, Any] | None:
    """The rows ingest must store, or None where it must refuse (docstrings of ingest.readers,
    ingest.files and semspace.names)."""
    if names.problem(dataset) is not None:
        return None
    if fmt in ("csv", "tsv"):  # the file is UTF-8 only if no string holds an unpaired surrogate
        if any(_surrogate(str(v)) for image, texts in recs for v in [image, *texts] if v is not None):
            return None
    images: dict[str, dict[str, Any]] = {}
    for image, texts in recs:
        image = _as_stored(fmt, image)
        texts = [_as_stored(fmt, t) for t in texts]
        if isinstance(image, bool) or image is None or isinstance(image, float):
            return None
        if isinstance(image, int):
            if not 0 <= image <= MAX_ID:
                return None
            key, coco = str(image), image
        else:
            if not image.strip() or not _text_ok(image):
                return None
            key, coco = image, _coco_id(image)
        for text in texts:
            if text is None or not text.strip() or len(text) > MAX_CAPTION or not _text_ok(text):
                return None
        if fmt == "blip":
            if not isinstance(_as_stored(fmt, image), str) or key in images:
                return None
            images[key] = {"coco_id": coco, "captions": list(texts)}
        else:
            images.setdefault(key, {"coco_id": coco, "captions": []})["captions"].extend(texts)
    seen = [v["coco_id"] for v in images.values() if v["coco_id"] is not None]
    if len(seen) != len(set(seen)):
        return None
    return {
        "images": [(i, key, v["coco_id"]) for i, (key, v) in enumerate(images.items())],
        "captions": [(i, k, text) for i, v in enumerate(images.values()) for k, text in enumerate(v["captions"])],
    }


def stored(database: Path, dataset: str, schema: str = "raw") -> dict[str, Any]:
    with duckdb.connect(str(database), read_only=True) as con:
        return {
            "images": con.execute(
                f"select image_id, image_key, coco_id from {schema}.images where dataset = ? order by image_id",
                [dataset],
            ).fetchall(),
            "captions": con.execute(
                f"select image_id, caption_index, caption from {schema}."
                f"{'captions' if schema == 'raw' else 'image_captions'} where dataset = ? "
                "order by image_id, caption_index",
                [dataset],
            ).fetchall(),
        }


# --- ingest: stored exactly, or refused with the warehouse unchanged -------------------------------

ACCEPTED: list[tuple[str, str, list[tuple[Any, list[str]]]]] = []
"""(format, dataset, records) of sources accepted above, for the dbt build below (at most MAX_BUILT)."""
MAX_BUILT = 8


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(fmt=st.sampled_from(FORMATS), dataset=name, recs=records, long=st.sampled_from([False] * 24 + [True]))
def test_hostile_sources_are_stored_exactly_or_refused(
    fmt: str,
    dataset: str,
    recs: list[tuple[Any, list[str]]],
    long: bool,
    tmp_path_factory: pytest.TempPathFactory,
    _good_warehouse_template: tuple[Path, dict[str, Any]],
) -> None:
    if long:  # now and then a caption one character over the limit
        recs = [(recs[0][0], [*recs[0][1], "y" * (MAX_CAPTION + 1)]), *recs[1:]]
    folder = tmp_path_factory.mktemp("hostile")
    source = write_source(folder, fmt, recs)
    database = folder / "w.duckdb"
    shutil.copyfile(_good_warehouse_template[0], database)
    before = _good_warehouse_template[1]
    want = expected(fmt, dataset, recs)
    try:
        ingest.load(source, database=database, name=dataset)
    except SemspaceError as exc:
        message = str(exc)
        assert message and "\n" not in " ".join(message.split()), message
        assert _raw_snapshot(database) == before
        assert want is None, f"refused, but the rules accept it: {message}"
        event(f"{fmt}: refused")
        return
    assert want is not None, "accepted, but the rules refuse it"
    assert stored(database, dataset) == want
    event(f"{fmt}: stored")
    after = _raw_snapshot(database)
    # the lexicon is shared by every dataset and only grows; every other table keeps the others' rows
    shared = ("tables", "lexicon")
    others = {k: [r for r in v if r[0] != dataset] for k, v in after.items() if k not in shared}
    assert others == {k: [r for r in v if r[0] != dataset] for k, v in before.items() if k not in shared}
    assert set(before.get("lexicon", [])) <= set(after.get("lexicon", []))
    if len(ACCEPTED) < MAX_BUILT and dataset not in {d for _, d, _ in ACCEPTED} | {"alpha", "beta"}:
        ACCEPTED.append((fmt, dataset, recs))


# --- and through dbt build ----------------------------------------------------------------------------

FIXED = [
    (
        "jsonl",
        "q.uote-s_1",
        [
            (1, ['it\'s "quoted"; -- not a comment', "/* nor this */ \\ back\\slash"]),
            ("1", ["one again, as a string"]),
            ("02", ["' or '1'='1"]),
            (2, ["two"]),
        ],
    ),
    ("csv", "semi;colon", [("a.jpg", ["x"])]),  # refused: not a name
    (
        "csv",
        "csv-hostile",
        [("a b.jpg", ["line one\nline two", "tab\there"]), ("ü/ñ.png", ["naïve ☃ 𝄞 \u2028 end"]), ("x", ["!!! ???"])],
    ),  # a caption without a single token
    (
        "blip",
        "blip.hostile",
        [
            ("val2014/COCO_val2014_000000000042.jpg", ["{{ var('x') }} %s $1 ?", "NULL"]),
            ("'; drop table raw.images; --", ["a caption"]),
        ],
    ),
]


def test_hostile_datasets_through_dbt_build(tmp_path: Path) -> None:
    """The accepted hostile datasets (above, at most MAX_BUILT) and a fixed set, on a fresh tiny
    warehouse, through one `dbt build` (every model and dbt test): the marts hold exactly what was
    ingested, and every dataset is a corpus of its name with its `-nostop`, `-lemma` and `-concept`
    variants."""
    database = tmp_path / "w.duckdb"
    built: dict[str, dict[str, Any]] = {}
    for k, (fmt, dataset, recs) in enumerate(FIXED + ACCEPTED[:MAX_BUILT]):
        folder = tmp_path / f"source{k}"
        folder.mkdir()
        want = expected(fmt, dataset, recs)
        try:
            ingest.load(write_source(folder, fmt, recs), database=database, name=dataset)
        except SemspaceError:
            assert want is None
            continue
        assert want is not None and stored(database, dataset) == want
        built[dataset] = want
    assert {"q.uote-s_1", "csv-hostile", "blip.hostile"} <= set(built)
    dbt(["build"], database, tmp_path, vars={"neighbors_k": 2})
    with duckdb.connect(str(database), read_only=True) as con:
        corpora = {r[0] for r in con.execute("select corpus from corpora").fetchall()}
    assert corpora == {f"{d}{suffix}" for d in built for suffix in ("", "-nostop", "-lemma", "-concept")}
    for dataset, want in built.items():
        assert stored(database, dataset, schema="main") == want, dataset
