"""The analysis of a corpus too large for all pairs (above the dbt var all_pairs_max_images): no rows
in image_pairs, pair values from the exact kernel (semspace.neighbors) one query row at a time.

Every large-corpus path is checked against the all-pairs path on the same small corpus: the
warehouse is built with its pairs, the results computed, then the corpus's image_pairs rows are
deleted and semspace.neighbors replaced by a stand-in that serves exactly the rows image_pairs held
(the contract of ``neighbors.scores`` and ``scores_many``); the results must be identical. One test also runs the real
kernel against a dbt-built warehouse's image_pairs.
"""

from __future__ import annotations

import itertools
import shutil
import sys
import types
from pathlib import Path

import duckdb
import numpy as np
import pytest
import scipy.sparse

import analysis
import semspace
from analysis import evaluate as ev
from analysis import figures, report
from analysis.evaluation import metrics, store
from analysis.report import queries
from semspace import measures, warehouse
from semspace.errors import SemspaceError
from tests.test_landmark_mds import random_sets
from tests.test_landmark_mds import tiny_warehouse as token_warehouse

# ------------------------------------------------------------------------------- the stand-in


class FakeIndex:
    def __init__(self, image_ids: np.ndarray, rows: dict[str, np.ndarray]) -> None:
        self.image_ids = image_ids
        self.rows = rows


def fake_neighbors(database: Path, corpora: list[str]) -> tuple[types.ModuleType, list[tuple[str, str, int]]]:
    """A stand-in for semspace.neighbors serving, for each corpus, the rows image_pairs holds now
    (read before the pairs are deleted), own column NaN, SQL null NaN; and the log of its calls."""
    served: dict[str, FakeIndex] = {}
    with duckdb.connect(str(database), read_only=True) as con:
        for corpus in corpora:
            source = warehouse.QueryRows(con, corpus, pairs=True)
            served[corpus] = FakeIndex(source.ids, {m: source.rows(source.ids, m) for m in measures.MEASURES})
    calls: list[tuple[str, str, int]] = []
    module = types.ModuleType("semspace.neighbors")

    def load_index(con: duckdb.DuckDBPyConnection, corpus: str) -> FakeIndex:
        calls.append(("load_index", corpus, 0))
        return served[corpus]

    def scores(index: FakeIndex, query_ids: np.ndarray, measure: str) -> np.ndarray:
        query_ids = np.asarray(query_ids, dtype=np.int64)
        calls.append(("scores", measure, len(query_ids)))
        positions = np.searchsorted(index.image_ids, query_ids)
        assert np.array_equal(index.image_ids[positions], query_ids)
        return index.rows[measure][positions].copy()

    def scores_many(index: FakeIndex, query_ids: np.ndarray, wanted: list[str]) -> dict[str, np.ndarray]:
        return {measure: scores(index, query_ids, measure) for measure in wanted}

    module.load_index = load_index  # type: ignore[attr-defined]
    module.scores = scores  # type: ignore[attr-defined]
    module.scores_many = scores_many  # type: ignore[attr-defined]
    return module, calls


def install(monkeypatch: pytest.MonkeyPatch, module: types.ModuleType) -> None:
    monkeypatch.setitem(sys.modules, "semspace.neighbors", module)
    monkeypatch.setattr(semspace, "neighbors", module, raising=False)


def drop_pairs(database: Path, corpus: str) -> None:
    """What dbt leaves for a corpus above all_pairs_max_images: no image_pairs rows (pair_summary
    stays exact: the kernel's pass over all pairs)."""
    with duckdb.connect(str(database)) as con:
        con.execute("delete from image_pairs where corpus = ?", [corpus])


# ----------------------------------------------------------------------------------- metrics


def test_top_ranked_is_the_head_of_the_full_ranking() -> None:
    rng = np.random.default_rng(3)
    for larger in (True, False):
        scores = rng.integers(0, 6, size=(40, 300)).astype(float)  # many ties
        scores[rng.random(scores.shape) < 0.05] = np.nan
        scores[3, :295] = np.nan  # fewer finite values than the depth
        scores[5, 7] = np.inf
        scores[6, 8] = -np.inf
        ids = np.sort(rng.choice(10_000, size=300, replace=False))
        for depth in (1, 7, 50, 299, 300):
            full = metrics.rank(scores, ids, larger)[:, :depth]
            assert np.array_equal(metrics.top_ranked(scores, ids, larger, depth), full), (larger, depth)


