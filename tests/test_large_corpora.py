"""Corpora too large to store their pairs (var all_pairs_max_images): the compiled kernel's
image_neighbors and pair_summary equal the all-pairs path's, row for row, on real COCO captions;
the SQL path (var large_corpus_kernel=sql, Spark's) too; the threshold switch; the table macro
image_pairs_with equals image_pairs; an incremental build after images are added or removed equals
a full rebuild; a build under a memory limit that the stored pairs would exceed succeeds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest

import ingest
from semspace import neighbors
from tests.dbt_helpers import SHARED_CAPTIONS, dbt

K = 4
VARS = {"neighbors_k": K}
LARGE = {"neighbors_k": K, "all_pairs_max_images": 100}  # the coco corpora (150 images) go large
NEIGHBORS = "select * from main.image_neighbors order by all"
SUMMARY = "select * from main.pair_summary order by corpus"


def _records(n: int, start: int = 0) -> list[dict]:
    return json.loads(SHARED_CAPTIONS.read_text(encoding="utf-8"))[start : start + n]


def _warehouse(work: Path, name: str, records: list[dict]) -> Path:
    source = work / f"{name}.json"
    source.write_text(json.dumps(records), encoding="utf-8")
    db = work / f"{name}.duckdb"
    ingest.load(source, db, name="coco")
    other = work / "other.csv"
    other.write_text("image,caption\nx.jpg,A cat on a mat.\ny.jpg,A dog on a mat!\nz.jpg,Nothing but sky\n", "utf-8")
    ingest.load(other, db, name="other")
    return db


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same 150 COCO images (+ a 3-image dataset) built with all pairs by the SQL pair kernel
    and the SQL top-k over them (the reference), that build's pairs and neighbours again from the
    compiled kernels (DuckDB's default), the coco corpora above the threshold (compiled kernel), then image_neighbors and
    pair_summary again on the SQL path."""
    work = tmp_path_factory.mktemp("large")
    records = _records(150)
    small = _warehouse(work, "small", records)
    dbt(["build"], small, work / "small_dbt", vars={**VARS, "large_corpus_kernel": "sql"})
    stored = work / "stored.duckdb"
    shutil.copy(small, stored)
    dbt(["build", "--select", "int_pair_overlaps+", "int_pair_statistics+"], stored, work / "stored_dbt", vars=VARS)
    large = _warehouse(work, "large", records)
    result = dbt(["build"], large, work / "large_dbt", vars=LARGE)
    sql = work / "sql.duckdb"
    shutil.copy(large, sql)
    dbt(
        ["run", "--select", "image_neighbors", "pair_summary"],
        sql,
        work / "sql_dbt",
        vars={**LARGE, "large_corpus_kernel": "sql"},
    )
    return {"work": work, "small": small, "stored": stored, "large": large, "sql": sql, "stdout": result.stdout}


def test_threshold_switch(built) -> None:
    scale = dict(_rows(built["large"], "select corpus, stores_all_pairs from intermediate.int_corpus_scale"))
    assert {c for c, stores in scale.items() if not stores} == {"coco", "coco-nostop", "coco-lemma", "coco-concept"}
    assert {c for c, stores in scale.items() if stores} == {c for c in scale if c.startswith("other")}
    stored = _rows(built["large"], "select distinct corpus from main.image_pairs")
    assert {c for (c,) in stored} == {c for c in scale if c.startswith("other")}
    assert _rows(built["small"], "select count(distinct corpus) from main.image_pairs") == [(len(scale),)]
    computed = _rows(
        built["large"], "select corpus, count(*) from intermediate.int_neighbors_computed group by 1 order by 1"
    )
    assert [c for c, _ in computed] == sorted(scale)  # every corpus's lists: stored pairs or not


def test_large_path_equals_all_pairs_path(built) -> None:
    expected = _rows(built["small"], NEIGHBORS)
    assert len(expected) > 6 * 150 * K  # every measure, every corpus
    assert _rows(built["stored"], NEIGHBORS) == expected  # the kernel on corpora that store pairs
    assert _rows(built["large"], NEIGHBORS) == expected
    assert _rows(built["sql"], NEIGHBORS) == expected


