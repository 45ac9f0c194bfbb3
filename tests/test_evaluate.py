"""Image→image retrieval scores (analysis.evaluate, analysis.evaluation) on hand-made rankings and
mappings, and on a small dbt-built warehouse checked against plain-Python sets and rankings."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest
import yaml

import analysis.evaluation as eval_pkg
import ingest
from analysis import evaluate as ev
from analysis.evaluation import eccv
from semspace import contract, measures, warehouse
from semspace.errors import SemspaceError
from tests.dbt_helpers import REPO, dbt


def test_metrics_of_hand_made_rankings() -> None:
    ranked = np.array(
        [
            [1, 0, 1, 0],  # R=2: AP@R = (1/2)(P@1·1 + P@2·0) = 1/2;            R-P = 1/2; hit at 1
            [0, 1, 0, 0],  # R=1: AP@R = (1/1)(P@1·0) = 0;                      R-P = 0;   first hit at 2
            [0, 1, 1, 1],  # R=3: AP@R = (1/3)(0 + 1/2 + 2/3) = 7/18;           R-P = 2/3; first hit at 2
            [0, 0, 1, 0],  # R=1: AP@R = 0;                                     R-P = 0;   first hit at 3
        ],
        dtype=bool,
    )
    metrics = ev.retrieval_metrics(ranked, np.array([2, 1, 3, 1]), ks=(1, 2, 3))
    assert metrics["map_at_r"] == pytest.approx((1 / 2 + 0 + 7 / 18 + 0) / 4)  # = 2/9
    assert metrics["map_at_r"] == pytest.approx(2 / 9)
    assert metrics["r_precision"] == pytest.approx((1 / 2 + 0 + 2 / 3 + 0) / 4)  # = 7/24
    assert metrics["recall_at_1"] == pytest.approx(1 / 4)  # only the first query hits at rank 1
    assert metrics["recall_at_2"] == pytest.approx(3 / 4)  # all but the last
    assert metrics["recall_at_3"] == pytest.approx(1.0)


def test_r_counts_positives_the_ranking_misses() -> None:
    # R=4 but only 2 positives ranked, at 1 and 3: AP@R = (1/4)(1 + 2/3) = 5/12; R-P = 2/4
    metrics = ev.retrieval_metrics(np.array([[1, 0, 1, 0]], dtype=bool), np.array([4]), ks=(1,))
    assert metrics["map_at_r"] == pytest.approx(5 / 12)
    assert metrics["r_precision"] == pytest.approx(1 / 2)
    assert metrics["recall_at_1"] == 1.0


def test_perfect_ranking_scores_one() -> None:
    metrics = ev.retrieval_metrics(np.array([[1, 1, 0], [1, 0, 0]], dtype=bool), np.array([2, 1]), ks=(1,))
    assert metrics == {"map_at_r": 1.0, "r_precision": 1.0, "recall_at_1": 1.0}


def test_queries_without_positives_are_refused() -> None:
    with pytest.raises(ValueError):
        ev.retrieval_metrics(np.array([[0, 1]], dtype=bool), np.array([0]))


def test_positives_exclude_the_query_and_its_own_captions() -> None:
    image_to_caption = {"1": [11, 12, 13], "2": [21], "3": [11, 31]}
    caption_to_image = {"11": [1], "12": [2], "13": [5], "21": [2], "31": [3]}
    # q1: caption 11 is q1's own (dropped), 12 → image 2, 13 → image 5
    # q2: its only caption is its own → no positive → not a query
    # q3: caption 11 → image 1; caption 31 is q3's own
    expected = {1: {2, 5}, 3: {1}}
    assert ev.eccv_positives(image_to_caption, caption_to_image) == expected
    # int keys and scalar values give the same
    as_ints = {int(k): v for k, v in image_to_caption.items()}
    scalars = {int(k): v[0] for k, v in caption_to_image.items()}
    assert ev.eccv_positives(as_ints, scalars) == expected


def test_relevance_over_the_corpus_images() -> None:
    coco_ids = np.array([5, 1, 2, 3])  # position p holds COCO id coco_ids[p]
    rows, rel = ev.relevance_matrix({1: {2, 5, 99}, 3: {1}, 7: {1}, 2: {99}}, coco_ids)
    # 7 is not in the corpus; 2's only positive (99) is not either; 99 dropped from 1's
    assert rows.tolist() == [1, 3]
    assert rel.tolist() == [[True, False, True, False], [False, True, False, False]]


def test_ties_go_to_the_smaller_image_id() -> None:
    assert ev.rank(np.array([[1.0, 1.0, 0.0]]), np.array([5, 3, 9]), larger_is_closer=True).tolist() == [[1, 0, 2]]
    assert ev.rank(np.array([[1.0, 1.0, 0.0]]), np.array([5, 3, 9]), larger_is_closer=False).tolist() == [[2, 1, 0]]
    ids = np.array([10, 20, 30, 40])
    distances = np.array([[0, 2, 1, 1], [2, 0, 3, 3], [1, 3, 0, 0], [1, 3, 0, 0]], dtype=float)
    # query 10: 30 and 40 tie at distance 1 → 30, 40, 20 (the query itself is not ranked)
    first = ev.score_matrix(distances, ids, np.array([0]), np.array([[False, False, True, False]]), False, ks=(1,))
    assert (first["map_at_r"], first["recall_at_1"]) == (1.0, 1.0)
    second = ev.score_matrix(distances, ids, np.array([0]), np.array([[False, False, False, True]]), False, ks=(1, 2))
    assert (second["map_at_r"], second["recall_at_1"], second["recall_at_2"]) == (0.0, 0.0, 1.0)
    # the same as a similarity: the query's own (largest) score must not put it first
    similarity = 10 - distances
    again = ev.score_matrix(similarity, ids, np.array([0]), np.array([[True, False, False, True]]), True, ks=(1, 2))
    assert (again["map_at_r"], again["recall_at_1"], again["recall_at_2"]) == (0.0, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# a dbt-built warehouse: ingest + `dbt build`, so that the marts (image_pairs with every measure,
# images, image_captions, evaluation_scores over computed.evaluation_scores) are dbt's own

# image 0..3 of dataset `tiny` (COCO ids 100..103): token sets {cat,dog}, {cat,dog,sun}, {sun,tree},
# {cat,dog,sun,tree}; as multisets (n_captions per token) image 0 holds cat and dog twice (two
# captions), the others each token once; the dataset `other` (COCO ids 200, 201) is a corpus of
# another dataset
TINY_CAPTIONS = [["cat dog", "dog cat"], ["cat dog sun"], ["sun tree"], ["cat dog sun tree"]]
TINY_SETS = [{"cat", "dog"}, {"cat", "dog", "sun"}, {"sun", "tree"}, {"cat", "dog", "sun", "tree"}]
TINY_COUNTS = [
    {t: sum(t in c.split() for c in captions) for t in {t for c in captions for t in c.split()}}
    for captions in TINY_CAPTIONS
]
assert [set(c) for c in TINY_COUNTS] == TINY_SETS and TINY_COUNTS[0] == {"cat": 2, "dog": 2}
OTHER_CAPTIONS = [["a bird"], ["a fish"]]
_BUILT: dict[str, Path] = {}  # one build per test process, shared by every module importing the fixture


def _blip(path: Path, captions: list[list[str]], first_coco_id: int) -> Path:
    records = [
        {"image": f"val2014/COCO_val2014_{first_coco_id + i:012d}.jpg", "caption": c} for i, c in enumerate(captions)
    ]
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def _tiny_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if "tiny" not in _BUILT:
        work = tmp_path_factory.mktemp("evaluation_tiny")
        db = work / "warehouse.duckdb"
        ingest.load(_blip(work / "tiny.json", TINY_CAPTIONS, 100), db, name="tiny")
        ingest.load(_blip(work / "other.json", OTHER_CAPTIONS, 200), db, name="other")
        dbt(["build"], db, work)
        _BUILT["tiny"] = db
    return _BUILT["tiny"]


@pytest.fixture()
def tiny(_tiny_template: Path, tmp_path: Path) -> Path:
    """A dbt-built warehouse of the test's own: corpora tiny (and its variants tiny-concept,
    tiny-lemma, tiny-nostop) over dataset tiny, other (and other-concept, other-lemma, other-nostop)
    over dataset other."""
    db = tmp_path / "warehouse.duckdb"
    shutil.copyfile(_tiny_template, db)
    return db


def _cosine_idf_exponent() -> float:
    """α of the cosine's weights n_captions · idf^α: the project's default (dbt_project.yml)."""
    project = yaml.safe_load((REPO / "dbt_project.yml").read_text(encoding="utf-8"))
    return float(project["vars"]["cosine_idf_exponent"])


def _reference_matrix(measure: str, counts: list[dict[str, int]]) -> np.ndarray:
    """The measure of every pair by plain Python sets and counts (token → n_captions of the image;
    idf = ln(N / df), N images; the cosine's vector a_t · idf_t^α)."""
    sets = [set(c) for c in counts]
    n = len(sets)
    df = {t: sum(t in s for s in sets) for t in set().union(*sets)}
    w = {t: math.log(n / df[t]) for t in df}
    alpha = _cosine_idf_exponent()
    out = np.zeros((n, n))
    for i, j in itertools.permutations(range(n), 2):
        a, b = sets[i], sets[j]
        ca, cb = counts[i], counts[j]
        if measure == "symmetric_difference":
            out[i, j] = len(a ^ b)
        elif measure == "jaccard":
            out[i, j] = len(a & b) / len(a | b)
        elif measure == "dice":
            out[i, j] = 2 * len(a & b) / (len(a) + len(b))
        elif measure == "overlap":
            out[i, j] = len(a & b) / min(len(a), len(b))
        elif measure == "idf_jaccard":
            out[i, j] = sum(w[t] for t in a & b) / sum(w[t] for t in a | b)
        elif measure == "multiset_symmetric_difference":
            out[i, j] = sum(abs(ca.get(t, 0) - cb.get(t, 0)) for t in a | b)
        elif measure == "weighted_jaccard":
            low = sum(min(ca.get(t, 0) * w[t], cb.get(t, 0) * w[t]) for t in a | b)
            high = sum(max(ca.get(t, 0) * w[t], cb.get(t, 0) * w[t]) for t in a | b)
            out[i, j] = low / high if high else 0.0
        else:
            assert measure == "cosine", measure
            va = {t: ca[t] * w[t] ** alpha for t in a}
            vb = {t: cb[t] * w[t] ** alpha for t in b}
            norms = math.sqrt(sum(v * v for v in va.values())) * math.sqrt(sum(v * v for v in vb.values()))
            out[i, j] = sum(va[t] * vb[t] for t in a & b) / norms if norms else 0.0
    return out


def _reference_scores(
    matrix: np.ndarray, larger_is_closer: bool, positives: dict[int, set[int]], ks: tuple[int, ...] = ev.RECALL_KS
) -> dict[str, float]:
    """mAP@R, R-Precision, Recall@K by plain Python loops (image i has COCO id 100 + i), and mAP@R
    and R-Precision over each half of the queries: half A the even COCO ids, half B the odd ones."""
    n = len(matrix)
    per_query = []
    halves = []
    for q, pos in sorted(positives.items()):
        relevant = {c - 100 for c in pos} - {q - 100}
        others = sorted(
            (i for i in range(n) if i != q - 100),
            key=lambda i: (-matrix[q - 100, i] if larger_is_closer else matrix[q - 100, i], i),
        )
        r = len(relevant)
        hits, ap = 0, 0.0
        for position, image in enumerate(others[:r], start=1):
            if image in relevant:
                hits += 1
                ap += hits / position
        per_query.append(
            {
                "map_at_r": ap / r,
                "r_precision": hits / r,
                **{f"recall_at_{k}": float(any(i in relevant for i in others[:k])) for k in ks},
            }
        )
        halves.append("half_a" if q % 2 == 0 else "half_b")
    scores = {m: sum(p[m] for p in per_query) / len(per_query) for m in per_query[0]}
    for half in ("half_a", "half_b"):
        part = [p for p, h in zip(per_query, halves) if h == half]
        if part:  # a half without a query has no score
            for m in ("map_at_r", "r_precision"):
                scores[f"{m}_{half}"] = sum(p[m] for p in part) / len(part)
    return scores


def test_compute_on_a_tiny_warehouse(tiny: Path) -> None:
    # query image 0 ({cat,dog}), positive image 3 ({cat,dog,sun,tree}). From image 0:
    #   symmetric difference: 1 → 1, 2 → 4, 3 → 2      → ranking 1, 3, 2: positive at 2
    #   jaccard:              1 → 2/3, 2 → 0, 3 → 1/2  → ranking 1, 3, 2: positive at 2
    #   overlap:              1 → 2/2, 2 → 0, 3 → 2/2  → tie 1 = 3, smaller id first: 1, 3, 2
    #   idf_jaccard:          1 → 2/3, 2 → 0, 3 → 0.37 → ranking 1, 3, 2
    #   multiset sym. diff.:  1 → 1+1+1 = 3, 2 → 2+2+1+1 = 6, 3 → 1+1+1+1 = 4 → ranking 1, 3, 2
    #   weighted_jaccard:     1 → 2w/5w = 0.4, 2 → 0, 3 → 2w/(5w + ln 2) = 0.27 (w = ln 4/3) → 1, 3, 2
    #   cosine (α = 0.25):    1 → 4/(2√6) = 0.82, 2 → 0, 3 → 0.66 → ranking 1, 3, 2
    # so every measure has AP@R = 0, R@1 = 0, R@5 = 1
    with duckdb.connect(str(tiny), read_only=True) as con:
        rows = ev.compute(con, "tiny", positives={100: {103}})
    assert {r["measure"] for r in rows} == set(ev.MEASURES) == set(measures.MEASURES)
    values = {(r["measure"], r["metric"]): r["value"] for r in rows}
    for measure in ev.MEASURES:
        assert values[(measure, "map_at_r")] == 0.0
        assert values[(measure, "recall_at_1")] == 0.0
        assert values[(measure, "recall_at_5")] == 1.0
        # the only query (COCO 100) is even: half A is all of it, half B has no query and no row
        assert values[(measure, "map_at_r_half_a")] == values[(measure, "map_at_r")]
        assert values[(measure, "r_precision_half_a")] == values[(measure, "r_precision")]
        assert {metric for m, metric in values if m == measure} == {
            "map_at_r",
            "r_precision",
            *(f"recall_at_{k}" for k in ev.RECALL_KS),
            "map_at_r_half_a",
            "r_precision_half_a",
        }
    assert all(r["n_queries"] == 1 and r["image_scope"] == "tiny" and r["benchmark"] == ev.BENCHMARK for r in rows)
    assert len({r["computed_at"] for r in rows}) == 1
    # positive image 1 instead: first for every measure
    with duckdb.connect(str(tiny), read_only=True) as con:
        rows = ev.compute(con, "tiny", measures=["overlap", "dice"], positives={100: {101}})
    assert {r["value"] for r in rows if r["metric"] in ("map_at_r", "r_precision", "recall_at_1")} == {1.0}
    with (
        duckdb.connect(str(tiny), read_only=True) as con,
        pytest.raises(SemspaceError, match="unknown measure.*euclidean"),
    ):
        ev.compute(con, "tiny", measures=["euclidean"], positives={100: {101}})


def test_the_marts_measures_match_plain_python_sets(tiny: Path) -> None:
    """What the evaluation ranks by (dbt's image_pairs, every measure asked for by name) against the
    formulas on plain Python sets and counts, every pair present (no measure has absent pairs)."""
    with duckdb.connect(str(tiny), read_only=True) as con:
        ids, coco = eval_pkg.corpus_images(con, "tiny")
        assert ids.tolist() == [0, 1, 2, 3] and coco.tolist() == [100, 101, 102, 103]
        assert con.execute("select count(*) from image_pairs where corpus = 'tiny'").fetchone() == (6,)
        for measure in ev.MEASURES:
            got = warehouse.measure_matrix(con, "tiny", measure, ids)
            assert np.allclose(got, _reference_matrix(measure, TINY_COUNTS)), measure
        # all measures of the mart in one read give the same matrices
        together = warehouse.measure_matrices(con, "tiny", list(ev.MEASURES), ids)
        assert list(together) == list(ev.MEASURES)
        for measure, matrix in together.items():
            assert np.array_equal(matrix, warehouse.measure_matrix(con, "tiny", measure, ids)), measure


def test_scores_match_a_plain_python_ranking(tiny: Path) -> None:
    """compute() against plain-Python ranking and metrics over the plain-Python measures: three
    queries, R = 1 and R = 2, positives of the other dataset dropped; half A (COCO 100, 102) and
    half B (101) scored apart."""
    positives = {100: {103, 102}, 101: {100, 200}, 102: {101}}
    with duckdb.connect(str(tiny), read_only=True) as con:
        rows = ev.compute(con, "tiny", positives=positives)
    inside = {q: {c for c in pos if 100 <= c <= 103} for q, pos in positives.items()}
    for measure, m in measures.MEASURES.items():
        want = _reference_scores(_reference_matrix(measure, TINY_COUNTS), m.larger_is_closer, inside)
        got = {r["metric"]: r["value"] for r in rows if r["measure"] == measure}
        assert {"map_at_r_half_a", "r_precision_half_a", "map_at_r_half_b", "r_precision_half_b"} <= set(want)
        assert got == pytest.approx(want), measure
    assert {r["n_queries"] for r in rows} == {3}


def _rows(corpus: str, value: float) -> list[dict]:
    now = dt.datetime(2026, 1, 1)
    return [
        {
            "corpus": corpus,
            "measure": "jaccard",
            "benchmark": ev.BENCHMARK,
            "metric": m,
            "value": value,
            "n_queries": 3,
            "computed_at": now,
        }
        for m in ("map_at_r", "r_precision")
    ]


def test_write_replaces_one_corpus(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:  # an empty file: the table comes from the contract
        ev.write(con, "a", _rows("a", 0.1))
        ev.write(con, "b", _rows("b", 0.2))
        ev.write(con, "a", _rows("a", 0.3)[:1])
        got = con.execute(
            "select corpus, metric, value from computed.evaluation_scores order by corpus, metric"
        ).fetchall()
        columns = [c[0] for c in con.execute("describe computed.evaluation_scores").fetchall()]
        in_main = con.execute("select count(*) from information_schema.tables where table_schema = 'main'").fetchone()
    assert got == [("a", "map_at_r", 0.3), ("b", "map_at_r", 0.2), ("b", "r_precision", 0.2)]
    other_measure = [{**row, "measure": "overlap"} for row in _rows("a", 0.9)]
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        ev.write(con, "a", other_measure)  # a run of another measure keeps jaccard's scores
        kept = con.execute(
            "select measure, metric, value from computed.evaluation_scores where corpus = 'a' order by measure, metric"
        ).fetchall()
    assert kept == [("jaccard", "map_at_r", 0.3), ("overlap", "map_at_r", 0.9), ("overlap", "r_precision", 0.9)]
    assert tuple(columns) == contract.table("computed.evaluation_scores").column_names
    assert in_main == (0,)  # Python writes only into the computed schema; dbt owns main


def test_write_keeps_each_image_scope(tmp_path: Path) -> None:
    """Scores of a corpus within another's images sit beside its own."""
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        ev.write(con, "a", [{**row, "image_scope": "run"} for row in _rows("a", 0.5)])
        ev.write(con, "a", _rows("a", 0.1))  # no image_scope: the corpus's own
        got = con.execute("select image_scope, metric, value from computed.evaluation_scores order by all").fetchall()
        ev.write(con, "a", _rows("a", 0.2))  # scope a: replaces its rows, keeps scope run
        again = con.execute("select image_scope, metric, value from computed.evaluation_scores order by all").fetchall()
        with pytest.raises(ValueError, match="another corpus"):
            ev.write(con, "a", _rows("b", 0.7))
        with pytest.raises(SemspaceError, match="nothing was changed"):  # the same key twice: all or nothing
            ev.write(con, "a", _rows("a", 0.8) + _rows("a", 0.9))
        unchanged = con.execute(
            "select image_scope, metric, value from computed.evaluation_scores order by all"
        ).fetchall()
    assert got == [
        ("a", "map_at_r", 0.1),
        ("a", "r_precision", 0.1),
        ("run", "map_at_r", 0.5),
        ("run", "r_precision", 0.5),
    ]
    assert (
        again
        == unchanged
        == [("a", "map_at_r", 0.2), ("a", "r_precision", 0.2), ("run", "map_at_r", 0.5), ("run", "r_precision", 0.5)]
    )


def _add_subset_corpus(path: Path, corpus: str, dataset: str, image_ids: list[int]) -> None:
    """A corpus over some images of a dataset (as an association run is), added to the marts."""
    with duckdb.connect(str(path)) as con:
        con.execute(
            "insert into corpora (corpus, corpus_id, kind, dataset) "
            "values (?, (select max(corpus_id) + 1 from corpora), 'associations', ?)",
            [corpus, dataset],
        )
        con.executemany(
            "insert into set_sizes (corpus, image_id, n_tokens, n_occurrences) values (?, ?, 1, 1)",
            [[corpus, i] for i in image_ids],
        )


def test_within_ranks_only_the_images_another_corpus_covers(tiny: Path) -> None:
    _add_subset_corpus(tiny, "sub", "tiny", [0, 2, 3])
    _add_subset_corpus(tiny, "wider", "tiny", [0, 7])
    # query image 0, positive 3; image 1 ({cat,dog,sun}, the nearest under every measure) is not in
    # sub: among 2 and 3 the positive comes first (see test_compute_on_a_tiny_warehouse)
    with duckdb.connect(str(tiny), read_only=True) as con:
        within = ev.compute(
            con,
            "tiny",
            measures=["symmetric_difference", "jaccard", "idf_jaccard"],
            positives={100: {103}},
            within="sub",
        )
        everywhere = ev.compute(con, "tiny", measures=["jaccard"], positives={100: {103}})
        with pytest.raises(SemspaceError, match="dataset 'other'"):
            ev.compute(con, "tiny", positives={100: {103}}, within="other")
        with pytest.raises(SemspaceError, match="1 image.*'tiny' lacks"):
            ev.compute(con, "tiny", positives={100: {103}}, within="wider")
        with pytest.raises(SemspaceError, match="no corpus 'nope'"):
            ev.compute(con, "tiny", positives={100: {103}}, within="nope")
        with pytest.raises(SemspaceError, match="no corpus 'nope'"):
            ev.compute(con, "nope", positives={100: {103}})
    assert {(r["image_scope"], r["metric"], r["value"]) for r in within if r["metric"] == "map_at_r"} == {
        ("sub", "map_at_r", 1.0)
    }
    assert [r["value"] for r in everywhere if r["metric"] == "map_at_r"] == [0.0]
    assert everywhere[0]["image_scope"] == "tiny"


def test_one_images_neighbours_follow_the_evaluation_ranking(tiny: Path) -> None:
    """warehouse.neighbours (what the report lists) ranks as the evaluation does."""
    with duckdb.connect(str(tiny), read_only=True) as con:
        ids = warehouse.image_ids(con, "tiny")
        for measure, m in measures.MEASURES.items():
            matrix = warehouse.measure_matrix(con, "tiny", measure, ids)
            for image in range(4):
                row = np.delete(matrix[image], image)
                others = np.delete(ids, image)
                order = ev.rank(row[None, :], others, m.larger_is_closer)[0]
                got = warehouse.neighbours(con, "tiny", image, measure, k=3)
                assert [n.image_id for n in got] == others[order].tolist(), (measure, image)
                assert [n.value for n in got] == pytest.approx(row[order].tolist())
        assert [(n.rank, n.image_id, n.value) for n in warehouse.neighbours(con, "tiny", 0, "jaccard", k=1)] == [
            (1, 1, pytest.approx(2 / 3))
        ]


def test_one_images_positives(tiny: Path) -> None:
    positives = {100: {101, 103, 999}, 101: {100}}  # 999: not in the corpus
    with duckdb.connect(str(tiny), read_only=True) as con:
        assert ev.image_positives(con, "tiny", 0, positives) == [1, 3]
        assert ev.image_positives(con, "tiny", 2, positives) is None  # not a query
        assert ev.query_images(con, "tiny", positives) == [0, 1]


def test_evaluate_writes_the_table_the_mart_shows(
    tiny: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # queries COCO 100 (even: half A) and 103 (odd: half B)
    monkeypatch.setattr(eccv, "load_eccv", lambda: ({"100": [7], "103": [8]}, {"7": [101], "8": [102]}))
    rows = ev.evaluate(tiny, "tiny", measures=["jaccard"])
    with duckdb.connect(str(tiny), read_only=True) as con:
        stored = con.execute(
            "select measure, benchmark, metric, n_queries from evaluation_scores where corpus = 'tiny' order by metric"
        ).fetchall()
        computed = con.execute("select count(*) from computed.evaluation_scores").fetchone()
    metrics = {
        "map_at_r",
        "r_precision",
        *(f"recall_at_{k}" for k in ev.RECALL_KS),
        *(f"{m}_half_{h}" for m in ("map_at_r", "r_precision") for h in ("a", "b")),
    }
    assert len(rows) == len(stored) == computed[0] == len(metrics) == 9
    assert {s[2] for s in stored} == metrics
    assert {(s[0], s[1], s[3]) for s in stored} == {("jaccard", "eccv_caption", 2)}
    # the command line: every measure, printed as format_rows prints them
    from analysis.__main__ import main

    assert main(["evaluate", "--db", str(tiny), "--corpus", "tiny", "--corpus", "tiny-nostop"]) == 0
    out = capsys.readouterr().out
    assert out.count("idf_jaccard") == 2 and "tiny-nostop" in out
    with duckdb.connect(str(tiny), read_only=True) as con:
        by_corpus = con.execute(
            "select corpus, count(*) from evaluation_scores group by corpus order by corpus"
        ).fetchall()
    assert by_corpus == [("tiny", 9 * len(measures.MEASURES)), ("tiny-nostop", 9 * len(measures.MEASURES))]


def test_an_unbuilt_warehouse_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    ingest.load(_blip(tmp_path / "tiny.json", TINY_CAPTIONS, 100), db, name="tiny")  # no dbt build
    with (
        duckdb.connect(str(db), read_only=True) as con,
        pytest.raises(SemspaceError, match="no mart 'corpora'.*dbt build"),
    ):
        ev.compute(con, "tiny", positives={100: {103}})


def test_format_rows() -> None:
    text = ev.format_rows(_rows("a", 0.25))
    header, line = text.splitlines()
    assert header.split() == ["corpus", "measure", "map_at_r", "r_precision", "queries"]
    assert line.split() == ["a", "jaccard", "0.2500", "0.2500", "3"]
    assert ev.format_rows([]) == "no scores"
    scoped = ev.format_rows([{**r, "image_scope": "run"} for r in _rows("a", 0.5)])
    assert scoped.splitlines()[1].split()[:4] == ["a", "within", "run", "jaccard"]


def test_the_evaluation_writes_no_sql_formula_of_its_own() -> None:
    """The measures are dbt's (semspace.measures by name); the evaluation's modules spell none."""
    import inspect

    import analysis.dense
    import analysis.evaluate
    from analysis.evaluation import metrics, store

    for module in (analysis.evaluate, analysis.dense, eccv, metrics, store):
        source = inspect.getsource(module).lower()
        for fragment in ("n_intersection", "token_sets", "least(", "ln(", "raw.captions", "from image_pairs"):
            assert fragment not in source, (module.__name__, fragment)
