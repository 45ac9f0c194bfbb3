"""Landmark MDS: exact where theory says so, and the same tables as full MDS."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse
from scipy.spatial import procrustes

import analysis
from analysis import landmark
from analysis.mds import classical_mds


def random_sets(n: int, vocabulary: int, seed: int) -> scipy.sparse.csr_matrix:
    """n random token sets over a Zipf-like vocabulary, as the N × V 0/1 matrix landmark MDS reads."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, vocabulary + 1)
    rows = []
    for _ in range(n):
        size = rng.integers(4, 20)
        rows.append(np.unique(rng.choice(vocabulary, size=size, p=weights / weights.sum())))
    indptr = np.cumsum([0] + [len(r) for r in rows])
    return scipy.sparse.csr_matrix(
        (np.ones(indptr[-1], dtype=np.float32), np.concatenate(rows), indptr), shape=(n, vocabulary)
    )


def planar_sets(n: int, seed: int) -> scipy.sparse.csr_matrix:
    """Token sets with a 2-D structure, like captions of scenes: tokens sit on a 12 × 12 grid, an
    image at a random place holds the tokens within a radius of it and a few random others."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(np.arange(12), np.arange(12)), axis=-1).reshape(-1, 2) / 11 * [2.0, 1.0]
    places = rng.uniform(size=(n, 2)) * [2.0, 1.0]
    near = np.linalg.norm(places[:, None, :] - grid[None, :, :], axis=-1) < 0.45
    noise = rng.uniform(size=near.shape) < 0.01
    return scipy.sparse.csr_matrix((near | noise).astype(np.float32))


def set_distances(matrix: scipy.sparse.csr_matrix) -> np.ndarray:
    """|A Δ B| by plain Python sets: the independent reference."""
    sets = [set(matrix.indices[matrix.indptr[i] : matrix.indptr[i + 1]].tolist()) for i in range(matrix.shape[0])]
    return np.array([[len(a ^ b) for b in sets] for a in sets], dtype=float)


def test_distances_to_landmarks_match_python_sets() -> None:
    matrix = random_sets(70, 50, seed=0)
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    landmarks = np.array([3, 10, 42, 69])
    blocks = list(landmark.distances_to(matrix, sizes, landmarks, chunk=16))
    assert len(blocks) == 5  # 70 rows in chunks of 16
    got = np.vstack([block for _, block in blocks])
    assert np.array_equal(got, set_distances(matrix)[:, landmarks])


@pytest.mark.parametrize("choice", ["random", "maxmin"])
def test_all_points_as_landmarks_is_classical_mds(choice: str) -> None:
    matrix = random_sets(120, 60, seed=1)
    full = classical_mds(set_distances(matrix), k=5)
    result = landmark.landmark_mds(matrix, k=5, n_landmarks=120, choice=choice)
    assert result.method == "landmark" and result.n_landmarks == 120
    assert np.allclose(result.eigenvalues, full.eigenvalues, atol=1e-8 * abs(full.eigenvalues).max())
    assert (result.n_positive, result.n_negative, result.n_zero) == (full.n_positive, full.n_negative, full.n_zero)
    for r in range(5):
        assert np.allclose(result.coordinates[:, r], full.coordinates[:, r], atol=1e-8) or np.allclose(
            result.coordinates[:, r], -full.coordinates[:, r], atol=1e-8
        ), f"axis {r + 1}"


def test_landmark_map_agrees_with_full_mds_from_a_third_of_the_points() -> None:
    matrix = planar_sets(600, seed=2)
    full = classical_mds(set_distances(matrix), k=2)
    assert full.n_negative > 0  # not Euclidean, like the real corpora
    result = landmark.landmark_mds(matrix, k=2, n_landmarks=200, seed=5)
    _, _, disparity = procrustes(full.coordinates, result.coordinates)
    assert disparity < 0.03


def test_chunking_and_seed() -> None:
    matrix = random_sets(300, 40, seed=3)
    one = landmark.landmark_mds(matrix, k=3, n_landmarks=50, seed=7, chunk=1000)
    many = landmark.landmark_mds(matrix, k=3, n_landmarks=50, seed=7, chunk=7)
    assert np.allclose(one.coordinates, many.coordinates)
    other = landmark.landmark_mds(matrix, k=3, n_landmarks=50, seed=8)
    assert not np.allclose(one.coordinates, other.coordinates)


def test_maxmin_picks_the_farthest_point_next() -> None:
    matrix = random_sets(80, 30, seed=4)
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    chosen = landmark.maxmin_landmarks(matrix, sizes, 6, seed=0)
    distances = set_distances(matrix)
    assert len(set(chosen.tolist())) == 6
    for r in range(1, 6):
        nearest = distances[:, chosen[:r]].min(axis=1)
        assert nearest[chosen[r]] == nearest.max()


def tiny_warehouse(path: Path, matrix: scipy.sparse.csr_matrix, corpus: str = "toy") -> None:
    rows, cols = matrix.nonzero()
    con = duckdb.connect(str(path))
    token_sets = pa.table(
        {
            "corpus": [corpus] * len(rows),
            "image_id": rows.astype(np.int32),
            "token": [f"t{c:03d}" for c in cols],
            "n_captions": np.ones(len(rows), dtype=np.int32),
        }
    )
    con.register("ts", token_sets)
    con.execute("create table token_sets as select * from ts")  # the mart's columns
    con.execute(
        "create table set_sizes as select corpus, image_id, count(*) as n_tokens, "
        "sum(n_captions)::integer as n_occurrences from token_sets group by corpus, image_id"
    )
    con.execute(f"create table corpora as select '{corpus}' as corpus")
    con.close()


def test_landmark_method_writes_the_same_tables(tmp_path: Path) -> None:
    matrix = random_sets(150, 50, seed=5)
    db = tmp_path / "w.duckdb"
    tiny_warehouse(db, matrix)
    analysis.mds("toy", db, k=3, method="landmark", n_landmarks=40)
    with duckdb.connect(str(db), read_only=True) as con:
        spectrum = con.execute(
            "select n_points, method, n_landmarks, n_eigenvalues, n_positive + n_negative + n_zero "
            "from computed.mds_spectrum"
        ).fetchone()
        assert spectrum == (150, "landmark", 40, 40, 40)
        assert con.execute("select count(distinct image_id), count(*) from computed.mds_coordinates").fetchone() == (
            150,
            450,
        )
        assert con.execute("select count(*) from computed.mds_eigenvalues").fetchone() == (40,)
