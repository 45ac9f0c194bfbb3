"""Band → tridiagonal by bulge chasing (analysis._bulge), against dense eigvalsh and LAPACK."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from analysis import _bulge


def random_band(n: int, kd: int, seed: int) -> np.ndarray:
    """A random symmetric band matrix in LAPACK's lower band storage, (kd + 1) × n."""
    band = np.random.default_rng(seed).normal(size=(kd + 1, n))
    for d in range(1, kd + 1):
        band[d, n - d :] = 0.0  # beyond the matrix
    return band


def dense(band: np.ndarray) -> np.ndarray:
    kd, n = band.shape[0] - 1, band.shape[1]
    matrix = np.zeros((n, n))
    for d in range(kd + 1):
        i = np.arange(n - d)
        matrix[i + d, i] = matrix[i, i + d] = band[d, : n - d]
    return matrix


def eigenvalues(diagonal: np.ndarray, off: np.ndarray) -> np.ndarray:
    return scipy.linalg.eigvalsh_tridiagonal(diagonal, off)


@pytest.mark.parametrize(
    "n, kd", [(2, 1), (3, 2), (10, 9), (12, 0), (60, 1), (60, 2), (61, 7), (200, 16), (130, 64), (257, 31)]
)
def test_the_tridiagonal_matrix_has_the_band_matrixs_eigenvalues(n: int, kd: int) -> None:
    band = random_band(n, kd, seed=n + kd)
    before = band.copy()
    expected = np.linalg.eigvalsh(dense(band))
    for threads in (1, 2, 3):
        diagonal, off = _bulge.tridiagonal(band, threads)
        assert diagonal.shape == (n,) and off.shape == (n - 1,)
        got = eigenvalues(diagonal, off)
        assert np.abs(got - expected).max() <= 1e-13 * np.abs(expected).max() * max(1, np.sqrt(n))
    assert np.array_equal(band, before)  # the input is left alone


def test_the_result_does_not_depend_on_the_thread_count() -> None:
    """The kernels run in another order with more threads, never on other data: the same bits,
    also with more threads than this machine has cores (they wait, then yield their core)."""
    band = random_band(400, 12, seed=1)
    one = _bulge.tridiagonal(band, 1)
    for threads in (2, 3, 8, 2, 8):
        got = _bulge.tridiagonal(band, threads)
        assert np.array_equal(got[0], one[0]) and np.array_equal(got[1], one[1])


def test_columns_already_reduced_and_a_split_matrix() -> None:
    """Reflectors of nothing (tau = 0): a band whose first columns are already tridiagonal, and a
    block-diagonal one (zero off-diagonal blocks)."""
    band = random_band(90, 6, seed=2)
    band[2:, :20] = 0.0  # columns 0..19 tridiagonal already
    band[1:, 45] = 0.0  # nothing couples 45 to the columns after it ...
    for d in range(1, 7):
        band[d, 46 - d : 46] = 0.0  # ... nor columns before it to 46 and beyond
    expected = np.linalg.eigvalsh(dense(band))
    got = eigenvalues(*_bulge.tridiagonal(band, 2))
    assert np.abs(got - expected).max() <= 1e-13 * np.abs(expected).max() * 10


def test_agrees_with_lapacks_own_second_stage() -> None:
    """The same reduction as LAPACK's dsytrd_sb2st (SciPy's OpenBLAS, through ctypes): its
    diagonal and subdiagonal up to rounding (reflector signs may differ: |e| compared)."""
    import ctypes
    import importlib

    mds = importlib.import_module("analysis.mds")
    lapack = mds._load_lapack()
    if lapack is None:
        pytest.skip("SciPy's OpenBLAS without the two-stage routines")
    sb2st = lapack.library.scipy_dsytrd_sb2st_
    n, kd = 150, 10
    band = random_band(n, kd, seed=3)
    work_band = np.array(band, order="F")
    d, e = np.zeros(n), np.zeros(n - 1)
    hous, work, info = np.zeros(1), np.zeros(1), ctypes.c_int(0)
    one = ctypes.c_size_t(1)

    def call(lhous: int, lwork: int) -> None:
        sb2st(
            b"N", b"N", b"L", mds._int(n), mds._int(kd), mds._ptr(work_band), mds._int(kd + 1), mds._ptr(d),
            mds._ptr(e), mds._ptr(hous), mds._int(lhous), mds._ptr(work), mds._int(lwork), ctypes.byref(info),
            one, one, one,
        )  # fmt: skip

    call(-1, -1)
    hous, work = np.zeros(int(hous[0])), np.zeros(int(work[0]))
    call(len(hous), len(work))
    assert info.value == 0
    diagonal, off = _bulge.tridiagonal(band, 2)
    scale = np.abs(band).max()
    assert np.abs(diagonal - d).max() <= 1e-12 * scale
    assert np.abs(np.abs(off) - np.abs(e)).max() <= 1e-12 * scale