def test_score_matrix_takes_the_full_matrix_or_the_query_rows() -> None:
    rng = np.random.default_rng(4)
    n = 60
    values = rng.integers(0, 8, size=(n, n)).astype(float)
    matrix = values + values.T
    np.fill_diagonal(matrix, 0.0)
    ids = np.arange(100, 100 + n)
    query_rows = np.array([5, 1, 30, 59, 12, 44])
    relevance = rng.random((len(query_rows), n)) < 0.15
    relevance[:, 0] = True  # every query has a positive
    groups = {"half_a": np.array([1, 0, 1, 0, 1, 0], dtype=bool)}
    for larger in (True, False):
        full = ev.score_matrix(matrix, ids, query_rows, relevance, larger, groups=groups)
        rows = ev.score_matrix(matrix[query_rows], ids, query_rows, relevance, larger, groups=groups)
        assert rows == full
        # a chunk at a time with one depth: the same per-query values, the same means
        depth = metrics.ranking_depth(relevance, query_rows)
        parts = [
            metrics.query_row_metrics(
                matrix[query_rows[c : c + 1]], ids, query_rows[c : c + 1], relevance[c : c + 1], larger, depth=depth
            )
            for c in range(len(query_rows))
        ]
        assert metrics.summarize(store.concatenate(parts), groups) == full
        # the old way, every row sorted in full: the same numbers
        scores = matrix[query_rows].copy()
        scores[np.arange(len(query_rows)), query_rows] = -np.inf if larger else np.inf
        order = ev.rank(scores, ids, larger)[:, : n - 1]
        rel = relevance.copy()
        rel[np.arange(len(query_rows)), query_rows] = False
        old = ev.retrieval_metrics(np.take_along_axis(rel, order, axis=1), rel.sum(axis=1))
        assert {k: full[k] for k in old} == old  # the same numbers, not only nearly
    # n queries, n × n: ambiguous unless the queries are 0..n−1 in order
    every = np.arange(n)[::-1].copy()
    with pytest.raises(ValueError, match="rows_only"):
        ev.score_matrix(matrix, ids, every, np.ones((n, n), dtype=bool), False)
    one = ev.score_matrix(matrix, ids, every, np.ones((n, n), dtype=bool), False, rows_only=False)
    assert one == ev.score_matrix(matrix[every], ids, every, np.ones((n, n), dtype=bool), False, rows_only=True)
    with pytest.raises(ValueError, match="shapes disagree"):
        ev.score_matrix(matrix[:3], ids, query_rows, relevance, False)


# -------------------------------------------------------------------------------- evaluation

N_EVAL = 48
PAIR_SQL = """
create table corpora (corpus varchar, corpus_id integer, kind varchar, dataset varchar);
create table images (dataset varchar, image_id integer, coco_id bigint, url varchar);
create table set_sizes (corpus varchar, image_id integer, n_tokens integer, n_occurrences integer);
create table image_pairs (corpus varchar, image_i integer, image_j integer, n_intersection integer,
    symmetric_difference integer, multiset_symmetric_difference integer, jaccard double, dice double,
    overlap double, idf_jaccard double, weighted_jaccard double, cosine double);
"""


