"""Image→image retrieval scores (analysis.evaluate) on hand-made rankings, mappings and warehouses."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pytest

from analysis import evaluate as ev
from semspace.errors import SemspaceError


def test_metrics_of_hand_made_rankings() -> None:
    ranked = np.array([
        [1, 0, 1, 0],  # R=2: AP@R = (1/2)(P@1·1 + P@2·0) = 1/2;            R-P = 1/2; hit at 1
        [0, 1, 0, 0],  # R=1: AP@R = (1/1)(P@1·0) = 0;                      R-P = 0;   first hit at 2
        [0, 1, 1, 1],  # R=3: AP@R = (1/3)(0 + 1/2 + 2/3) = 7/18;           R-P = 2/3; first hit at 2
        [0, 0, 1, 0],  # R=1: AP@R = 0;                                     R-P = 0;   first hit at 3
    ], dtype=bool)
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


def _tiny_warehouse(path: Path) -> None:
    """Four images with token sets {a,b}, {a,b,c}, {c,d}, {a,b,c,d}, COCO ids 100..103."""
    sets = [{"a", "b"}, {"a", "b", "c"}, {"c", "d"}, {"a", "b", "c", "d"}]
    with duckdb.connect(str(path)) as con:
        con.execute("create table corpora (corpus varchar, dataset varchar)")
        con.execute("insert into corpora values ('tiny', 'd')")
        con.execute("create table images (dataset varchar, image_id int, coco_id bigint)")
        con.executemany("insert into images values ('d', ?, ?)", [[i, 100 + i] for i in range(4)])
        con.execute("create table token_sets (corpus varchar, image_id int, token varchar)")
        con.executemany("insert into token_sets values ('tiny', ?, ?)", [[i, t] for i, s in enumerate(sets) for t in s])
        con.execute("create table set_sizes (corpus varchar, image_id int, n_tokens int)")
        con.executemany("insert into set_sizes values ('tiny', ?, ?)", [[i, len(s)] for i, s in enumerate(sets)])
        con.execute("create table image_pairs (corpus varchar, image_i int, image_j int, n_i int, n_j int, "
                    "n_intersection int, n_union int, symmetric_difference int, jaccard double)")
        for i in range(4):
            for j in range(i + 1, 4):
                a, b = sets[i], sets[j]
                con.execute("insert into image_pairs values ('tiny', ?, ?, ?, ?, ?, ?, ?, ?)",
                            [i, j, len(a), len(b), len(a & b), len(a | b), len(a ^ b), len(a & b) / len(a | b)])


def test_compute_on_a_tiny_warehouse(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    _tiny_warehouse(db)
    # query image 0 ({a,b}), positive image 3 ({a,b,c,d}). From image 0:
    #   symmetric difference: 1 → 1, 2 → 4, 3 → 2      → ranking 1, 3, 2: positive at 2
    #   jaccard:              1 → 2/3, 2 → 0, 3 → 1/2  → ranking 1, 3, 2: positive at 2
    #   overlap:              1 → 2/2, 2 → 0, 3 → 2/2  → tie 1 = 3, smaller id first: 1, 3, 2
    # so every measure has AP@R = 0, R@1 = 0, R@5 = 1
    with duckdb.connect(str(db), read_only=True) as con:
        rows = ev.compute(con, "tiny", positives={100: {103}})
    assert {r["measure"] for r in rows} == set(ev.MEASURES)
    values = {(r["measure"], r["metric"]): r["value"] for r in rows}
    for measure in ev.MEASURES:
        assert values[(measure, "map_at_r")] == 0.0
        assert values[(measure, "recall_at_1")] == 0.0
        assert values[(measure, "recall_at_5")] == 1.0
    assert all(r["n_queries"] == 1 for r in rows)
    # positive image 1 instead: first for every measure
    with duckdb.connect(str(db), read_only=True) as con:
        rows = ev.compute(con, "tiny", measures=["overlap", "dice"], positives={100: {101}})
    assert {r["value"] for r in rows if r["metric"] in ("map_at_r", "r_precision", "recall_at_1")} == {1.0}


def test_dense_matrix_load_matches_image_pairs(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    _tiny_warehouse(db)
    with duckdb.connect(str(db), read_only=True) as con:
        ids, _ = ev.load_images(con, "tiny")
        dice = ev.load_measure(con, "tiny", "dice", ids)
        overlap = ev.load_measure(con, "tiny", "overlap", ids)
    assert dice[0, 3] == dice[3, 0] == pytest.approx(2 * 2 / (2 + 4))
    assert overlap[1, 2] == pytest.approx(1 / 2)  # {a,b,c} ∩ {c,d} = {c}, min size 2


def _rows(corpus: str, value: float) -> list[dict]:
    now = dt.datetime(2026, 1, 1)
    return [{"corpus": corpus, "measure": "jaccard", "benchmark": ev.BENCHMARK, "metric": m, "value": value,
             "n_queries": 3, "computed_at": now} for m in ("map_at_r", "r_precision")]


def test_write_replaces_one_corpus(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        ev.write(con, "a", _rows("a", 0.1))
        ev.write(con, "b", _rows("b", 0.2))
        ev.write(con, "a", _rows("a", 0.3)[:1])
        got = con.execute("select corpus, metric, value from main.evaluation_scores order by corpus, metric").fetchall()
        columns = [c[0] for c in con.execute("describe main.evaluation_scores").fetchall()]
    assert got == [("a", "map_at_r", 0.3), ("b", "map_at_r", 0.2), ("b", "r_precision", 0.2)]
    other_measure = [{**row, "measure": "overlap"} for row in _rows("a", 0.9)]
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        ev.write(con, "a", other_measure)  # a run of another measure keeps jaccard's scores
        kept = con.execute("select measure, metric, value from main.evaluation_scores where corpus = 'a' "
                           "order by measure, metric").fetchall()
    assert kept == [("jaccard", "map_at_r", 0.3), ("overlap", "map_at_r", 0.9), ("overlap", "r_precision", 0.9)]
    assert columns == ["corpus", "image_scope", "measure", "benchmark", "metric", "value", "n_queries", "computed_at"]


def test_write_keeps_each_image_scope_and_upgrades_an_older_table(tmp_path: Path) -> None:
    """Scores of a corpus within another's images sit beside its own; a table written before
    image_scope existed gains the column, its rows scoped to their corpus."""
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create table main.evaluation_scores (corpus varchar, measure varchar, benchmark varchar, "
                    "metric varchar, value double, n_queries integer, computed_at timestamp)")
        con.execute("insert into main.evaluation_scores values ('a', 'jaccard', 'eccv_caption', 'map_at_r', 0.1, 3, now())")
        ev.write(con, "a", [{**row, "image_scope": "run"} for row in _rows("a", 0.5)])
        got = con.execute("select image_scope, metric, value from main.evaluation_scores order by all").fetchall()
        ev.write(con, "a", _rows("a", 0.2))  # scope a: replaces the old row, keeps scope run
        again = con.execute("select image_scope, metric, value from main.evaluation_scores order by all").fetchall()
    assert got == [("a", "map_at_r", 0.1), ("run", "map_at_r", 0.5), ("run", "r_precision", 0.5)]
    assert again == [("a", "map_at_r", 0.2), ("a", "r_precision", 0.2), ("run", "map_at_r", 0.5), ("run", "r_precision", 0.5)]


def _add_subset_corpus(path: Path, corpus: str, dataset: str, image_ids: list[int]) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("insert into corpora values (?, ?)", [corpus, dataset])
        con.executemany("insert into set_sizes values (?, ?, 1)", [[corpus, i] for i in image_ids])


def test_within_ranks_only_the_images_another_corpus_covers(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    _tiny_warehouse(db)
    _add_subset_corpus(db, "sub", "d", [0, 2, 3])
    _add_subset_corpus(db, "elsewhere", "e", [0])
    _add_subset_corpus(db, "wider", "d", [0, 7])
    # query image 0, positive 3; image 1 ({a,b,c}, the nearest under every measure) is not in sub:
    # among 2 and 3 the positive comes first (see test_compute_on_a_tiny_warehouse)
    with duckdb.connect(str(db), read_only=True) as con:
        within = ev.compute(con, "tiny", measures=["symmetric_difference", "jaccard"], positives={100: {103}},
                            within="sub")
        everywhere = ev.compute(con, "tiny", measures=["jaccard"], positives={100: {103}})
        with pytest.raises(SemspaceError, match="dataset 'e'"):
            ev.compute(con, "tiny", positives={100: {103}}, within="elsewhere")
        with pytest.raises(SemspaceError, match="1 image.*'tiny' lacks"):
            ev.compute(con, "tiny", positives={100: {103}}, within="wider")
        with pytest.raises(SemspaceError, match="no corpus 'nope'"):
            ev.compute(con, "tiny", positives={100: {103}}, within="nope")
    assert {(r["image_scope"], r["metric"], r["value"]) for r in within if r["metric"] == "map_at_r"} == {("sub", "map_at_r", 1.0)}
    assert [r["value"] for r in everywhere if r["metric"] == "map_at_r"] == [0.0]
    assert everywhere[0]["image_scope"] == "tiny"


def test_one_images_neighbours_follow_the_full_ranking(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    _tiny_warehouse(db)
    with duckdb.connect(str(db), read_only=True) as con:
        ids, _ = ev.load_images(con, "tiny")
        for measure, (_, larger_is_closer) in ev.MEASURES.items():
            matrix = ev.load_measure(con, "tiny", measure, ids)
            for image in range(4):
                row = np.delete(matrix[image], image)
                others = np.delete(ids, image)
                order = ev.rank(row[None, :], others, larger_is_closer)[0]
                got = ev.image_neighbours(con, "tiny", measure, image, k=3)
                assert [i for i, _ in got] == others[order].tolist(), (measure, image)
                assert [v for _, v in got] == pytest.approx(row[order].tolist())
        assert ev.image_neighbours(con, "tiny", "jaccard", 0, k=1) == [(1, pytest.approx(2 / 3))]


def test_one_images_positives(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    _tiny_warehouse(db)
    positives = {100: {101, 103, 999}, 101: {100}}  # 999: not in the corpus
    with duckdb.connect(str(db), read_only=True) as con:
        assert ev.image_positives(con, "tiny", 0, positives) == [1, 3]
        assert ev.image_positives(con, "tiny", 2, positives) is None  # not a query
        assert ev.query_images(con, "tiny", positives) == [0, 1]


def test_evaluate_writes_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "w.duckdb"
    _tiny_warehouse(db)
    monkeypatch.setattr(ev, "load_eccv", lambda: ({"100": [7], "102": [8]}, {"7": [101], "8": [103]}))
    rows = ev.evaluate(db, "tiny", measures=["jaccard"])
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute("select measure, benchmark, metric, n_queries from main.evaluation_scores "
                             "where corpus = 'tiny' order by metric").fetchall()
    assert len(rows) == len(stored) == 5
    assert {(s[0], s[1], s[3]) for s in stored} == {("jaccard", "eccv_caption", 2)}


def test_format_rows() -> None:
    text = ev.format_rows(_rows("a", 0.25))
    header, line = text.splitlines()
    assert header.split() == ["corpus", "measure", "map_at_r", "r_precision", "queries"]
    assert line.split() == ["a", "jaccard", "0.2500", "0.2500", "3"]
    assert ev.format_rows([]) == "no scores"


def test_idf_jaccard_matches_a_python_reference(tmp_path: Path) -> None:
    """Σ_{A∩B} ln(N/df) / Σ_{A∪B} ln(N/df), by plain Python sets."""
    import math

    db = tmp_path / "w.duckdb"
    _tiny_warehouse(db)
    sets = [{"a", "b"}, {"a", "b", "c"}, {"c", "d"}, {"a", "b", "c", "d"}]
    df = {t: sum(t in s for s in sets) for t in "abcd"}
    w = {t: math.log(4 / df[t]) for t in df}
    expected = np.zeros((4, 4))
    for i in range(4):
        for j in range(4):
            if i != j:
                union = sum(w[t] for t in sets[i] | sets[j])
                expected[i, j] = sum(w[t] for t in sets[i] & sets[j]) / union if union else 0.0
    with duckdb.connect(str(db), read_only=True) as con:
        got = ev.load_measure(con, "tiny", "idf_jaccard", np.arange(4))
    assert np.allclose(got, expected)
