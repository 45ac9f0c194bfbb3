"""Band → tridiagonal by bulge chasing, in several threads: the second stage of MDS's eigensolver.

LAPACK's dsytrd_sb2st (values only, lower storage) with its kernels (dsb2st_kernels), compiled by
numba. SciPy's OpenBLAS runs dsytrd_sb2st on one core: its parallel form is OpenMP tasks, which
that build lacks. Here the same tasks run in ``threads`` threads of their own.

Sweep s (s = 0 .. n-2) zeroes column s below the first subdiagonal and chases the bulge this makes
down the band, one kernel per step: step 1 makes the reflector and applies it to the diagonal
block from both sides (type 1), then alternately type 2 (the previous reflector from the right on
the block below, a new reflector from the left) and type 3 (the new one on the next diagonal
block from both sides). Thread p runs sweeps p, p + threads, ...; sweep s's step t waits until
sweep s-1 has finished its step t+2 (the dependencies LAPACK gives its tasks: the blocks a sweep
touches then lie wholly ahead of the blocks the sweep behind it touches). The result does not
depend on the thread count: every kernel does the same arithmetic on the same data in any order
the dependencies allow (tests/test_mds.py checks it bit for bit).

Compiled once (cache=True) at set-up by semspace.warmup; the compiled loops release the GIL.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def _load_acquire(typingctx, array, index):
    """array[index] (int64), read with acquire ordering: the spin loop rereads it every time, and
    what the other thread wrote before its release store is visible after it."""

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, view, [args[1]])
        return builder.load_atomic(pointer, "acquire", 8)

    return types.int64(array, index), codegen


@intrinsic
def _store_release(typingctx, array, index, value):
    """array[index] = value (int64) with release ordering: every write before it is visible to a
    thread that reads the value with :func:`_load_acquire`."""

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, view, [args[1]])
        builder.store_atomic(args[2], pointer, "release", 8)
        return context.get_dummy_value()

    return types.void(array, index, value), codegen


@intrinsic
def _yield_cpu(typingctx):
    """sched_yield(): a thread that has waited long gives its core up (more threads than idle
    cores)."""

    def codegen(context, builder, signature, args):
        function = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
        builder.call(function, [])
        return context.get_dummy_value()

    return types.void(), codegen


# The band is held as LAPACK's work array: column c of the matrix M below its diagonal in row c of
# `work`, work[c, r - c] = M(r, c) for 0 ≤ r - c ≤ 2·kd (the bulge needs kd rows beyond the band).
# Every loop below runs over a slice indexed from 0, so that LLVM vectorises it.


@njit(inline="always", cache=True)
def _reflector(work, column, row, length, v):
    """LAPACK's dlarfg: the Householder reflector H = I - tau·v·vᵀ (v[0] = 1, returned in v, tau
    returned) with H·x = (beta, 0, ..., 0)ᵀ for x = M(row .. row+length-1, column); x is set to
    that (beta, then zeros)."""
    entries = work[column]
    offset = row - column
    v[0] = 1.0
    if length <= 1:
        return 0.0
    x = entries[offset + 1 : offset + length]
    norm2 = 0.0
    for i in range(length - 1):
        norm2 += x[i] * x[i]
    alpha = entries[offset]
    if norm2 == 0.0:
        for i in range(length - 1):
            v[i + 1] = 0.0
        return 0.0
    beta = -math.copysign(math.sqrt(alpha * alpha + norm2), alpha)
    scale = 1.0 / (alpha - beta)
    tail = v[1:length]
    for i in range(length - 1):
        tail[i] = x[i] * scale
        x[i] = 0.0
    entries[offset] = beta
    return (beta - alpha) / beta


@njit(inline="always", cache=True)
def _both_sides(work, start, length, v, tau, w):
    """LAPACK's dlarfy: the symmetric block C = M(start .. start+length-1, same) set to H·C·H, from
    its lower triangle: w = tau·C·v, w += -tau/2·(wᵀv)·v, C -= v·wᵀ + w·vᵀ."""
    if tau == 0.0:
        return
    for i in range(length):
        w[i] = 0.0
    for j in range(length):
        column = work[start + j][: length - j]  # C(j + i, j)
        vs = v[j:length]
        ws = w[j:length]
        vj = v[j]
        dot = 0.0
        for i in range(1, length - j):
            ws[i] += column[i] * vj
            dot += column[i] * vs[i]
        w[j] += column[0] * vj + dot
    dot = 0.0
    for i in range(length):
        w[i] *= tau
        dot += w[i] * v[i]
    alpha = -0.5 * tau * dot
    for i in range(length):
        w[i] += alpha * v[i]
    for j in range(length):
        column = work[start + j][: length - j]
        vs = v[j:length]
        ws = w[j:length]
        vj, wj = v[j], w[j]
        for i in range(length - j):
            column[i] -= vs[i] * wj + ws[i] * vj


@njit(inline="always", cache=True)
def _from_right(work, row, rows, column, columns, v, tau, w):
    """M(row .. row+rows-1, column .. column+columns-1) = M·H, H = I - tau·v·vᵀ (LAPACK's dlarfx,
    side R)."""
    if tau == 0.0:
        return
    for i in range(rows):
        w[i] = 0.0
    for j in range(columns):
        offset = row - column - j
        entries = work[column + j][offset : offset + rows]
        vj = v[j]
        for i in range(rows):
            w[i] += entries[i] * vj
    for j in range(columns):
        offset = row - column - j
        entries = work[column + j][offset : offset + rows]
        tvj = tau * v[j]
        for i in range(rows):
            entries[i] -= w[i] * tvj


@njit(inline="always", cache=True)
def _from_left(work, row, rows, column, columns, v, tau):
    """M(row .. row+rows-1, column .. column+columns-1) = H·M, H = I - tau·v·vᵀ (LAPACK's dlarfx,
    side L)."""
    if tau == 0.0:
        return
    vs = v[:rows]
    for j in range(columns):
        offset = row - column - j
        entries = work[column + j][offset : offset + rows]
        dot = 0.0
        for i in range(rows):
            dot += vs[i] * entries[i]
        dot *= tau
        for i in range(rows):
            entries[i] -= vs[i] * dot


@njit(inline="always", cache=True)
def _step(work, n, kd, sweep, step, v, tau, w):
    """Step ``step`` (1, 2, ...) of sweep ``sweep``: (the tau of the reflector now in v, whether
    the sweep has ended). LAPACK's block positions (COLPT, STIND, EDIND), 0-based."""
    if step % 2 == 0:  # type 2
        last = (step // 2) * kd + sweep + 1  # COLPT, 1-based
        start = last - kd
        end = min(last, n) - 1
        below = end + 1
        rows = min(end + kd, n - 1) - below + 1
        columns = end - start + 1
        if rows > 0:
            _from_right(work, below, rows, start, columns, v, tau, w)
            tau = _reflector(work, start, below, rows, v)
            _from_left(work, below, rows, start + 1, columns - 1, v, tau)
        return tau, last >= n - 1
    last = ((step + 1) // 2) * kd + sweep + 1
    start = last - kd
    end = min(last, n) - 1
    length = end - start + 1
    if step == 1:  # type 1: the sweep's first reflector, from column `sweep`
        tau = _reflector(work, start - 1, start, length, v)
    _both_sides(work, start, length, v, tau, w)  # types 1 and 3
    return tau, start >= end - 1 and end == n - 1


_DONE = 1 << 62  # a finished sweep's progress


@njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def _chase(work, n, kd, start, stop, stride, progress):
    """Sweeps start, start + stride, ... below stop, in order; progress[s]: the steps sweep s has
    finished (_DONE once it has ended), which the thread of sweep s+1 waits on (every sweep before
    the first of this call's threads has ended)."""
    v = np.zeros(kd + 1)
    w = np.zeros(kd + 1)
    for sweep in range(start, stop, stride):
        tau = 0.0
        step = 1
        while True:
            if sweep > 0 and stride > 1:
                spins = 0
                while _load_acquire(progress, sweep - 1) < step + 2:
                    spins += 1
                    if spins > 100_000:  # a core-sized wait: the other thread lacks a core
                        _yield_cpu()
            tau, ended = _step(work, n, kd, sweep, step, v, tau, w)
            if ended:
                _store_release(progress, sweep, _DONE)
                break
            _store_release(progress, sweep, step)
            step += 1


def _sweeps(work, n, kd, start, stop, threads, progress) -> float:
    """Sweeps start .. stop - 1 in ``threads`` threads (sweep s in thread (s - start) mod threads); the
    seconds they took."""
    began = time.perf_counter()
    if threads == 1:
        _chase(work, n, kd, start, stop, 1, progress)
    else:
        workers = [
            threading.Thread(target=_chase, args=(work, n, kd, start + t, stop, threads, progress), daemon=True)
            for t in range(threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    return time.perf_counter() - began


def _blocks(n: int, kd: int, start: int, stop: int) -> float:
    """About how many steps sweeps start .. stop - 1 take (sweep s: 2·(n - 1 - s) / kd), the
    measure of work that times per step are compared in."""
    count = stop - start
    return count + 2 / kd * (count * (n - 1) - (start + stop - 1) * count / 2)


# Several threads hand each block of the band on to the next sweep's thread, a few microseconds of
# work apart: cheap where their cores share a cache, dear where they do not. On a 2-vCPU virtual
# machine whose host places the vCPUs now near, now far (a cache line's round trip 90–140 ns or
# 380–510 ns), COCO's band (n = 5000, kd = 64) took 0.5–0.6 s in two threads and 0.9–1.0 s in one,
# or 1.3–1.7 s in two where one still took 1.0–1.2 s. So a chase long enough (TRIAL_MIN_STEPS)
# first times a stretch of sweeps in each, each about TRIAL_SHARE of the work, and does the rest
# in the faster.
TRIAL_MIN_STEPS = 100_000
TRIAL_SHARE = 0.02


def _trial_stop(n: int, kd: int, start: int, steps: float) -> int:
    """The sweep after a stretch from ``start`` of about ``steps`` steps."""
    stop = start
    while stop < n - 1 and _blocks(n, kd, start, stop) < steps:
        stop += 1
    return stop


def tridiagonal(band: np.ndarray, threads: int = 1) -> tuple[np.ndarray, np.ndarray, str]:
    """(diagonal, subdiagonal, how) of a tridiagonal matrix similar to the symmetric band matrix
    ``band`` (LAPACK lower band storage, (kd + 1) × n, left alone), by bulge chasing in up to
    ``threads`` threads (see above; ``how`` says in how many). Its eigenvalues are the band
    matrix's (dsterf). The result is the same whatever the threads."""
    kd, n = band.shape[0] - 1, band.shape[1]
    diagonal = np.array(band[0], dtype=np.float64)
    if kd == 0 or n < 2:
        return diagonal, np.zeros(max(n - 1, 0)), "diagonal already"
    if kd == 1:
        return diagonal, np.array(band[1, : n - 1], dtype=np.float64), "tridiagonal already"
    work = np.zeros((n, 2 * kd + 1))
    work[:, : kd + 1] = band.T
    progress = np.zeros(n, dtype=np.int64)
    threads = max(1, min(threads, n - 1))
    total = _blocks(n, kd, 0, n - 1)
    start, how = 0, "1 thread" if threads == 1 else f"{threads} threads"
    if threads > 1 and total >= TRIAL_MIN_STEPS:
        _chase(work, n, kd, 0, 0, 1, progress)  # no sweep: the kernel loaded before it is timed
        middle = _trial_stop(n, kd, 0, TRIAL_SHARE * total)
        end = _trial_stop(n, kd, middle, TRIAL_SHARE * total)
        several = _sweeps(work, n, kd, 0, middle, threads, progress) / _blocks(n, kd, 0, middle)
        one = _sweeps(work, n, kd, middle, end, 1, progress) / _blocks(n, kd, middle, end)
        start = end
        if one < several:
            how = f"1 thread: {several * 1e6:.1f} µs a step in {threads} threads, {one * 1e6:.1f} in one"
            threads = 1
    _sweeps(work, n, kd, start, n - 1, threads, progress)
    return work[:, 0].copy(), work[: n - 1, 1].copy(), how