def eval_warehouse(path: Path) -> dict[int, set[int]]:
    """Corpus `big` over dataset `d` (image ids 0, 2, 4, …; COCO ids 1000 + id), its subset `sub`,
    pair values at random with many ties, a Jaccard null between the two empty sets (images 0 and
    2); returns ECCV-like positives (COCO id → COCO ids)."""
    rng = np.random.default_rng(11)
    ids = [2 * i for i in range(N_EVAL)]
    con = duckdb.connect(str(path))
    con.execute(PAIR_SQL)
    con.execute("insert into corpora values ('big', 1, 'captions', 'd'), ('sub', 2, 'captions', 'd')")
    for i in ids:
        con.execute("insert into images values ('d', ?, ?, 'http://x/')", [i, 1000 + i])
        con.execute("insert into set_sizes values ('big', ?, ?, 1)", [i, 0 if i in (0, 2) else 5])
        if i % 3:
            con.execute("insert into set_sizes values ('sub', ?, 5, 1)", [i])
    rows = []
    for a, b in itertools.combinations(ids, 2):
        jaccard = None if (a, b) == (0, 2) else float(rng.integers(0, 5)) / 4
        rows.append(
            (
                "big",
                a,
                b,
                int(rng.integers(0, 4)),
                int(rng.integers(0, 6)),
                int(rng.integers(0, 9)),
                jaccard,
                *(float(rng.integers(0, 7)) / 6 for _ in range(5)),
            )
        )
    con.executemany(f"insert into image_pairs values ({', '.join(['?'] * 12)})", rows)
    con.close()
    positives = {}
    for q in rng.choice(ids, size=20, replace=False):
        others = [i for i in ids if i != q]
        positives[1000 + int(q)] = {1000 + int(i) for i in rng.choice(others, size=rng.integers(1, 7), replace=False)}
    positives[1000] = {1002, 1010}  # the empty-set query: its Jaccard with image 2 is null
    return positives


@pytest.mark.parametrize("chunk_bytes", [None, 1])  # the default chunks, and one query at a time
def test_evaluation_without_pairs_equals_the_all_pairs_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_bytes: int | None
) -> None:
    db = tmp_path / "w.duckdb"
    positives = eval_warehouse(db)
    with duckdb.connect(str(db), read_only=True) as con:
        want = ev.compute(con, "big", positives=positives)
        want_within = ev.compute(con, "big", ["jaccard", "symmetric_difference"], positives=positives, within="sub")
    fake, calls = fake_neighbors(db, ["big"])
    drop_pairs(db, "big")
    install(monkeypatch, fake)
    if chunk_bytes is not None:
        monkeypatch.setattr(store, "QUERY_CHUNK_BYTES", chunk_bytes)

    def no_matrices(*args: object, **kwargs: object) -> None:
        raise AssertionError("the n × n matrices were asked for")

    monkeypatch.setattr(warehouse, "measure_matrices", no_matrices)
    with duckdb.connect(str(db), read_only=True) as con:
        assert not warehouse.has_pairs(con, "big")
        got = ev.compute(con, "big", positives=positives)
        got_within = ev.compute(con, "big", ["jaccard", "symmetric_difference"], positives=positives, within="sub")

    def by_key(rows: list[dict]) -> dict[tuple[str, str, str], tuple[float, int]]:
        return {(r["image_scope"], r["measure"], r["metric"]): (r["value"], r["n_queries"]) for r in rows}

    assert by_key(got) == by_key(want)  # identical, not approximately
    assert by_key(got_within) == by_key(want_within)
    n_queries = want[0]["n_queries"]
    assert n_queries == 21
    chunks = [size for kind, _, size in calls if kind == "scores"]
    assert sum(chunks) == n_queries * len(measures.MEASURES) + want_within[0]["n_queries"] * 2
    if chunk_bytes == 1:
        assert set(chunks) == {1}
    assert [c for c in calls if c[0] == "load_index"] == [("load_index", "big", 0)] * 2  # once per compute()


def test_without_pairs_the_matrices_are_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    eval_warehouse(db)
    drop_pairs(db, "big")
    with duckdb.connect(str(db), read_only=True) as con, pytest.raises(SemspaceError, match="all_pairs_max_images"):
        warehouse.measure_matrix(con, "big", "jaccard")