def test_compiled_pair_table_equals_sql_pair_table(built) -> None:
    """int_pair_overlaps from the compiled scatter (DuckDB's default) and from the SQL kernel:
    the same rows, values and column types; image_pairs over them alike."""
    query = "select * from intermediate.int_pair_overlaps order by all"
    with duckdb.connect(str(built["small"]), read_only=True) as con:
        expected = con.sql(query).to_arrow_table()
        expected_view = con.execute("select * from main.image_pairs order by all").fetchall()
    with duckdb.connect(str(built["stored"]), read_only=True) as con:
        got = con.sql(query).to_arrow_table()
        assert con.execute("select * from main.image_pairs order by all").fetchall() == expected_view
    assert expected.num_rows == 4 * (150 * 149 // 2 + 3)  # the four corpora of coco and of other
    assert got.equals(expected)


@pytest.mark.parametrize("damage", ["missing", "extra", "repeated"])
def test_pair_coverage_test_finds_damage(built, damage: str, tmp_path: Path) -> None:
    """tests/dbt/assert_image_pairs_cover_every_pair.sql (counts and hash fingerprints per image)
    fails on a stored table with a pair missing, one too many, or one pair stored twice in place of
    another of the same image (the per-image counts still agree)."""
    db = tmp_path / "damaged.duckdb"
    shutil.copy(built["stored"], db)
    table = "intermediate.int_pair_overlaps"
    with duckdb.connect(str(db)) as con:
        (i,) = con.execute(f"select min(image_i) from {table} where corpus_id = 1").fetchone()
        last, second = (
            j
            for (j,) in con.execute(
                f"select image_j from {table} where corpus_id = 1 and image_i = ? order by image_j desc limit 2", [i]
            ).fetchall()
        )
        key = "corpus_id = 1 and image_i = ? and image_j = ?"
        if damage == "missing":
            con.execute(f"delete from {table} where {key}", [i, last])
        elif damage == "extra":
            con.execute(f"insert into {table} select * from {table} where {key}", [i, last])
        else:
            con.execute(f"update {table} set image_j = ? where {key}", [second, i, last])
    select = ["--select", "assert_image_pairs_cover_every_pair"]
    dbt(["test", *select], built["stored"], tmp_path / "ok", vars=VARS)  # passes before the damage
    failed = dbt(["test", *select], db, tmp_path / "damaged", vars=VARS, check=False)
    assert failed.returncode != 0 and "assert_image_pairs_cover_every_pair" in failed.stdout, failed.stdout[-2000:]


def test_pair_summary_is_exact_without_pairs(built) -> None:
    expected = _rows(built["small"], SUMMARY)
    for path in ("stored", "large", "sql"):
        got = _rows(built[path], SUMMARY)
        assert [r[:-1] for r in got] == [r[:-1] for r in expected], path
        assert [r[-1] for r in got] == pytest.approx([r[-1] for r in expected], rel=1e-12, abs=1e-15), path


def test_image_pairs_with_equals_image_pairs(built) -> None:
    with duckdb.connect(str(built["small"]), read_only=True) as con:
        columns = [d[0] for d in con.execute("select * from main.image_pairs limit 0").description]
        i, j = columns.index("image_i"), columns.index("image_j")
        ni, nj = columns.index("n_i"), columns.index("n_j")

        def canonical(row: tuple) -> tuple:
            cells = list(row)
            if cells[i] > cells[j]:
                cells[i], cells[j], cells[ni], cells[nj] = cells[j], cells[i], cells[nj], cells[ni]
            return tuple(cells)

        for corpus, image in (("coco", 100), ("coco-concept", 7), ("other", 1)):
            stored = con.execute(
                "select * from main.image_pairs where corpus = ? and (image_i = ? or image_j = ?)",
                [corpus, image, image],
            ).fetchall()
            # image_pairs_with puts the given image first: compare as unordered pairs
            on_demand = con.execute("select * from image_pairs_with(?, ?)", [corpus, image]).fetchall()
            assert sorted(map(canonical, on_demand)) == sorted(stored), (corpus, image)
        assert con.execute("select count(*) from image_pairs_with('coco', 10 ** 6)").fetchone() == (0,)
        assert con.execute("select count(*) from image_pairs_with('no such corpus', 1)").fetchone() == (0,)
    with duckdb.connect(str(built["large"]), read_only=True) as con:  # and where no pair is stored
        first = con.execute(
            "select image_j, symmetric_difference from image_pairs_with('coco', 3) "
            "order by symmetric_difference, image_j limit ?",
            [K],
        ).fetchall()
        listed = con.execute(
            "select neighbor_id, symmetric_difference from main.image_neighbors "
            "where corpus = 'coco' and measure = 'symmetric_difference' and image_id = 3 order by rank"
        ).fetchall()
        assert first == listed


@pytest.mark.parametrize("change", ["add", "remove"])
def test_incremental_build_equals_full_rebuild(built, change: str) -> None:
    """Re-ingest with 20 more (or 15 fewer) images, `dbt build` incrementally, and compare with a
    fresh full build of the same data."""
    work = built["work"] / f"incremental_{change}"
    work.mkdir()
    db = work / "w.duckdb"
    shutil.copy(built["large"], db)
    records = _records(170) if change == "add" else _records(135)
    source = work / "coco.json"
    source.write_text(json.dumps(records), encoding="utf-8")
    ingest.load(source, db, name="coco")
    result = dbt(["run"], db, work / "dbt", vars=LARGE)
    if change == "add":  # the set measures took the incremental path
        assert "updated with 20 new or changed" in result.stdout, result.stdout[-3000:]
    fresh = _warehouse(work, "fresh", records)
    dbt(["run"], fresh, work / "fresh_dbt", vars=LARGE)
    assert _rows(db, NEIGHBORS) == _rows(fresh, NEIGHBORS)


def test_memory_bounded_without_pairs(tmp_path: Path) -> None:
    """A DuckDB memory limit that the SQL pair kernel's aggregate exceeds (no spilling allowed):
    the all-pairs build on the SQL path fails with an out-of-memory error, the large-corpus build
    of the same data succeeds and stores no pair. (The compiled pair table streams its rows to
    disk in batches, so it would pass this limit too.)"""
    records = _records(2500)
    db = _warehouse(tmp_path, "mem", records)
    limits = {"SEMSPACE_MEMORY_LIMIT": "60MB", "SEMSPACE_TEMP_DIR": ""}
    only_pairs = {
        "neighbors_k": 2,
        "stop_word_variants": False,
        "lexicon_variants": False,
        "neighbor_measures": ["symmetric_difference"],
    }
    select = ["--select", "+image_neighbors", "+pair_summary"]
    failed = dbt(
        ["run", *select], db, tmp_path / "a", vars={**only_pairs, "large_corpus_kernel": "sql"}, env=limits, check=False
    )
    assert failed.returncode != 0 and "Out of Memory" in failed.stdout, failed.stdout[-2000:]
    dbt(["run", *select], db, tmp_path / "b", vars={**only_pairs, "all_pairs_max_images": 1000}, env=limits)
    n = _rows(db, "select count(*) from main.image_neighbors where corpus = 'coco'")
    assert n == [(2500 * 2,)]
    stored = "select count(*) from intermediate.int_pair_overlaps join intermediate.int_corpora using (corpus_id) "
    assert _rows(db, stored + "where corpus = 'coco'") == [(0,)]


def test_kernel_on_zipf_corpus_with_ties_against_brute_force() -> None:
    """A seeded Zipf corpus of 1500 images with repeated sets (exact ties) and empty ones: the
    compiled kernel's top-k of every measure against numpy over the dense count matrix."""
    rng = np.random.default_rng(7)
    n, v = 1500, 400
    p = 1 / np.arange(1, v + 1) ** 1.1
    p /= p.sum()
    sets = []
    for i in range(n):
        if i % 50 == 7:
            sets.append(sets[i - 3])  # a duplicate: every measure ties
            continue
        size = int(rng.integers(0, 30)) if i % 97 else 0
        tokens = np.unique(rng.choice(v, size, p=p))
        sets.append((tokens, rng.integers(1, 4, len(tokens))))
    indptr = np.zeros(n + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(t) for t, _ in sets])
    tokens = np.concatenate([t for t, _ in sets]).astype(np.int64)
    counts = np.concatenate([c for _, c in sets]).astype(np.int64)
    df = np.bincount(tokens, minlength=v)
    idf = np.log(n / np.maximum(df, 1))
    idf_q = np.round(idf * 2**24).astype(np.int64)
    cos_q = np.round(idf**0.5 * 2**24).astype(np.int64)
    ids = np.arange(n, dtype=np.int64) * 3 + 5
    index = neighbors.build_index(ids, indptr, tokens, counts, idf_q, cos_q, "zipf")
    c = np.zeros((n, v), dtype=np.int64)
    for i, (t, cnt) in enumerate(sets):
        c[i, t] = cnt
    b = (c > 0).astype(np.int64)
    inter = b @ b.T
    size = b.sum(axis=1)
    msi = np.minimum(c[:, None, :], c[None, :, :]).sum(axis=2)
    m = c.sum(axis=1)
    w_i = (np.minimum(c[:, None, :], c[None, :, :]) * idf_q).sum(axis=2)
    w_tot = (c * idf_q).sum(axis=1)
    dot = (c * cos_q) @ c.T
    n2 = (c * c * cos_q).sum(axis=1)
    idf_i = (b * idf_q) @ b.T
    idf_tot = (b * idf_q).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        union = size[:, None] + size[None, :] - inter
        keys = {
            "symmetric_difference": (size[:, None] + size[None, :] - 2 * inter).astype(float),
            "multiset_symmetric_difference": (m[:, None] + m[None, :] - 2 * msi).astype(float),
            "jaccard": -np.where(union > 0, inter / union, 0.0),
            "dice": -np.where(size[:, None] + size[None, :] > 0, 2 * inter / (size[:, None] + size[None, :]), 0.0),
            "overlap": -np.where(
                np.minimum(size[:, None], size[None, :]) > 0, inter / np.minimum(size[:, None], size[None, :]), 0.0
            ),
            "idf_jaccard": -np.where(
                idf_tot[:, None] + idf_tot[None, :] - idf_i > 0,
                idf_i / (idf_tot[:, None] + idf_tot[None, :] - idf_i),
                0.0,
            ),
            "weighted_jaccard": -np.where(
                w_tot[:, None] + w_tot[None, :] - w_i > 0, w_i / (w_tot[:, None] + w_tot[None, :] - w_i), 0.0
            ),
            "cosine": -np.where(
                (n2[:, None] > 0) & (n2[None, :] > 0),
                np.minimum(1.0, dot / (np.sqrt(n2)[:, None] * np.sqrt(n2)[None, :])),
                0.0,
            ),
        }
    table = neighbors.top_k(index, 5, list(keys), progress=False)
    got = {}
    for row in table.to_pylist():
        got.setdefault((row["measure"], row["image_id"]), []).append(row["neighbor_id"])
    order = np.arange(n)
    for measure, key in keys.items():
        key = key + 0.0
        np.fill_diagonal(key, np.inf)
        best = np.lexsort((np.broadcast_to(order, key.shape), key), axis=1)[:, :5]
        expected = {(measure, int(ids[i])): ids[best[i]].tolist() for i in range(n)}
        assert {k: v for k, v in got.items() if k[0] == measure} == expected, measure
    # scores: one image against all, the same values
    for measure, key in keys.items():
        row = neighbors.scores(index, ids[[7, 96]], measure)
        expected = np.where(np.isin(measure, list(neighbors.DISTANCES)), key[[7, 96]], -key[[7, 96]])
        expected[0, 7], expected[1, 96] = np.nan, np.nan
        if measure == "jaccard":  # SQL null where both sets are empty
            expected[np.isnan(row)] = np.nan
        np.testing.assert_array_equal(row, expected)


def test_unknown_image_and_measure_are_one_clear_error() -> None:
    index = neighbors.build_index(
        np.array([1, 2]), np.array([0, 1, 2]), np.array([0, 0]), np.array([1, 1]), np.array([0]), np.array([0]), "c"
    )
    with pytest.raises(neighbors.SemspaceError, match="no image 9"):
        neighbors.scores(index, [9], "jaccard")
    with pytest.raises(neighbors.SemspaceError, match="unknown measure"):
        neighbors.top_k(index, 2, ["nearness"])
    assert neighbors.top_k(index, 5, ["symmetric_difference"], progress=False).num_rows == 2  # fewer than k others
