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
        diagonal, off, _ = _bulge.tridiagonal(band, threads)
        assert diagonal.shape == (n,) and off.shape == (n - 1,)
        got = eigenvalues(diagonal, off)
        assert np.abs(got - expected).max() <= 1e-13 * np.abs(expected).max() * max(1, np.sqrt(n))
    assert np.array_equal(band, before)  # the input is left alone


def test_the_result_does_not_depend_on_the_thread_count() -> None:
    """The kernels run in another order with more threads, never on other data: the same bits,
    also with more threads than this machine has cores (they wait, then yield their core)."""
    band = random_band(400, 12, seed=1)
    one = _bulge.tridiagonal(band, 1)
    assert one[2] == "1 thread"
    for threads in (2, 3, 8, 2, 8):
        got = _bulge.tridiagonal(band, threads)
        assert np.array_equal(got[0], one[0]) and np.array_equal(got[1], one[1])
        assert got[2] == f"{threads} threads"  # too short a chase for a trial


def test_columns_already_reduced_and_a_split_matrix() -> None:
    """Reflectors of nothing (tau = 0): a band whose first columns are already tridiagonal, and a
    block-diagonal one (zero off-diagonal blocks)."""
    band = random_band(90, 6, seed=2)
    band[2:, :20] = 0.0  # columns 0..19 tridiagonal already
    band[1:, 45] = 0.0  # nothing couples 45 to the columns after it ...
    for d in range(1, 7):
        band[d, 46 - d : 46] = 0.0  # ... nor columns before it to 46 and beyond
    expected = np.linalg.eigvalsh(dense(band))
    got = eigenvalues(*_bulge.tridiagonal(band, 2)[:2])
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
    diagonal, off, _ = _bulge.tridiagonal(band, 2)
    scale = np.abs(band).max()
    assert np.abs(diagonal - d).max() <= 1e-12 * scale
    assert np.abs(np.abs(off) - np.abs(e)).max() <= 1e-12 * scale


@pytest.mark.parametrize("faster", ["several", "one"])
def test_a_long_chase_times_both_and_goes_on_in_the_faster(faster: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above TRIAL_MIN_STEPS a stretch of sweeps runs in the threads asked for and one in a single
    thread; the rest in whichever took less a step (here made to by the clock it reads), with the
    same result either way, and the split into stretches covers every sweep once."""
    n, kd = 1200, 8
    assert _bulge._blocks(n, kd, 0, n - 1) >= _bulge.TRIAL_MIN_STEPS
    band = random_band(n, kd, seed=4)
    one = _bulge.tridiagonal(band, 1)
    runs: list[tuple[int, int, int]] = []
    real = _bulge._sweeps

    def timed(work, n, kd, start, stop, threads, progress):  # type: ignore[no-untyped-def]
        runs.append((start, stop, threads))
        real(work, n, kd, start, stop, threads, progress)
        slow = threads > 1 if faster == "one" else threads == 1
        return 10.0 if slow else 1.0

    monkeypatch.setattr(_bulge, "_sweeps", timed)
    diagonal, off, how = _bulge.tridiagonal(band, 2)
    assert np.array_equal(diagonal, one[0]) and np.array_equal(off, one[1])
    assert [r[2] for r in runs] == [2, 1, 1 if faster == "one" else 2]
    assert runs[0][0] == 0 and runs[0][1] == runs[1][0] and runs[1][1] == runs[2][0] and runs[2][1] == n - 1
    assert how.startswith("1 thread: ") if faster == "one" else how == "2 threads"


def test_the_step_count_is_the_sum_over_sweeps() -> None:
    n, kd = 97, 6
    assert _bulge._blocks(n, kd, 10, 40) == pytest.approx(sum(2 * (n - 1 - s) / kd + 1 for s in range(10, 40)))