def test_query_rows_from_image_pairs() -> None:
    """QueryRows from image_pairs: each pair in both directions, own column NaN, null NaN, any ids."""
    con = duckdb.connect()
    con.execute("create table set_sizes (corpus varchar, image_id integer, n_tokens integer)")
    con.execute("create table image_pairs (corpus varchar, image_i integer, image_j integer, jaccard double)")
    ids = [3, 7, 10, 12]
    con.executemany("insert into set_sizes values ('c', ?, 1)", [[i] for i in ids])
    expected = np.full((4, 4), np.nan)
    for (a, i), (b, j) in itertools.combinations(enumerate(ids), 2):
        value = None if (i, j) == (7, 10) else 10 * a + b
        expected[a, b] = expected[b, a] = np.nan if value is None else value
        con.execute("insert into image_pairs values ('c', ?, ?, ?)", [i, j, value])
    con.execute("insert into image_pairs values ('other', 3, 7, 99)")
    source = warehouse.QueryRows(con, "c")
    assert source.source == "image_pairs"
    got = source.rows([12, 3, 12], "jaccard")
    assert np.array_equal(got, expected[[3, 0, 3]], equal_nan=True)
    narrower = warehouse.QueryRows(con, "c", ids=np.array([3, 12]))
    assert np.array_equal(narrower.rows([7], "jaccard"), expected[[1]][:, [0, 3]], equal_nan=True)
    with pytest.raises(SemspaceError, match="unknown measure"):
        source.rows([3], "euclid")


def test_the_real_kernel_serves_the_rows_of_image_pairs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """semspace.neighbors on a dbt-built warehouse: every query row of every measure equals what
    image_pairs holds (NaN where null), and the evaluation through the kernel's query rows equals
    the one through the n × n matrices."""
    pytest.importorskip("numba")
    pytest.importorskip("semspace.neighbors")
    db = _dbt_tiny(tmp_path)
    positives = {100: {103, 102}, 101: {100}, 102: {101}}
    with duckdb.connect(str(db), read_only=True) as con:
        for corpus in ("tiny", "tiny-nostop"):
            pairs = warehouse.QueryRows(con, corpus, pairs=True)
            kernel = warehouse.QueryRows(con, corpus, pairs=False)
            for measure in measures.MEASURES:
                a, b = pairs.rows(pairs.ids, measure), kernel.rows(kernel.ids, measure)
                assert np.array_equal(a, b, equal_nan=True), (corpus, measure)
        want = ev.compute(con, "tiny", positives=positives)
        monkeypatch.setattr(warehouse, "has_pairs", lambda con, name: False)  # as if above the threshold
        got = ev.compute(con, "tiny", positives=positives)
    assert [(r["measure"], r["metric"], r["value"]) for r in got] == [
        (r["measure"], r["metric"], r["value"]) for r in want
    ]


