"""Classical MDS of the COCO space: the note's spectrum, and the top-2 axes against full eigh."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest
import scipy.linalg
from scipy.spatial import procrustes

import analysis
from analysis import landmark
from analysis.mds import double_centre, load_distances


@pytest.fixture(scope="module")
def coco_mds(coco_db: Path, tmp_path_factory: pytest.TempPathFactory):
    copy = tmp_path_factory.mktemp("mds") / "warehouse.duckdb"
    shutil.copy(coco_db, copy)
    return copy, analysis.mds("coco", copy, k=10, method="auto")


def test_spectrum_matches_the_note(coco_mds) -> None:
    db, result = coco_mds
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            "select n_points, n_positive, n_zero, n_negative, round(axis_share_1 + axis_share_2, 3) "
            "from mds_spectrum where corpus = 'coco'"
        ).fetchone()
        n_coordinates = con.execute("select count(*) from mds_coordinates where corpus = 'coco'").fetchone()[0]
    # The note's 1266 "positive" eigenvalues are 1265 positive + the exact zero of the constant
    # vector, which floating point puts a hair above or below 0.
    assert row == (5000, 1265, 1, 3734, 0.055)
    assert row[1] + row[2] == 1266
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select n_nonnegative from mds_spectrum where corpus = 'coco'").fetchone() == (1266,)
    assert n_coordinates == 5000


def test_top_two_axes_equal_full_eigh(coco_mds, coco_db: Path) -> None:
    _, result = coco_mds
    with duckdb.connect(str(coco_db), read_only=True) as con:
        _, distances = load_distances(con, "coco", source="pairs")  # image_pairs: MDS itself takes the kernel's
    values, vectors = scipy.linalg.eigh(double_centre(distances))
    assert np.allclose(result.eigenvalues, values[::-1], atol=1e-6 * abs(values).max())
    for r in range(2):
        full = vectors[:, -1 - r] * np.sqrt(values[-1 - r])
        ours = result.coordinates[:, r]
        assert np.allclose(ours, full, atol=1e-8) or np.allclose(ours, -full, atol=1e-8), f"axis {r + 1}"


def test_the_marts_hold_the_result(coco_mds) -> None:
    """The marts (dbt views over computed.mds_*) show exactly what MDS computed."""
    db, result = coco_mds
    assert result.method == "full"
    with duckdb.connect(str(db), read_only=True) as con:
        coords = np.array(
            con.execute("select x1, x2, x10 from mds_coordinates where corpus = 'coco' order by image_id").fetchall(),
            dtype=float,
        )
        eigen = np.array(
            [
                r[0]
                for r in con.execute(
                    "select eigenvalue from mds_eigenvalues where corpus = 'coco' order by rank"
                ).fetchall()
            ]
        )
    assert np.array_equal(coords, result.coordinates[:, [0, 1, 9]])
    assert np.array_equal(eigen, result.eigenvalues)


def test_landmark_mds_agrees_with_full_mds(coco_mds, coco_db: Path) -> None:
    """2000 random landmarks of 5000 images: the top-2 map matches full MDS up to a rotation."""
    _, full = coco_mds
    with duckdb.connect(str(coco_db), read_only=True) as con:
        ids, matrix = landmark.load_token_matrix(con, "coco")
    assert np.array_equal(ids, full.image_ids)
    result = landmark.landmark_mds(matrix, k=2, n_landmarks=2000, seed=0)
    _, _, disparity = procrustes(full.coordinates[:, :2], result.coordinates)
    assert disparity < 0.05  # 0.029 when measured; MaxMin landmarks give 0.058
    shares = result.eigenvalues[:2] / result.sum_positive
    assert abs(shares.sum() - 0.055) < 0.01  # the landmarks' spectrum keeps the axes' weight
