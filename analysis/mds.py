"""Classical (Torgerson) MDS of a corpus's symmetric-difference distances.

The note's central observation is that this space is not Euclidean: the double-centred matrix
B = -1/2 J D² J has many negative eigenvalues. So the full spectrum's signature is kept
(`mds_spectrum`, `mds_eigenvalues`), and only the top-k eigenvectors are computed for the
coordinates (`mds_coordinates`), both from one two-stage reduction (:func:`spectrum`). Each phase
logs a progress line (INFO; :func:`show_progress` shows them on the command line).
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import functools
import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import numpy as np

from semspace import contract, db, warehouse

if TYPE_CHECKING:
    import pyarrow as pa
from semspace.errors import SemspaceError

log = logging.getLogger(__name__)


@dataclass
class MdsResult:
    corpus: str
    image_ids: np.ndarray
    eigenvalues: np.ndarray  # all n, descending
    coordinates: np.ndarray  # n × k
    tolerance: float
    method: str = "full"  # or "landmark": eigenvalues are then the m landmarks' spectrum
    n_landmarks: int | None = None

    @property
    def n_points(self) -> int:
        return len(self.image_ids)

    @property
    def n_positive(self) -> int:
        return int((self.eigenvalues > self.tolerance).sum())

    @property
    def n_negative(self) -> int:
        return int((self.eigenvalues < -self.tolerance).sum())

    @property
    def n_zero(self) -> int:
        return len(self.eigenvalues) - self.n_positive - self.n_negative

    @property
    def sum_positive(self) -> float:
        return float(self.eigenvalues[self.eigenvalues > self.tolerance].sum())

    @property
    def sum_abs_negative(self) -> float:
        return float(-self.eigenvalues[self.eigenvalues < -self.tolerance].sum())


def load_distances(con: duckdb.DuckDBPyConnection, corpus: str, source: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """(image ids, n × n symmetric-difference matrix) of a corpus.

    ``source``: "kernel" computes every row from the corpus's token sets with the exact pair kernel
    (semspace.neighbors.scores_many, the values image_pairs holds, to the bit; COCO 5k: ~0.4 s
    against 0.6–1.6 s for reading 12.5M rows out of the image_pairs view); "pairs" reads
    image_pairs in one query; "auto" (default) the kernel where dbt built its inputs
    (intermediate.int_token_weights), else image_pairs."""
    start = time.perf_counter()
    ids = warehouse.image_ids(con, corpus)
    if source == "auto":
        source = "kernel" if warehouse.table_exists(con, "intermediate", "int_token_weights") else "pairs"
    if source == "kernel":
        distances = warehouse.QueryRows(con, corpus, ids, pairs=False).rows(ids, "symmetric_difference")
        np.fill_diagonal(distances, 0.0)  # the kernel leaves each image's own column NaN
    elif source == "pairs":
        distances = warehouse.measure_matrix(con, corpus, "symmetric_difference", ids)
    else:
        raise ValueError(f"source must be auto, kernel or pairs, not {source!r}")
    log.info(
        "mds %s: %s distances (%d × %d) in %.1f s",
        corpus,
        "computed" if source == "kernel" else "read",
        len(ids),
        len(ids),
        time.perf_counter() - start,
    )
    return ids, distances


def centred_distances(con: duckdb.DuckDBPyConnection, corpus: str) -> tuple[np.ndarray, np.ndarray]:
    """(image ids, B = −½ J D² J) of a corpus's symmetric differences D, computed from its token
    sets by one compiled pass (semspace.neighbors.centred_squared_distances: D's entries exactly
    image_pairs' values), without D or D² ever stored: one n × n matrix in all, where
    :func:`load_distances` + :func:`double_centre` take two. Needs the kernel's inputs
    (intermediate.int_token_weights; any warehouse dbt built)."""
    import importlib

    neighbors = importlib.import_module("semspace.neighbors")
    start = time.perf_counter()
    ids = warehouse.image_ids(con, corpus)
    index = neighbors.load_index(con, corpus)
    if warehouse.kernel_columns(corpus, index.image_ids, ids) is not None:  # B's rows are the index's
        raise SemspaceError(
            f"corpus {corpus!r}: the kernel's index holds images set_sizes lacks; {warehouse.BUILD_HINT}"
        )
    b = neighbors.centred_squared_distances(index)
    log.info(
        "mds %s: distances computed and centred (%d × %d) in %.1f s",
        corpus,
        len(ids),
        len(ids),
        time.perf_counter() - start,
    )
    return ids, b


def double_centre(distances: np.ndarray, block: int = 128) -> np.ndarray:
    """B = -1/2 J D² J with J = I - 11ᵀ/n, without forming J or D²: b_ij = -d_ij²/2 + c_i + c_j,
    c = r/2 - mean(r)/4 with r the row means of D² (D symmetric). One new n × n matrix, written a
    block of rows at a time so that each block is squared, scaled and shifted while in cache; the
    input is left alone."""
    d = np.asarray(distances, dtype=np.float64)
    n = len(d)
    b = np.empty((n, n))
    if n == 0:
        return b
    row = np.einsum("ij,ij->i", d, d) / n
    c = 0.5 * row - 0.25 * row.mean()
    for i in range(0, n, block):
        part = b[i : i + block]
        np.multiply(d[i : i + block], d[i : i + block], out=part)
        part *= -0.5
        part += c[i : i + block, None]
        part += c
    return b


# ------------------------------------------------------------------------------ the eigensolver
#
# All n eigenvalues and the top k eigenvectors of B from one reduction, LAPACK's two-stage one:
#   1. dense → band of half-width BAND_WIDTH (LAPACK's dsytrd_sy2sb: Householder panels, the one
#      O(n³) step, in matrix-matrix kernels; here its products cut into tasks for `threads`
#      threads of one BLAS thread each, with look-ahead: _Lapack.reduce_to_band),
#   2. band → tridiagonal by bulge chasing (analysis._bulge: dsytrd_sb2st's kernels and task
#      order, in `threads` threads, where SciPy's OpenBLAS runs it on one core), then the
#      tridiagonal matrix's eigenvalues (dsterf): the whole spectrum, B's up to rounding,
#   3. alongside dsterf, in this thread: the top k eigenpairs of the band matrix by Lanczos
#      (ARPACK, whose matrix-vector products are dsbmv on the band, ~2·n·(2·BAND_WIDTH+1) flops
#      against 2·n² for B), carried back to B's by the first stage's reflectors (dormqr, 2·n²·k
#      flops). A check: their Ritz values must be the top k of the spectrum from 2 (else the band's
#      top eigenvectors come from LAPACK's dsbevx instead).
# scipy.linalg.eigh computes the same reduction in one stage (half of it in memory-bound
# matrix-vector products), then all n eigenvectors (another 2·n³ flops). The BLAS and LAPACK
# routines of stage 1, dsterf and dormqr are called through ctypes from the OpenBLAS SciPy ships
# (LP64, symbols prefixed scipy_; SciPy's wrappers copy strided blocks and hold the GIL): ctypes
# releases the GIL, so Python threads run them side by side.

# Half-width of the band of stage 1. Stage 1 gets faster with a wider band (more of it in
# matrix-matrix kernels), stage 2 slower, in proportion. On COCO (n = 5000, 2 cores, 2 threads),
# stage 2 alone: 0.52 / 0.70 / 0.75 s for 64 / 96 / 128 (medians of 7); whole spectrum() calls
# alternating over 6 rounds: medians 4.54 / 4.96 / 5.21 s (docs/benchmarks.md).
BAND_WIDTH = 64
DENSE_MAX_POINTS = 50  # up to this many points, one dense scipy.linalg.eigh: exact and instant


def choose_threads(cores: int, idle: float) -> int:
    """BLAS threads for the reduction: the idle cores, a core counted where at least 3/4 of it is
    idle (``idle`` summed over the machine's cores), at least 1 and at most ``cores`` (those this
    process may run on). OpenBLAS splits a call evenly across its threads and waits for the
    slowest, so a thread that shares its core with other work holds all of them back: on a busy
    machine fewer threads finish sooner (COCO's reduction: 12.5 s on one thread, 66 s on two, with
    two other jobs running on the two cores; a half-idle core would add a thread that runs at half
    speed, no faster than one thread in all)."""
    return max(1, min(cores, int(idle + 0.25)))


def _cpu_times() -> tuple[int, int]:
    """(all, idle) CPU time of the machine so far, in ticks, from /proc/stat (steal is busy;
    iowait is idle: a core waiting for a disk is free to compute)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    return sum(fields), fields[3] + fields[4]


def _own_ticks() -> int:
    """This process's CPU time so far (every thread, user + system), in /proc/stat's ticks."""
    t = os.times()
    return round((t.user + t.system) * os.sysconf("SC_CLK_TCK"))


@dataclass
class IdleWindow:
    """A window of time over which :func:`idle_cores` measures the machine, opened before work
    that it may overlap (``analysis.mds`` opens one before it computes the matrix): this process's
    own CPU time in the window counts as idle, since that work is done when the window is read.
    So the 0.1 s sample costs no waiting where the work took that long."""

    opened: float
    cpu: tuple[int, int]
    own: int | None  # None: this process's CPU time is not counted (a window with no work in it)

    @classmethod
    def open(cls) -> IdleWindow | None:
        try:
            return cls(time.monotonic(), _cpu_times(), _own_ticks())
        except (OSError, ValueError):
            return None


def idle_cores(cores: int, sample: float = 0.1, window: IdleWindow | None = None) -> float:
    """How many of ``cores`` are idle now: the machine's idle share of CPU time over ``sample``
    seconds times ``cores``. Without ``window`` this process sleeps for the sample; with one, the
    sample is the window (waiting only for what is left of ``sample``), this process's own CPU
    time in it counted as idle. Where /proc/stat cannot be read, ``cores`` minus the 1-minute load
    average (which lags, and counts this process's own recent work)."""
    try:
        if window is None:
            window = IdleWindow(time.monotonic(), _cpu_times(), None)
        time.sleep(max(0.0, sample - (time.monotonic() - window.opened)))
        (total, idle), (total_after, idle_after) = window.cpu, _cpu_times()
        mine = 0 if window.own is None else max(0, _own_ticks() - window.own)
        if total_after > total:
            return cores * min(1.0, (idle_after - idle + mine) / (total_after - total))
    except (OSError, ValueError):
        pass
    try:
        return cores - os.getloadavg()[0]
    except OSError:
        return float(cores)


def blas_threads(window: IdleWindow | None = None) -> tuple[int, str]:
    """(threads, why) for the reduction: ``$SEMSPACE_THREADS`` where set (the variable that also
    sets DuckDB's threads), else :func:`choose_threads` of the cores this process may use
    (os.sched_getaffinity) and how many of them are idle now (:func:`idle_cores`, over ``window``
    where given)."""
    setting = os.environ.get("SEMSPACE_THREADS", "").strip()
    if setting.isdigit() and int(setting) > 0:
        return int(setting), "SEMSPACE_THREADS"
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    idle = idle_cores(cores, window=window)
    return choose_threads(cores, idle), f"{max(idle, 0.0):.1f} of {cores} cores idle"


@dataclass
class _Panel:
    """One panel's update in stage 1 (_Lapack.reduce_to_band): the matrix ``a`` (n × n), the
    trailing matrix A22 = A(r0:, r0:) of m rows at offset ``base``, the panel's pk reflectors,
    V | W in ``vw`` and V·T in ``vt`` (n × 2·kd and n × kd, column-major)."""

    a: np.ndarray
    m: int
    pk: int
    base: int
    vw: np.ndarray
    vt: np.ndarray


class _Lapack:
    """The BLAS and LAPACK routines of SciPy's OpenBLAS that the eigensolver calls, by their
    Fortran entry points (every argument by reference, the lengths of character arguments
    appended): without the GIL, on blocks addressed inside the n × n matrix."""

    def __init__(self, library: ctypes.CDLL, prefix: str) -> None:
        self.library = library
        self._geqrf = getattr(library, f"{prefix}dgeqrf_")
        self._larft = getattr(library, f"{prefix}dlarft_")
        self._gemm = getattr(library, f"{prefix}dgemm_")
        self._symm = getattr(library, f"{prefix}dsymm_")
        self._syr2k = getattr(library, f"{prefix}dsyr2k_")
        self._sterf = getattr(library, f"{prefix}dsterf_")
        self._ormqr = getattr(library, f"{prefix}dormqr_")
        for function in (self._geqrf, self._larft, self._gemm, self._symm, self._syr2k, self._sterf, self._ormqr):
            function.restype = None

    @staticmethod
    def _check(info: ctypes.c_int, what: str, n: int) -> None:
        if info.value != 0:
            raise SemspaceError(f"LAPACK's {what} failed (info {info.value}) on a {n} × {n} matrix")

    def reduce_to_band(self, a: np.ndarray, kd: int, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Stage 1 on the symmetric matrix ``a`` (float64, contiguous, its lower triangle in
        column-major order read; destroyed: it then holds the reflectors): (the lower band, LAPACK
        band storage (kd + 1) × n, the reflectors' tau), as dsytrd_sy2sb gives them, in ``threads``
        threads that each call BLAS on one core (the caller limits BLAS to one thread).

        dsytrd_sy2sb's algorithm, its two matrix-matrix products cut into tasks: for each panel of
        kd columns, the QR factor of the panel below the band (dgeqrf, dlarft: V, T), then
        W = A·V·T (by blocks of rows: dsymm on the diagonal block, dgemm on the rest of the row),
        W -= ½·V·(Tᵀ·Vᵀ·W), and A -= V·Wᵀ + W·Vᵀ on the lower triangle (by blocks of columns of
        equal area: dsyr2k on the diagonal block, one dgemm of [V W]·[W V]ᵀ below it). Where
        OpenBLAS splits each call evenly over its threads and waits for the slowest, the tasks go
        to whichever thread is free; and the next panel's QR (one thread) runs as soon as its
        columns are updated, beside the rest of the update (look-ahead)."""
        n = len(a)
        f = a.T if a.flags.c_contiguous and not a.flags.f_contiguous else a  # column-major view
        tau = np.zeros(max(n, 1))
        lwork = max(1, n * kd)
        # per panel parity (the look-ahead builds panel p + 1's while panel p's are in use)
        vw = [np.zeros((n, 2 * kd), order="F") for _ in range(2)]  # V | W
        vt = [np.zeros((n, kd), order="F") for _ in range(2)]
        t = [np.zeros((kd, kd), order="F") for _ in range(2)]
        saved = [np.zeros((0, 0)), np.zeros((0, 0))]  # each panel's R, while V takes its place
        s1 = np.zeros((kd, kd), order="F")
        starts = list(range(0, max(n - kd, 0), kd))

        def factor(index: int) -> None:
            """Panel index's QR: its reflectors V (unit lower, also copied into vw), T, V·T; its R
            saved, to be put back once the update no longer reads V from where R goes."""
            j = starts[index]
            r0, half = j + kd, index % 2
            m = n - r0
            pk = min(kd, m)
            work, info = np.zeros(lwork), ctypes.c_int(0)
            self._geqrf(_int(m), _int(kd), _at(a, r0 + j * n), _int(n), _at(tau, j), _ptr(work), _int(lwork),
                        ctypes.byref(info))  # fmt: skip
            self._check(info, "dgeqrf", n)
            saved[half] = f[r0 : r0 + pk, j : j + kd].copy()
            block = f[r0 : r0 + pk, j : j + pk]
            block[np.triu_indices(pk)] = 0.0
            np.fill_diagonal(block, 1.0)
            self._larft(b"F", b"C", _int(m), _int(pk), _at(a, r0 + j * n), _int(n), _at(tau, j), _ptr(t[half]),
                        _int(kd), _LEN1, _LEN1)  # fmt: skip
            vw[half][:m, :pk] = f[r0:, j : j + pk]
            self._gemm(b"N", b"N", _int(m), _int(pk), _int(pk), _ONE, _ptr(vw[half]), _int(n), _ptr(t[half]),
                       _int(kd), _ZERO, _ptr(vt[half]), _int(n), _LEN1, _LEN1)  # fmt: skip

        with ThreadPoolExecutor(max(1, threads)) as pool:
            if starts:
                factor(0)
            for index, j in enumerate(starts):
                r0, half = j + kd, index % 2
                m = n - r0
                pk = min(kd, m)
                base = r0 + r0 * n  # A22 = A(r0:, r0:)
                v_w, v_t = vw[half], vt[half]
                panel = _Panel(a, m, pk, base, v_w, v_t)
                for done in [pool.submit(self._rows_of_w, panel, i0, i1) for i0, i1 in _row_blocks(m, 4 * threads)]:
                    done.result()
                # W -= ½ V (VTᵀ W)
                self._gemm(b"T", b"N", _int(pk), _int(pk), _int(m), _ONE, _ptr(v_t), _int(n), _at(v_w, kd * n),
                           _int(n), _ZERO, _ptr(s1), _int(kd), _LEN1, _LEN1)  # fmt: skip
                self._gemm(b"N", b"N", _int(m), _int(pk), _int(pk), _HALF_DOWN, _ptr(v_w), _int(n), _ptr(s1),
                           _int(kd), _ONE, _at(v_w, kd * n), _int(n), _LEN1, _LEN1)  # fmt: skip

                blocks = _column_blocks(m, kd, 4 * threads)
                futures = [pool.submit(self._update_columns, panel, c0, c1) for c0, c1 in blocks]
                if index + 1 < len(starts):  # the next panel is A22's first kd columns: blocks[0]
                    futures[0].result()
                    factor(index + 1)
                for done in futures:
                    done.result()
                upper = np.triu(np.ones((pk, kd), dtype=bool))
                f[r0 : r0 + pk, j : j + kd][upper] = saved[half][upper]
        band = np.zeros((kd + 1, n), order="F")
        for d in range(kd + 1):
            band[d, : n - d] = np.diagonal(f, -d)
        return band, tau

    def _rows_of_w(self, p: _Panel, i0: int, i1: int) -> None:
        """W(i0:i1) = A22(i0:i1, :) · VT, A22 symmetric from its lower triangle: dsymm on the
        diagonal block, dgemm on the row to its left and on the column below it (transposed)."""
        n, h = len(p.a), i1 - i0
        out = _at(p.vw, p.vt.shape[1] * n + i0)  # W: the second kd columns of V | W
        self._symm(b"L", b"L", _int(h), _int(p.pk), _ONE, _at(p.a, p.base + i0 + i0 * n), _int(n), _at(p.vt, i0),
                   _int(n), _ZERO, out, _int(n), _LEN1, _LEN1)  # fmt: skip
        if i0 > 0:
            self._gemm(b"N", b"N", _int(h), _int(p.pk), _int(i0), _ONE, _at(p.a, p.base + i0), _int(n), _ptr(p.vt),
                       _int(n), _ONE, out, _int(n), _LEN1, _LEN1)  # fmt: skip
        if i1 < p.m:
            self._gemm(b"T", b"N", _int(h), _int(p.pk), _int(p.m - i1), _ONE, _at(p.a, p.base + i1 + i0 * n),
                       _int(n), _at(p.vt, i1), _int(n), _ONE, out, _int(n), _LEN1, _LEN1)  # fmt: skip

    def _update_columns(self, p: _Panel, c0: int, c1: int) -> None:
        """A22(c0:, c0:c1) -= V·Wᵀ + W·Vᵀ: dsyr2k on the diagonal block, one dgemm of
        [V W]·[W V]ᵀ (inner dimension 2·kd) below it."""
        n, kd, width = len(p.a), p.vt.shape[1], c1 - c0
        self._syr2k(b"L", b"N", _int(width), _int(p.pk), _MINUS_ONE, _at(p.vw, c0), _int(n),
                    _at(p.vw, kd * n + c0), _int(n), _ONE, _at(p.a, p.base + c0 + c0 * n), _int(n), _LEN1,
                    _LEN1)  # fmt: skip
        if c1 < p.m:  # then pk == kd (a narrower last panel is a single block)
            swapped = np.empty((width, 2 * kd), order="F")  # [W V] of these columns
            swapped[:, :kd] = p.vw[c0:c1, kd:]
            swapped[:, kd:] = p.vw[c0:c1, :kd]
            self._gemm(b"N", b"T", _int(p.m - c1), _int(width), _int(2 * kd), _MINUS_ONE, _at(p.vw, c1), _int(n),
                       _ptr(swapped), _int(width), _ONE, _at(p.a, p.base + c1 + c0 * n), _int(n), _LEN1,
                       _LEN1)  # fmt: skip

    def tridiagonal_eigenvalues(self, diagonal: np.ndarray, off: np.ndarray) -> np.ndarray:
        """dsterf: the eigenvalues of the symmetric tridiagonal matrix (diagonal, off), ascending;
        both arrays are overwritten. Through ctypes, so without the GIL (SciPy's own wrapper of
        dsterf holds it)."""
        n, info = len(diagonal), ctypes.c_int(0)
        self._sterf(_int(n), _ptr(diagonal), _ptr(off), ctypes.byref(info))
        self._check(info, "dsterf", n)
        return diagonal

    def apply_q(self, reflectors: np.ndarray, tau: np.ndarray, kd: int, z: np.ndarray) -> np.ndarray:
        """Q z for the orthogonal Q of stage 1 (B = Q · band · Qᵀ): Q = diag(I_kd, Q₂) with Q₂
        the product of the n - kd reflectors stored below the kd-th subdiagonal, a QR factor's
        layout, so dormqr applies it to rows kd.. of z."""
        n, k = z.shape
        x = np.array(z, dtype=np.float64, order="F")
        m = n - kd
        if m <= 0 or k == 0:
            return x
        work, info = np.zeros(1), ctypes.c_int(0)
        below = ctypes.c_void_p(reflectors.ctypes.data + 8 * kd)  # A(kd + 1, 1), column-major
        rows = ctypes.c_void_p(x.ctypes.data + 8 * kd)

        def call(lwork: int) -> None:
            self._ormqr(
                b"L", b"N", _int(m), _int(k), _int(m), below, _int(n), _ptr(tau), rows, _int(n),
                _ptr(work), _int(lwork), ctypes.byref(info), _LEN1, _LEN1,
            )  # fmt: skip

        call(-1)
        work = np.zeros(max(int(work[0]), 1))
        call(len(work))
        self._check(info, "dormqr", n)
        return x


_LEN1 = ctypes.c_size_t(1)
_ONE, _ZERO = ctypes.byref(ctypes.c_double(1.0)), ctypes.byref(ctypes.c_double(0.0))
_MINUS_ONE, _HALF_DOWN = ctypes.byref(ctypes.c_double(-1.0)), ctypes.byref(ctypes.c_double(-0.5))


def _at(array: np.ndarray, offset: int) -> ctypes.c_void_p:
    """The address of the ``offset``-th float64 of ``array``'s memory."""
    return ctypes.c_void_p(array.ctypes.data + 8 * int(offset))


def _row_blocks(m: int, parts: int, smallest: int = 256) -> list[tuple[int, int]]:
    """Up to ``parts`` blocks of rows of nearly equal height covering 0 .. m - 1."""
    count = max(1, min(parts, m // smallest))
    edges = [round(m * i / count) for i in range(count + 1)]
    return list(zip(edges[:-1], edges[1:]))


def _column_blocks(m: int, first: int, parts: int, smallest: int = 128) -> list[tuple[int, int]]:
    """Blocks of columns covering the lower triangle of an m × m matrix: the first ``first``
    columns (the next panel's), then up to ``parts`` blocks of about equal area."""
    first = min(first, m)
    edges = [0, first] if first < m else [0, m]
    rest = m - first
    count = max(1, min(parts, rest // smallest)) if rest > 0 else 0
    area = rest * (rest + 1) / 2  # of the triangle from column `first` on
    for i in range(1, count):
        # columns [first, first + x) of the remaining triangle hold x·rest - x(x-1)/2 entries
        x = (2 * rest + 1 - math.sqrt((2 * rest + 1) ** 2 - 8 * area * i / count)) / 2
        edges.append(max(edges[-1] + 1, first + round(x)))
    if edges[-1] != m:
        edges.append(m)
    return list(zip(edges[:-1], edges[1:]))


def _int(value: int) -> ctypes._Pointer[ctypes.c_int]:
    return ctypes.pointer(ctypes.c_int(value))


def _ptr(array: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(array.ctypes.data)


@functools.cache
def _load_lapack() -> _Lapack | None:
    import glob

    import scipy
    import scipy.linalg  # loads the library, so ctypes gets the instance threadpoolctl limits

    folder = os.path.join(os.path.dirname(os.path.dirname(scipy.__file__)), "scipy.libs")
    for path in sorted(glob.glob(os.path.join(folder, "libscipy_openblas*.so*"))):
        if "64_" in os.path.basename(path):  # the ILP64 build takes 64-bit integers
            continue
        try:
            return _Lapack(ctypes.CDLL(path), "scipy_")
        except (OSError, AttributeError):
            continue
    return None


def _two_stage_solver() -> _Lapack | None:
    """The routines of the two-stage reduction (stage 1's BLAS and LAPACK, dsterf, dormqr) from
    the OpenBLAS SciPy ships, or None where they are not there (then :func:`spectrum` falls back
    to scipy.linalg.eigh and eigsh)."""
    return _load_lapack()


@dataclass
class Spectrum:
    eigenvalues: np.ndarray  # all n, descending
    vectors: np.ndarray  # n × k, the eigenvectors of eigenvalues[:k]
    threads: int  # threads of the reduction (BLAS in stage 1, bulge chasing in stage 2)
    values_how: str  # for the progress lines
    vectors_how: str
    phases: dict[str, float]  # seconds: eigenvalues, vectors (overlapping), reduction, band, tridiagonal


def _lanczos_top(band: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(Ritz values descending, n × k vectors) of the k largest eigenvalues of the lower band
    matrix ``band`` by ARPACK with dsbmv products, from a fixed start (the same vectors every run);
    None where ARPACK fails."""
    import scipy.sparse.linalg
    from scipy.linalg.blas import dsbmv

    kd, n = band.shape[0] - 1, band.shape[1]

    def product(x: np.ndarray) -> np.ndarray:
        return dsbmv(kd, 1.0, band, np.ravel(x), lower=1)

    operator = scipy.sparse.linalg.LinearOperator((n, n), matvec=product, dtype=np.float64)
    start = np.random.default_rng(0).standard_normal(n)
    try:
        values, vectors = scipy.sparse.linalg.eigsh(operator, k=k, which="LA", v0=start)
    except scipy.sparse.linalg.ArpackError:
        return None
    order = np.argsort(values)[::-1]
    return values[order], vectors[:, order]


def spectrum(
    b: np.ndarray,
    k: int,
    overwrite: bool = False,
    threads: int | None = None,
    band_width: int = BAND_WIDTH,
    window: IdleWindow | None = None,
) -> Spectrum:
    """All eigenvalues of the symmetric matrix ``b`` (descending) and the eigenvectors of its k
    largest, from one two-stage reduction (see above); ``overwrite`` lets it destroy ``b``;
    ``threads``: the threads of both stages of the reduction (default :func:`blas_threads`, over
    ``window``).

    The Lanczos vectors are kept only where their Ritz values are the top k of the spectrum within
    n·eps·max|λ| (the tolerance that tells positive from zero); otherwise (a multiple eigenvalue
    found once, or no convergence) the band's top k eigenvectors come from LAPACK's dsbevx."""
    import scipy.linalg
    import scipy.sparse.linalg
    from threadpoolctl import threadpool_limits

    from analysis import _bulge

    n = len(b)
    k = max(0, min(k, n - 1))
    started = time.perf_counter()
    if n <= DENSE_MAX_POINTS:
        values, vectors = scipy.linalg.eigh(b, check_finite=False)
        kept = k or n  # k = 0 (a single point): its one axis, as before
        elapsed = time.perf_counter() - started
        phases = {"eigenvalues": elapsed, "vectors": elapsed}
        return Spectrum(values[::-1], vectors[:, ::-1][:, :kept], 1, "1 thread, dense eigh", "with them", phases)
    why = "given"
    if threads is None:
        threads, why = blas_threads(window)
        started = time.perf_counter()  # not the time spent looking at the machine
    plural = "s" if threads > 1 else ""
    lapack = _two_stage_solver()
    if lapack is None:
        with threadpool_limits(threads, user_api="blas"):
            vectors = np.zeros((n, 0))
            if k:  # before b is overwritten
                top, vectors = scipy.sparse.linalg.eigsh(b, k=k, which="LA")
                vectors = vectors[:, np.argsort(top)[::-1]]
            middle = time.perf_counter()
            values = scipy.linalg.eigh(b, eigvals_only=True, overwrite_a=overwrite, check_finite=False)[::-1]
        phases = {"vectors": middle - started, "eigenvalues": time.perf_counter() - middle}
        how = f"{threads} thread{plural} ({why}), eigvalsh: no two-stage LAPACK found"
        return Spectrum(values, vectors, threads, how, "eigsh on B", phases)
    kd = max(1, min(band_width, n - 1))
    a = b if overwrite and b.dtype == np.float64 and (b.flags.c_contiguous or b.flags.f_contiguous) else None
    if a is None:
        a = np.array(b, dtype=np.float64, order="F")
    with threadpool_limits(1, user_api="blas"):  # `threads` threads of its own, one BLAS thread each
        band, tau = lapack.reduce_to_band(a, kd, threads)
    reduced = time.perf_counter()

    diagonal, off, chase_how = _bulge.tridiagonal(band, threads)  # stage 2, in up to `threads` threads
    chased = time.perf_counter()

    def values_of_band() -> tuple[np.ndarray, float]:
        return lapack.tridiagonal_eigenvalues(diagonal, off)[::-1].copy(), time.perf_counter()

    # the eigenvalues of the tridiagonal matrix in a second thread (ctypes runs dsterf without the
    # GIL); in this one, the top vectors: Lanczos on the band and back to B's (one BLAS thread each)
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(1) as pool:
        future = pool.submit(values_of_band)
        found = _lanczos_top(band, k) if k else (np.zeros(0), np.zeros((n, 0)))
        vectors = lapack.apply_q(a, tau, kd, found[1]) if found is not None else None
        back = time.perf_counter()
        values, done = future.result()
        tolerance = n * np.finfo(float).eps * float(np.abs(values).max(initial=0.0))
        vectors_how = "Lanczos on the band, alongside the values"
        if found is None or vectors is None or np.abs(found[0] - values[:k]).max(initial=0.0) > tolerance:
            _, band_vectors = scipy.linalg.eig_banded(
                band, lower=True, select="i", select_range=(n - k, n - 1), check_finite=False
            )
            vectors = lapack.apply_q(a, tau, kd, band_vectors[:, ::-1])
            vectors_how = "dsbevx on the band (Lanczos fell short)"
            log.info("%d × %d: Lanczos did not give the top %d eigenpairs; dsbevx did", n, n, k)
    finished = time.perf_counter()
    phases = {
        "eigenvalues": done - started,
        "reduction": reduced - started,
        "band": chased - reduced,
        "tridiagonal": done - chased,
        "vectors": (back - chased) + (finished - max(done, back)),
    }
    values_how = (
        f"{threads} thread{plural} ({why}): dense → band {kd} {phases['reduction']:.1f} s, "
        f"band → tridiagonal {phases['band']:.1f} s ({chase_how}), its eigenvalues {phases['tridiagonal']:.1f} s "
        "(1 thread)"
    )
    return Spectrum(values, vectors, threads, values_how, vectors_how, phases)


def eigenvalues_only(b: np.ndarray, overwrite: bool = False, threads: int | None = None) -> np.ndarray:
    """All eigenvalues of the symmetric matrix b, descending (:func:`spectrum` with k = 0): the
    two-stage reduction where SciPy's OpenBLAS has it, else scipy.linalg.eigvalsh. ``overwrite``
    lets it destroy b."""
    import scipy.linalg

    if _two_stage_solver() is None or len(b) <= DENSE_MAX_POINTS:
        return scipy.linalg.eigvalsh(b, overwrite_a=overwrite, check_finite=False)[::-1]
    return spectrum(b, 0, overwrite=overwrite, threads=threads).eigenvalues


def classical_mds(
    distances: np.ndarray,
    k: int = 10,
    image_ids: np.ndarray | None = None,
    corpus: str = "",
    threads: int | None = None,
    window: IdleWindow | None = None,
) -> MdsResult:
    """All eigenvalues and the top-k coordinates x_r = v_r √λ_r, from one reduction
    (:func:`spectrum`); ``threads``: the threads of the reduction (default: the idle cores,
    :func:`blas_threads`, measured over ``window`` where given). A progress line per phase
    (logging, INFO; :func:`show_progress`).

    Tolerance for calling an eigenvalue positive, negative or zero: n · eps · max|λ|, the usual
    numerical-rank threshold. B always has the exact eigenvalue 0 of the constant vector (J·1 = 0);
    in floating point it comes out as ±1e-9 or so, and a plain `> 0` counts it by chance (the note's
    1266 on COCO is 1265 positive + that zero). Axes whose eigenvalue is not positive get zero
    coordinates, as in the note."""
    start = time.perf_counter()
    b = double_centre(distances)
    log.info("%s: centred (%d × %d) in %.1f s", _label(corpus), len(b), len(b), time.perf_counter() - start)
    return classical_mds_centred(b, k, image_ids, corpus, threads, window)


def _label(corpus: str) -> str:
    return f"mds {corpus}" if corpus else "mds"


def classical_mds_centred(
    b: np.ndarray,
    k: int = 10,
    image_ids: np.ndarray | None = None,
    corpus: str = "",
    threads: int | None = None,
    window: IdleWindow | None = None,
) -> MdsResult:
    """:func:`classical_mds` of the double-centred matrix ``b`` = −½ J D² J itself (from
    :func:`double_centre`, or :func:`centred_distances`), which it overwrites; ``window``: where
    the idle cores are measured from (:func:`blas_threads`)."""
    n = len(b)
    k = min(k, n - 1)
    label = _label(corpus)
    result = spectrum(b, k, overwrite=True, threads=threads, window=window)
    del b
    log.info("%s: eigenvalues (%d) in %.1f s, %s", label, n, result.phases["eigenvalues"], result.values_how)
    axes = result.vectors.shape[1]
    log.info("%s: eigenvectors (top %d) in %.1f s, %s", label, axes, result.phases["vectors"], result.vectors_how)
    eigenvalues = result.eigenvalues
    tolerance = n * np.finfo(float).eps * float(np.abs(eigenvalues).max(initial=0.0))
    top_vectors, top_values = result.vectors, eigenvalues[:axes]
    # a fixed sign per axis (largest |component| positive), so reruns give the same map
    signs = np.sign(top_vectors[np.abs(top_vectors).argmax(axis=0), np.arange(axes)])
    signs[signs == 0] = 1
    coordinates = top_vectors * signs * np.sqrt(np.clip(top_values, 0, None))
    coordinates[:, top_values <= tolerance] = 0.0
    return MdsResult(
        corpus=corpus,
        image_ids=np.arange(n) if image_ids is None else image_ids,
        eigenvalues=eigenvalues,
        coordinates=coordinates,
        tolerance=tolerance,
    )


def tables(result: MdsResult) -> dict[str, pa.Table]:
    """The rows of computed.mds_spectrum, computed.mds_eigenvalues and computed.mds_coordinates
    (semspace.contract) for one result; the marts of the same names show them (axis shares and
    the wide x1 … xk are computed there)."""
    import pyarrow as pa

    n, k = result.coordinates.shape
    now = _dt.datetime.now()
    spectrum = pa.table(
        {
            "corpus": [result.corpus],
            "n_points": pa.array([result.n_points], pa.int32()),
            "method": [result.method],
            "n_landmarks": pa.array([result.n_landmarks], type=pa.int32()),
            "n_eigenvalues": pa.array([len(result.eigenvalues)], pa.int32()),
            "n_positive": pa.array([result.n_positive], pa.int32()),
            "n_negative": pa.array([result.n_negative], pa.int32()),
            "n_zero": pa.array([result.n_zero], pa.int32()),
            "tolerance": [result.tolerance],
            "sum_positive": [result.sum_positive],
            "sum_abs_negative": [result.sum_abs_negative],
            "computed_at": pa.array([now], pa.timestamp("us")),
        }
    )
    eigen = pa.table(
        {
            "corpus": pa.array([result.corpus] * len(result.eigenvalues)),
            "rank": pa.array(np.arange(1, len(result.eigenvalues) + 1, dtype=np.int32)),
            "eigenvalue": pa.array(result.eigenvalues),
        }
    )
    coords = pa.table(
        {
            "corpus": pa.array([result.corpus] * (n * k)),
            "image_id": pa.array(np.repeat(result.image_ids.astype(np.int32), k)),
            "axis": pa.array(np.tile(np.arange(1, k + 1, dtype=np.int32), n)),
            "coordinate": pa.array(result.coordinates.reshape(-1)),
        }
    )
    return {"mds_spectrum": spectrum, "mds_eigenvalues": eigen, "mds_coordinates": coords}


def write(con: duckdb.DuckDBPyConnection, result: MdsResult) -> None:
    """Replace the corpus's rows of computed.mds_spectrum, mds_eigenvalues and mds_coordinates in
    one transaction (the marts mds_spectrum, mds_eigenvalues, mds_coordinates are views over them)."""
    start = time.perf_counter()
    new = tables(result)
    contract.ensure(con, [f"{contract.COMPUTED}.{name}" for name in new])
    with db.transaction(
        con,
        {f"new_{name}": table for name, table in new.items()},
        failure=f"writing the MDS of {result.corpus!r} failed, nothing was changed",
    ):
        for name in new:
            con.execute(f"delete from {contract.COMPUTED}.{name} where corpus = ?", [result.corpus])
            con.execute(f"insert into {contract.COMPUTED}.{name} by name select * from new_{name}")
    log.info(
        "mds %s: wrote %d eigenvalues and %d × %d coordinates in %.1f s",
        result.corpus,
        len(result.eigenvalues),
        *result.coordinates.shape,
        time.perf_counter() - start,
    )


def show_progress() -> None:
    """Let the progress lines of MDS (this module's and analysis.landmark's, logging INFO) reach
    stderr on the command line: their loggers at INFO, and a handler of their own where the root
    logger has none (``semspace mds`` configures no logging; ``python -m analysis`` has
    basicConfig's handler, whose root level WARNING would drop INFO)."""
    for name in (__name__, "analysis.landmark"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        if not logging.getLogger().handlers and not logger.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)