def _dbt_tiny(tmp_path: Path) -> Path:
    """test_evaluate's dbt-built tiny warehouse (built once per process, shared), copied."""
    import ingest
    from tests.dbt_helpers import dbt
    from tests.test_evaluate import _BUILT, OTHER_CAPTIONS, TINY_CAPTIONS, _blip

    if "tiny" not in _BUILT:
        work = tmp_path / "build"
        work.mkdir()
        db = work / "warehouse.duckdb"
        ingest.load(_blip(work / "tiny.json", TINY_CAPTIONS, 100), db, name="tiny")
        ingest.load(_blip(work / "other.json", OTHER_CAPTIONS, 200), db, name="other")
        dbt(["build", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"], db, work)
        _BUILT["tiny"] = db
    copy = tmp_path / "tiny.duckdb"
    shutil.copyfile(_BUILT["tiny"], copy)
    return copy


# ------------------------------------------------------------------------------------------ MDS


def mds_warehouse(path: Path, matrix: scipy.sparse.csr_matrix) -> None:
    """token_sets, set_sizes, corpora of corpus `toy` (test_landmark_mds) plus its image_pairs'
    symmetric differences."""
    token_warehouse(path, matrix)
    dense = matrix.toarray().astype(int)
    sizes = dense.sum(axis=1)
    inter = dense @ dense.T
    with duckdb.connect(str(path)) as con:
        con.execute(
            "create table image_pairs (corpus varchar, image_i integer, image_j integer, symmetric_difference integer)"
        )
        rows = [
            ("toy", i, j, int(sizes[i] + sizes[j] - 2 * inter[i, j]))
            for i, j in itertools.combinations(range(len(dense)), 2)
        ]
        con.executemany("insert into image_pairs values (?, ?, ?, ?)", rows)


def _tables(db: Path) -> tuple:
    with duckdb.connect(str(db), read_only=True) as con:
        return (
            con.execute("select * exclude (computed_at) from computed.mds_spectrum").fetchall(),
            con.execute("select * from computed.mds_eigenvalues order by rank").fetchall(),
            con.execute("select * from computed.mds_coordinates order by image_id, axis").fetchall(),
        )


def test_auto_mds_is_full_with_pairs_and_landmark_without(tmp_path: Path) -> None:
    matrix = random_sets(120, 40, seed=8)
    db = tmp_path / "w.duckdb"
    mds_warehouse(db, matrix)
    # with pairs: auto is full MDS, exactly the full method's result
    auto = analysis.mds("toy", db, k=3)
    assert auto.method == "full"
    spectrum, eigenvalues, coordinates = _tables(db)
    full = analysis.mds("toy", db, k=3, method="full")
    assert np.array_equal(auto.eigenvalues, full.eigenvalues)
    # the partial eigensolver starts from a random vector: the same axes up to rounding
    assert np.allclose(auto.coordinates, full.coordinates, atol=1e-9)
    again = _tables(db)
    assert again[:2] == (spectrum, eigenvalues) and len(again[2]) == len(coordinates) == 120 * 3
    # above the threshold passed in: landmark
    assert analysis.mds("toy", db, k=3, full_max_points=100, n_landmarks=30).method == "landmark"
    # no pairs (a corpus above all_pairs_max_images): landmark, the same as asked for by name
    drop_pairs(db, "toy")
    auto = analysis.mds("toy", db, k=3, n_landmarks=30)
    assert auto.method == "landmark" and auto.n_landmarks == 30
    landmark = analysis.mds("toy", db, k=3, method="landmark", n_landmarks=30)
    assert np.array_equal(auto.coordinates, landmark.coordinates)
    with pytest.raises(SemspaceError, match="no rows in image_pairs.*all_pairs_max_images"):
        analysis.mds("toy", db, k=3, method="full")
    assert analysis.choose_method(1, False) == "full"  # one image: nothing to triangulate from
    assert analysis.choose_method(5000, True) == "full"  # COCO's 5000 images keep full MDS
    assert analysis.choose_method(5000, False) == "landmark"
    assert analysis.choose_method(analysis.FULL_MDS_MAX_POINTS + 1, True) == "landmark"


def test_the_cli_default_is_auto() -> None:
    from analysis.__main__ import parser

    assert parser().parse_args(["mds"]).method == "auto"
    import inspect

    assert inspect.signature(analysis.mds).parameters["method"].default == "auto"


# ------------------------------------------------------------------------------------- report


@pytest.fixture()
def report_warehouse(tmp_path: Path) -> Path:
    """test_report's hand-made warehouse (corpora coco, other, solo), image_neighbors cut to the
    top 3 so that the note's Table 2 rows of image 100 must be looked up as pairs."""
    from tests import test_report

    rng = np.random.default_rng(7)
    db = tmp_path / "tiny.duckdb"
    con = duckdb.connect(str(db))
    con.execute(test_report.SCHEMA)
    captions = test_report._captions(rng)
    for image in test_report.IMAGE_IDS:
        con.execute(
            "insert into images values ('tiny', ?, ?, ?, ?, ?, ?)",
            [image, test_report.COCO_IDS.get(image, 900000 + image), "f", "f", "http://x/", len(captions[image])],
        )
        con.executemany(
            "insert into image_captions values ('tiny', ?, ?, ?)",
            [(image, i, c) for i, c in enumerate(captions[image])],
        )
    for corpus_id, corpus in enumerate(["coco", "other", "solo"], start=1):
        con.execute(
            "insert into corpora values (?, ?, 'captions', 'tiny', 'karpathy', 'test', now())", [corpus, corpus_id]
        )
    small = {i: set(rng.choice(30, size=rng.integers(3, 11), replace=False).tolist()) for i in test_report.IMAGE_IDS}
    large = {i: set(rng.choice(120, size=rng.integers(25, 60), replace=False).tolist()) for i in test_report.IMAGE_IDS}
    test_report._corpus(con, "coco", small, captions, with_mds=True)
    test_report._corpus(con, "other", large, captions, with_mds=True)
    test_report._corpus(con, "solo", {0: small[0]}, captions, with_mds=False)
    con.execute("delete from image_neighbors where rank > 3")
    con.close()
    return db


def _sections(db: Path) -> dict[str, queries.Corpus]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            row["corpus"]: queries.corpus_sections(con, row, 100, queries.coco_vocabulary(con))
            for row in warehouse.corpora(con)
        }


def test_report_of_a_corpus_without_pairs(
    report_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = report_warehouse
    before = _sections(db)
    assert before["coco"].neighbours.missing > 0  # the note's rows beyond the top 3: pair lookups
    with duckdb.connect(str(db), read_only=True) as con:
        near_before = {
            (c, m): warehouse.neighbours(con, c, 100, m, k=10)
            for c in ("coco", "other")
            for m in ("dice", "symmetric_difference", "cosine")
        }
    fake, calls = fake_neighbors(db, ["coco", "other"])
    drop_pairs(db, "coco")
    drop_pairs(db, "other")
    install(monkeypatch, fake)
    after = _sections(db)
    # the neighbour table, the note's rows looked up by the kernel, is the same
    for corpus in ("coco", "other"):
        was, now = before[corpus].neighbours, after[corpus].neighbours
        assert (now.rows, now.k, now.agree, now.missing) == (was.rows, was.k, was.agree, was.missing), corpus
    assert (before["coco"].neighbours.looked_up_in, after["coco"].neighbours.looked_up_in) == (
        "image_pairs",
        "the exact kernel",
    )
    assert any(call[0] == "scores" for call in calls)
    with duckdb.connect(str(db), read_only=True) as con:
        for key, want in near_before.items():
            assert warehouse.neighbours(con, key[0], 100, key[1], k=10) == want, key  # dice: not in image_neighbors
    # pair statistics: the same exact figures, without the pair figure
    pairs = after["coco"].pairs
    assert pairs is not None and not pairs.has_rows and before["coco"].pairs.has_rows
    assert [c.cells for c in pairs.comparisons] == [c.cells for c in before["coco"].pairs.comparisons]

    out = tmp_path / "r"
    index = report.build(db, out_dir=out)
    markdown = (out / "report.md").read_text(encoding="utf-8")
    page = index.read_text(encoding="utf-8")
    for text in (markdown, page):
        assert "above the dbt var" in text and "all_pairs_max_images" in text
        assert "computed by the exact kernel" in text
    assert not (out / "coco" / "pairs.png").exists() and not (out / "other" / "pairs.png").exists()
    assert (out / "coco" / "mds_map.png").exists()
    with duckdb.connect(str(db), read_only=True) as con, pytest.raises(SemspaceError, match="all_pairs_max_images"):
        figures.figure_pairs(con, "coco", tmp_path / "f")


# ----------------------------------------------------------------------------------------- map

N_MAP = 100_000
MAP_MEASURES = ("symmetric_difference", "multiset_symmetric_difference", "jaccard", "weighted_jaccard", "cosine")
WORDS = "a man woman dog cat on the table with red blue bike street pizza plate of sitting standing near".split()


def synthetic_map_data(n: int, k: int = 10, seed: int = 0) -> dict:
    """What analysis.map.load returns for an n-image corpus (landmark MDS), made up: points in 30
    clusters, five captions of nine words per image, k neighbours under each of five measures."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(30, 2)) * 6
    xy = centres[rng.integers(0, 30, n)] + rng.normal(size=(n, 2))
    phrases = [" ".join(rng.choice(WORDS, 9)) for _ in range(500)]
    captions = rng.integers(0, len(phrases), size=(n, 5))
    ids = np.arange(n)
    data: dict = {
        "corpus": "synthetic",
        "dataset": "synthetic",
        "k": k,
        "method": "landmark",
        "n_points": n,
        "n_positive": 900,
        "n_negative": 800,
        "axis_share": [0.05, 0.03],
        "ids": ids.tolist(),
        "x": xy[:, 0].tolist(),
        "y": xy[:, 1].tolist(),
        "coco_ids": (ids + 1_000_000).tolist(),
        "urls": [f"http://images.cocodataset.org/train2017/{i:012d}.jpg" for i in ids],
        "n_tokens": rng.integers(10, 40, n).tolist(),
        "captions": [[phrases[c] for c in row] for row in captions],
        "measures": list(MAP_MEASURES),
        "measure": MAP_MEASURES[0],
        "larger_is_closer": {m: measures.MEASURES[m].larger_is_closer for m in MAP_MEASURES},
        "neighbours_by": {},
        "values_by": {},
    }
    for m in MAP_MEASURES:
        data["neighbours_by"][m] = rng.integers(0, n, size=(n, k)).tolist()
        if measures.MEASURES[m].larger_is_closer:
            data["values_by"][m] = np.round(-np.sort(-rng.random((n, k)), axis=1), 4).tolist()
        else:
            data["values_by"][m] = np.sort(rng.integers(5, 40, size=(n, k)), axis=1).tolist()
    return data


@pytest.fixture(scope="module")
def large_map(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from analysis import map as semantic_map

    data = synthetic_map_data(N_MAP)
    path = tmp_path_factory.mktemp("large_map") / "map.html"
    path.write_text(semantic_map.render(data), encoding="utf-8")
    return path, data


# one programmatic interaction, driven frame by frame: zoom in and out about a point, pan between
INTERACT = """seconds => new Promise(resolve => {
  const m = window.semspaceMap, before = m.stats().frames, t0 = performance.now();
  let ticks = 0;
  function step() {
    const t = performance.now() - t0;
    if (t > seconds * 1000) {
      m.reset().then(() => resolve({ms: t, ticks: ticks, frames: m.stats().frames - before,
                                    lastFrameMs: m.stats().lastFrameMs}));
      return;
    }
    ticks++;
    if (ticks % 2) m.zoom(ticks % 40 < 20 ? 1.08 : 1 / 1.08, 420, 380); else m.pan(6, -3);
    requestAnimationFrame(step);
  }
  requestAnimationFrame(step);
})"""


@pytest.mark.parametrize("renderer", ["default", "webgl", "canvas"])
def test_map_of_100k_points_in_chromium(large_map: tuple[Path, dict], renderer: str) -> None:
    """The page of a 100,000-image corpus in headless Chromium, with the renderer it picks here and
    with each one forced: it loads, redraws while zoomed and panned programmatically, hovers,
    clicks and searches correctly, without console errors. Load time and frame rate are printed
    (run with -s), not asserted: timings are noisy."""
    import time

    from tests.browser import offline_page, wait_until

    path, data = large_map
    query = "" if renderer == "default" else f"?renderer={renderer}"
    with offline_page() as browser:
        page = browser.page
        started = time.perf_counter()
        page.goto(path.resolve().as_uri() + query, timeout=300_000)
        wait_until(page, "window.semspaceMap && window.semspaceMap.ready", timeout=300_000)
        load_s = time.perf_counter() - started
        assert page.evaluate("semspaceMap.n") == N_MAP
        used = page.evaluate("semspaceMap.renderer")
        assert used in ("webgl", "canvas") and (renderer == "default" or used == renderer)
        stats = page.evaluate("semspaceMap.stats()")
        motion = page.evaluate(INTERACT, 3)
        assert motion["frames"] >= 1 and motion["frames"] <= motion["ticks"] + 1  # it redraws as the view moves
        fps = motion["frames"] / (motion["ms"] / 1000)
        print(
            f"\n100k map, renderer {used} (asked: {renderer}): file {path.stat().st_size / 1e6:.1f} MB, "
            f"load {load_s:.2f} s (HTML parsed at {stats['startedAt'] / 1000:.2f} s, JSON.parse "
            f"{(stats['parsedAt'] - stats['startedAt']) / 1000:.2f} s, ready at {stats['readyAt'] / 1000:.2f} s), "
            f"{motion['frames']} frames in {motion['ms'] / 1000:.1f} s of zoom/pan = {fps:.1f} fps, "
            f"last frame {motion['lastFrameMs']:.1f} ms of script"
        )

        # zoomed in on one image, it is the one under the pointer: hover names it, a click selects it
        image = 4242
        i = data["ids"].index(image)
        page.evaluate(f"semspaceMap.setView({{cx: {data['x'][i]}, cy: {data['y'][i]}, s: 20000}})")
        point = page.evaluate(f"semspaceMap.pointPixel({image})")
        assert point["inside"]
        started = time.perf_counter()
        page.mouse.move(point["x"], point["y"])
        wait_until(
            page,
            f"(document.querySelector('.hoverlayer .hovertext:not([hidden])') || {{}}).textContent?.startsWith('image {image} ')",
            timeout=10_000,
        )
        hover_s = time.perf_counter() - started
        assert data["captions"][i][0] in page.inner_text(".hoverlayer .hovertext")
        started = time.perf_counter()
        page.mouse.click(point["x"], point["y"])
        wait_until(page, f"document.body.dataset.selected === '{image}'", timeout=10_000)
        wait_until(page, f"semspaceMap.highlighted().selected[0] === {image}", timeout=10_000)
        click_s = time.perf_counter() - started
        want = data["neighbours_by"]["symmetric_difference"][i]
        assert [r["image_id"] for r in page.evaluate("semspaceMap.neighbours()")] == want
        assert page.evaluate("semspaceMap.highlighted()")["neighbours"] == want
        assert (
            page.evaluate("semspaceMap.setMeasure('cosine').then(() => semspaceMap.highlighted().neighbours)")
            == (data["neighbours_by"]["cosine"][i])
        )
        # a drag draws a box and zooms into it; a double-click resets
        scale = page.evaluate("semspaceMap.view().s")
        page.evaluate("semspaceMap.reset()")
        home = page.evaluate("semspaceMap.view().s")
        assert home < scale
        page.mouse.move(500, 300)
        page.mouse.down()
        page.mouse.move(560, 360, steps=4)
        page.mouse.up()
        wait_until(page, f"semspaceMap.view().s > {home * 5}")
        page.mouse.dblclick(500, 300)
        wait_until(page, f"semspaceMap.view().s === {home}")
        # a word search: every image with it, highlighted
        started = time.perf_counter()
        page.evaluate("semspaceMap.search('pizza')")
        search_s = time.perf_counter() - started
        found = sum("pizza" in " ".join(c).split() for c in data["captions"])
        assert page.inner_text("#search-result").startswith(f"{found} images")
        assert page.evaluate("semspaceMap.highlighted().matches.length") == found
        motion = page.evaluate(INTERACT, 1)  # with ~N/2 matches drawn too
        assert motion["frames"] >= 1
        print(
            f"  hover {hover_s:.2f} s, click to panel and highlight {click_s:.2f} s, word search "
            f"({found} matches) {search_s:.2f} s, then {motion['frames'] / (motion['ms'] / 1000):.1f} fps"
        )
    browser.assert_clean()


def test_the_map_can_keep_fewer_measures(tmp_path: Path) -> None:
    """A large corpus's page can keep fewer neighbour lists (each ~0.5 kB per image): only those."""
    from analysis import map as semantic_map
    from tests.test_map import inlined_data, make_warehouse

    db = make_warehouse(tmp_path / "tiny.duckdb")
    every = semantic_map.build(db, corpus="tiny", out_path=tmp_path / "all.html")
    fewer = semantic_map.build(db, corpus="tiny", out_path=tmp_path / "cosine.html", measures=["cosine"])
    data = inlined_data(fewer.read_text(encoding="utf-8"))
    assert data["measures"] == ["cosine"] and data["measure"] == "cosine"
    assert set(data["neighbours_by"]) == set(data["values_by"]) == {"cosine"}
    assert data["neighbours_by"]["cosine"] == inlined_data(every.read_text(encoding="utf-8"))["neighbours_by"]["cosine"]
    assert fewer.stat().st_size < every.stat().st_size
    with pytest.raises(SemspaceError, match="unknown measure"):
        semantic_map.build(db, corpus="tiny", out_path=tmp_path / "x.html", measures=["euclid"])
    with pytest.raises(SemspaceError, match="neighbor_measures"):
        semantic_map.build(db, corpus="tiny", out_path=tmp_path / "x.html", measures=["dice"])
