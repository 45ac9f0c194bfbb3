"""The note's COCO results, reproduced by `python -m ingest` + `dbt build` on the shared split,
and the marts checked against an independent Python/scipy implementation."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from tests import reference
from tests.dbt_helpers import SHARED_CAPTIONS, compiled_sql


@pytest.fixture(scope="module")
def sets() -> list[set[str]]:
    return reference.blip_token_sets(SHARED_CAPTIONS)


def test_corpus_summary_matches_table_1(con: duckdb.DuckDBPyConnection) -> None:
    row = con.execute(
        "select n_images, n_captions, n_distinct_tokens, n_tokens, n_caption_chars, "
        "round(mean_caption_chars, 1), round(mean_tokens, 1) from corpus_summary where corpus = 'coco'"
    ).fetchone()
    # The note prints 138627 tokens and 1310066 characters from a slightly different caption copy.
    assert row == (5000, 25010, 7254, 138625, 1310225, 262.0, 27.7)


def test_corpus_summary_matches_reference(con: duckdb.DuckDBPyConnection, sets: list[set[str]]) -> None:
    n_tokens, n_distinct = con.execute(
        "select n_tokens, n_distinct_tokens from corpus_summary where corpus = 'coco'"
    ).fetchone()
    assert n_tokens == sum(len(s) for s in sets)
    assert n_distinct == len(set().union(*sets))


def test_neighbors_of_image_100_match_table_2(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute("""
        select n.neighbor_id, n.symmetric_difference, i.coco_id
        from image_neighbors as n
        inner join images as i on i.dataset = 'coco' and i.image_id = n.neighbor_id
        where n.corpus = 'coco' and n.measure = 'symmetric_difference' and n.image_id = 100
        order by n.rank
        limit 5
    """).fetchall()
    assert rows == [(82, 23, 507065), (2353, 24, 381051), (1725, 25, 27570), (1876, 25, 357096), (4065, 25, 286981)]


def test_neighbors_analysis_compiles_and_runs(coco_build, con: duckdb.DuckDBPyConnection) -> None:
    """The ad-hoc analysis a user runs: the neighbours of one image with captions."""
    _, work = coco_build
    sql = compiled_sql(work, "neighbors_of_image", folder="analyses")
    rows = con.execute(sql).fetchall()
    # rank, value, symmetric_difference, image_id, coco_id, url, captions
    assert [(r[0], r[2], r[3], r[4]) for r in rows[:4]] == [
        (0, 0, 100, 473237),
        (1, 23, 82, 507065),
        (2, 24, 2353, 381051),
        (3, 25, 1725, 27570),
    ]
    assert [r[1] for r in rows[1:4]] == [23.0, 24.0, 25.0]
    assert rows[0][6].startswith("A young girl eating a slice of pizza.")
    assert rows[0][5] == "http://images.cocodataset.org/val2014/COCO_val2014_000000473237.jpg"


def test_neighbors_match_reference(con: duckdb.DuckDBPyConnection, sets: list[set[str]]) -> None:
    rng = np.random.default_rng(7)
    for image in [0, 100, 4999, *rng.choice(5000, size=12, replace=False).tolist()]:
        rows = con.execute(
            "select neighbor_id, symmetric_difference from image_neighbors "
            "where corpus = 'coco' and measure = 'symmetric_difference' and image_id = ? order by rank",
            [image],
        ).fetchall()
        assert rows == reference.neighbors(sets, image, 10), f"image {image}"


def test_pair_summary(con: duckdb.DuckDBPyConnection) -> None:
    row = con.execute("""
        select n_pairs, min_symmetric_difference, max_symmetric_difference, min_intersection,
               max_intersection, min_union, max_union, round(corr_symmetric_difference_intersection, 3)
        from pair_summary where corpus = 'coco'
    """).fetchone()
    assert row == (12_497_500, 7, 95, 0, 22, 21, 101, -0.201)


def test_all_pairs_equal_scipy(con: duckdb.DuckDBPyConnection, sets: list[set[str]]) -> None:
    """Every one of the 12.5M intersections equals scipy's X·Xᵀ on independently tokenized sets."""
    gram = reference.intersection_matrix(sets)
    pairs = con.execute(
        "select image_i, image_j, n_i, n_j, n_intersection from image_pairs where corpus = 'coco'"
    ).fetchnumpy()
    i, j = pairs["image_i"], pairs["image_j"]
    assert len(i) == 5000 * 4999 // 2
    assert np.all(i < j)
    sizes = np.diag(gram)
    np.testing.assert_array_equal(pairs["n_intersection"], gram[i, j])
    np.testing.assert_array_equal(pairs["n_i"], sizes[i])
    np.testing.assert_array_equal(pairs["n_j"], sizes[j])


def test_random_pairs_equal_python_sets(con: duckdb.DuckDBPyConnection, sets: list[set[str]]) -> None:
    """All measures of 20,000 random pairs against Python set arithmetic (the note's own way)."""
    rng = np.random.default_rng(2024)
    a = rng.integers(0, 5000, size=25_000)
    b = rng.integers(0, 5000, size=25_000)
    keep = a != b
    i, j = np.minimum(a, b)[keep][:20_000], np.maximum(a, b)[keep][:20_000]
    con.execute(
        "create temp table wanted as select * from (select unnest(?) as image_i, unnest(?) as image_j)",
        [i.tolist(), j.tolist()],
    )
    rows = con.execute("""
        select w.image_i, w.image_j, p.n_i, p.n_j, p.n_intersection, p.n_union, p.symmetric_difference, p.jaccard
        from wanted as w
        inner join image_pairs as p on p.corpus = 'coco' and p.image_i = w.image_i and p.image_j = w.image_j
    """).fetchall()
    assert len(rows) == len(i)
    for image_i, image_j, n_i, n_j, n_inter, n_union, sym_diff, jaccard in rows:
        a_set, b_set = sets[image_i], sets[image_j]
        assert (n_i, n_j) == (len(a_set), len(b_set))
        assert n_inter == len(a_set & b_set)
        assert n_union == len(a_set | b_set)
        assert sym_diff == len(a_set ^ b_set)
        assert jaccard == pytest.approx(len(a_set & b_set) / len(a_set | b_set))


def test_semspace_neighbors_prints_table_2_with_captions(coco_db: Path) -> None:
    """`semspace neighbors 100`: the note's Table 2 with captions, read straight from the marts."""
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("semspace")
    out = subprocess.run(
        [str(exe), "neighbors", "100", "--db", str(coco_db), "-k", "5"], capture_output=True, text=True, check=True
    ).stdout
    lines = out.splitlines()
    assert lines[0].startswith("image 100 of corpus coco (COCO 473237")
    assert "A young girl eating a slice of pizza." in out
    ranked = [line.split()[:3] for line in lines if line[:4].strip().isdigit()]
    assert ranked == [
        ["1", "82", "23"],
        ["2", "2353", "24"],
        ["3", "1725", "25"],
        ["4", "1876", "25"],
        ["5", "4065", "25"],
    ]
    by_jaccard = subprocess.run(
        [str(exe), "neighbors", "100", "--db", str(coco_db), "--measure", "jaccard", "-k", "3", "--captions", "0"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "jaccard" in by_jaccard.splitlines()[1]
