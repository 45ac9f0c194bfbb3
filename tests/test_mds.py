"""Classical MDS on metrics whose answer is known, and its tables."""

from __future__ import annotations

import itertools
from pathlib import Path

import duckdb
import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from analysis.mds import classical_mds, double_centre, write


def test_points_on_a_line_are_recovered() -> None:
    x = np.random.default_rng(0).normal(size=40)
    result = classical_mds(np.abs(x[:, None] - x[None, :]), k=3)
    assert (result.n_positive, result.n_zero, result.n_negative) == (1, 39, 0)
    centred = x - x.mean()
    axis = result.coordinates[:, 0]
    assert np.allclose(axis, centred) or np.allclose(axis, -centred)
    assert np.all(result.coordinates[:, 1:] == 0)  # no positive eigenvalue, no coordinate


def test_points_in_a_plane_keep_their_distances() -> None:
    points = np.random.default_rng(1).normal(size=(60, 2)) * [5, 1]
    distances = squareform(pdist(points))
    result = classical_mds(distances, k=4)
    assert (result.n_positive, result.n_negative) == (2, 0)
    assert np.allclose(squareform(pdist(result.coordinates[:, :2])), distances)
    assert result.eigenvalues[0] / result.sum_positive > 0.9  # the long axis first


def test_symmetric_difference_is_not_euclidean() -> None:
    """The note's point: set distances give negative eigenvalues; the spectrum still sums to trace(B)."""
    rng = np.random.default_rng(2)
    sets = [set(rng.choice(30, size=rng.integers(3, 12), replace=False).tolist()) for _ in range(80)]
    distances = np.array([[len(a ^ b) for b in sets] for a in sets], dtype=float)
    result = classical_mds(distances, k=5)
    assert result.n_negative > 0 and result.n_positive > 0
    assert result.n_zero >= 1  # the constant vector: J·1 = 0
    assert result.eigenvalues.sum() == pytest.approx(np.trace(double_centre(distances)))
    assert result.sum_positive - result.sum_abs_negative == pytest.approx(np.trace(double_centre(distances)))


def test_tables_replace_one_corpus(tmp_path: Path) -> None:
    """MDS writes computed.* only (the marts over them are dbt's: tests/test_small_warehouse.py), one
    corpus's rows replaced per run, with the contract's columns."""
    from semspace import contract

    rng = np.random.default_rng(3)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    for corpus, n in (("a", 12), ("b", 9), ("a", 10)):
        points = rng.normal(size=(n, 3))
        result = classical_mds(squareform(pdist(points)), k=4, corpus=corpus)
        write(con, result)
    rows = con.execute(
        "select corpus, count(distinct image_id), count(*) from computed.mds_coordinates "
        "group by corpus order by corpus"
    ).fetchall()
    assert rows == [("a", 10, 40), ("b", 9, 36)]
    spectrum = con.execute(
        "select corpus, n_points, n_positive, n_negative from computed.mds_spectrum order by corpus"
    ).fetchall()
    assert spectrum == [("a", 10, 3, 0), ("b", 9, 3, 0)]
    assert con.execute("select count(*) from computed.mds_eigenvalues where corpus = 'a'").fetchone() == (10,)
    for name in contract.MDS_TABLES:
        columns = [r[0] for r in con.execute(f"describe computed.{name}").fetchall()]
        assert tuple(columns) == contract.table(f"computed.{name}").column_names
    schemas = {r[0] for r in con.execute("select distinct schema_name from duckdb_tables()").fetchall()}
    assert schemas == {"computed"}  # nothing written anywhere else


@pytest.mark.parametrize("two_stage", [True, False])
def test_eigenvalues_only_matches_scipy(two_stage: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The values-only solver (LAPACK two-stage through ctypes, or its SciPy fallback) agrees with
    scipy.linalg.eigvalsh, on a symmetric matrix that is not positive definite."""
    import importlib

    import scipy.linalg

    mds = importlib.import_module("analysis.mds")  # the module: `analysis.mds` is also the function

    if two_stage:
        assert mds._two_stage_solver() is not None, "SciPy's OpenBLAS should carry LAPACKE_dsyevd_2stage"
    else:
        monkeypatch.setattr(mds, "_two_stage_solver", lambda: None)
    a = np.random.default_rng(4).normal(size=(257, 257))
    a = a + a.T
    values = mds.eigenvalues_only(a)
    assert np.all(np.diff(values) <= 0)
    assert np.allclose(values, scipy.linalg.eigvalsh(a)[::-1], atol=1e-10)
    assert np.array_equal(a, a.T)  # the input is left alone


@pytest.mark.parametrize("ids", [[0, 1, 2, 3], [3, 7, 10, 12]])
def test_load_distances_places_every_pair(ids: list[int], tmp_path: Path) -> None:
    """Contiguous ids (the usual 0-based positions) and sparse ones fill the same symmetric matrix."""
    from analysis.mds import load_distances

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create table set_sizes (corpus varchar, image_id integer, n_tokens integer, n_occurrences integer)")
    con.execute(
        "create table image_pairs (corpus varchar, image_i integer, image_j integer, symmetric_difference integer)"
    )
    con.executemany("insert into set_sizes values ('c', ?, 1, 1)", [[i] for i in ids])
    expected = np.zeros((4, 4))
    for (a, i), (b, j) in itertools.combinations(enumerate(ids), 2):
        expected[a, b] = expected[b, a] = 10 * a + b
        con.execute("insert into image_pairs values ('c', ?, ?, ?)", [i, j, 10 * a + b])
    got_ids, distances = load_distances(con, "c")
    assert got_ids.tolist() == ids
    assert np.array_equal(distances, expected)


def test_another_k_keeps_the_other_corpora(tmp_path: Path) -> None:
    """Coordinates are stored long (one row per image and axis): a run with another k replaces its
    own corpus's rows and leaves the others as they were."""
    rng = np.random.default_rng(5)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    write(con, classical_mds(squareform(pdist(rng.normal(size=(8, 3)))), k=4, corpus="a"))
    write(con, classical_mds(squareform(pdist(rng.normal(size=(6, 3)))), k=2, corpus="b"))
    rows = con.execute(
        "select corpus, count(distinct image_id), max(axis) from computed.mds_coordinates "
        "group by corpus order by corpus"
    ).fetchall()
    assert rows == [("a", 8, 4), ("b", 6, 2)]
    write(con, classical_mds(squareform(pdist(rng.normal(size=(6, 3)))), k=3, corpus="b"))
    rows = con.execute(
        "select corpus, count(distinct image_id), max(axis) from computed.mds_coordinates "
        "group by corpus order by corpus"
    ).fetchall()
    assert rows == [("a", 8, 4), ("b", 6, 3)]
