"""The compiled kernels of :mod:`semspace.neighbors` (numba; compiled once, cached on disk).

Kept apart so that importing :mod:`semspace.neighbors` does not import numba, and at module level
so that numba can cache the machine code beside this file (a first build compiles for ~20 s).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic


@intrinsic
def popcount(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


@intrinsic
def trailing_zeros(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))

    return types.uint64(types.uint64), codegen


@njit(inline="always", cache=True)
def set_value(code, nq, nb, x):
    """(sort value, value) of a pair under set measure ``code`` (0, 2, 3, 4), as image_pairs
    computes it: value_of's set codes, and the set kernel's scan."""
    if code == 0:
        d = float(nq + nb - 2 * x)
        return d, d
    if code == 2:
        union = nq + nb - x
        if union > 0:
            s = float(x) / float(union)
            return -s, s
        return -0.0, np.nan
    if code == 3:
        total = nq + nb
        s = float(2 * x) / float(total) if total > 0 else 0.0
        return -s, s
    least = min(nq, nb)
    s = float(x) / float(least) if least > 0 else 0.0
    return -s, s


@njit(inline="always", cache=True)
def value_of(code, n_q, n_b, inter, m_q, m_b, msi, it_q, it_b, idf_i, wt_q, wt_b, w_i, n2_q, n2_b, dot):
    """(sort value, value) of one pair under measure ``code``, as image_pairs computes it
    (NaN value: SQL null). The sort value ascends: the distance, or minus the similarity."""
    if code == 0 or code == 2 or code == 3 or code == 4:
        return set_value(code, n_q, n_b, inter)
    if code == 1:
        d = float(m_q + m_b - 2 * msi)
        return d, d
    if code == 5:
        union = it_q + it_b - idf_i
        s = float(idf_i) / float(union) if union > 0 else 0.0
        return -s, s
    if code == 6:
        union = wt_q + wt_b - w_i
        s = float(w_i) / float(union) if union > 0 else 0.0
        return -s, s
    if n2_q > 0 and n2_b > 0:
        s = min(1.0, float(dot) / (math.sqrt(float(n2_q)) * math.sqrt(float(n2_b))))
        return -s, s
    return -0.0, 0.0


@njit(inline="always", cache=True)
def heap_push(hv, hval, hid, hin, m, size, k, v, val, b, inter):
    """Insert (v, b) into measure m's max-heap of k (root: the worst kept)."""
    if size < k:
        i = size
        while i > 0:
            parent = (i - 1) // 2
            if hv[m, parent] < v or (hv[m, parent] == v and hid[m, parent] < b):
                hv[m, i] = hv[m, parent]
                hval[m, i] = hval[m, parent]
                hid[m, i] = hid[m, parent]
                hin[m, i] = hin[m, parent]
                i = parent
            else:
                break
        hv[m, i] = v
        hval[m, i] = val
        hid[m, i] = b
        hin[m, i] = inter
        return size + 1
    # full: b arrives after every kept id, so only a strictly smaller value enters
    i = 0
    while True:
        left = 2 * i + 1
        if left >= k:
            break
        child = left
        right = left + 1
        if right < k and (hv[m, right] > hv[m, left] or (hv[m, right] == hv[m, left] and hid[m, right] > hid[m, left])):
            child = right
        if hv[m, child] > v or (hv[m, child] == v and hid[m, child] > b):
            hv[m, i] = hv[m, child]
            hval[m, i] = hval[m, child]
            hid[m, i] = hid[m, child]
            hin[m, i] = hin[m, child]
            i = child
        else:
            break
    hv[m, i] = v
    hval[m, i] = val
    hid[m, i] = b
    hin[m, i] = inter
    return size


@njit(inline="always", cache=True)
def emit(hv, hval, hid, hin, sizes, k, qq, out_id, out_val, out_inter):
    """Each measure's heap as query row qq of the outputs, sorted by (sort value, id)."""
    for m in range(hv.shape[0]):
        size = sizes[m]
        idx = np.arange(size)
        for i in range(1, size):  # insertion sort: size <= k is small
            j = i
            while j > 0 and (
                hv[m, idx[j - 1]] > hv[m, idx[j]]
                or (hv[m, idx[j - 1]] == hv[m, idx[j]] and hid[m, idx[j - 1]] > hid[m, idx[j]])
            ):
                tmp = idx[j - 1]
                idx[j - 1] = idx[j]
                idx[j] = tmp
                j -= 1
        for r in range(k):
            if r < size:
                out_id[qq, m, r] = hid[m, idx[r]]
                out_val[qq, m, r] = hval[m, idx[r]]
                out_inter[qq, m, r] = hin[m, idx[r]]
            else:
                out_id[qq, m, r] = -1


TILE = 2048


@njit(inline="always", cache=True)
def rare_counts(q, rare_indptr, rare_tokens, post_indptr, post_images, r_inter, step):
    """Add ``step`` to r_inter[b] for every rare token q shares with b (step −1 undoes it)."""
    for e in range(rare_indptr[q], rare_indptr[q + 1]):
        t = rare_tokens[e]
        for p in range(post_indptr[t], post_indptr[t + 1]):
            r_inter[post_images[p]] += step


@njit(inline="always", cache=True)
def intersections(q, t0, t1, masks, r_inter, inter):
    """inter[b − t0] = |A_q ∩ A_b| for b in t0..t1−1: the popcounts of the shared mask words
    (a word the query has no bit of is skipped) plus the rare tokens' counts, in one fused loop
    for the first word."""
    m0 = masks[0, q]
    row0 = masks[0, t0:t1]
    counts = r_inter[t0:t1]
    for i in range(t1 - t0):  # slices from 0: a range(t0, t1) index might be negative to numba
        inter[i] = counts[i] + np.int32(popcount(m0 & row0[i]))
    for w in range(1, masks.shape[0]):
        mw = masks[w, q]
        if mw == 0:
            continue
        row = masks[w, t0:t1]
        for i in range(t1 - t0):
            inter[i] += np.int32(popcount(mw & row[i]))


@njit(inline="always", cache=True)
def weighted_scratch(n):
    """One thread's scratch for weighted_scatter over n images: the touched marks and list, and
    the rare sums per image (zeroed on first touch, so never cleared whole)."""
    return (
        np.zeros(n, np.uint8),
        np.empty(n, np.int64),
        np.zeros(n, np.int64),
        np.zeros(n, np.int64),
        np.zeros(n, np.int64),
        np.zeros(n, np.int64),
        np.zeros(n, np.int64),
    )


@njit(inline="always", cache=True)
def weighted_scatter(
    q,
    rare_indptr,
    rare_tokens,
    rare_cnt,
    post_indptr,
    post_images,
    post_counts,
    rare_idf,
    rare_cos,
    mark,
    touched,
    r_inter,
    r_msi,
    r_idf,
    r_w,
    r_dot,
):
    """The rare tokens' sums of query q with every image sharing one with it (touched)."""
    n_touched = 0
    for e in range(rare_indptr[q], rare_indptr[q + 1]):
        t = rare_tokens[e]
        na = rare_cnt[e]
        for p in range(post_indptr[t], post_indptr[t + 1]):
            b = post_images[p]
            if mark[b] == 0:
                mark[b] = 1
                touched[n_touched] = b
                n_touched += 1
                r_inter[b] = 0
                r_msi[b] = 0
                r_idf[b] = 0
                r_w[b] = 0
                r_dot[b] = 0
            nb = post_counts[p]
            mn = min(na, nb)
            r_inter[b] += 1
            r_msi[b] += mn
            r_idf[b] += rare_idf[t]
            r_w[b] += mn * rare_idf[t]
            r_dot[b] += na * nb * rare_cos[t]
    return n_touched


@njit(inline="always", cache=True)
def weighted_sums(q, b, masks, fq, fcounts, fidf, fcos, mark, r_inter, r_msi, r_idf, r_w, r_dot):
    """(|A∩B|, multiset intersection, Σ idf_q, Σ min·idf_q, Σ n_a·n_b·cosine_q) of pair (q, b)."""
    inter = 0
    msi = 0
    idf_i = 0
    w_i = 0
    dot = 0
    for w in range(masks.shape[0]):
        bits = masks[w, q] & masks[w, b]
        while bits:
            s = 64 * w + np.int64(trailing_zeros(bits))
            bits &= bits - np.uint64(1)
            na = fq[s]
            nb = np.int64(fcounts[b, s])
            mn = min(na, nb)
            inter += 1
            msi += mn
            idf_i += fidf[s]
            w_i += mn * fidf[s]
            dot += na * nb * fcos[s]
    if mark[b]:
        inter += r_inter[b]
        msi += r_msi[b]
        idf_i += r_idf[b]
        w_i += r_w[b]
        dot += r_dot[b]
    return inter, msi, idf_i, w_i, dot


# Candidates per tile of the set kernel's pruning: each tile's best value is kept, and a tile
# whose best cannot enter the list is never scanned again.
SCAN_TILE = 256


@njit(inline="always", cache=True)
def tile_best(nq, sizes, row):
    """The smallest symmetric difference over a tile of candidates of set sizes ``sizes`` whose
    intersections with the query (of ``nq`` tokens) are ``row`` (a loop the compiler vectorises;
    the scan for the heap comes later, and only where this can enter)."""
    best_d = np.int64(1) << 62
    for i in range(len(sizes)):
        best_d = min(best_d, np.int64(sizes[i]) - 2 * np.int64(row[i]))
    return float(nq + best_d)


@njit(parallel=True, cache=True)
def top_k_sets_block(
    n_chunks,
    queries,
    lo,
    hi,
    codes,
    k,
    n_tokens,
    masks,
    rare_indptr,
    rare_tokens,
    post_indptr,
    post_images,
    out_id,
    out_val,
    out_inter,
):
    """The top k of each query among the candidates lo..hi−1 under the set measures (codes 0, 2,
    3, 4: functions of |A|, |B|, |A ∩ B|). ``n_tokens``: int16 where every set is that small
    (half the memory traffic), else int32; the intersections take that type.

    Per query: the rare tokens' counts are scattered; one pass of popcounts turns them into the
    row of intersections (clearing the counts on the way, so the scatter is never undone). For the
    symmetric difference, the smallest distance of each tile of SCAN_TILE candidates: the (k+1)-th
    smallest tile value τ bounds the k-th best neighbour (k tiles without the query hold a value
    ≤ τ), so only tiles whose best is ≤ τ and better than the worst kept are scanned into the heap.
    The similarities scan the row once, entering the heap only below the worst kept. Candidates
    arrive in ascending id order: a tie never displaces the smaller id.

    The loops over candidates index slices from 0: over range(lo, hi) numba must allow for a
    negative index (its wraparound), which kept them from vectorising (4× slower at 118k)."""
    n = masks.shape[1]
    n_q = len(queries)
    n_m = len(codes)
    n_w = masks.shape[0]
    width = max(0, hi - lo)
    n_tiles = (width + SCAN_TILE - 1) // SCAN_TILE
    whole = lo == 0 and hi == n
    n_chunks = max(1, min(n_q, n_chunks))
    for c in prange(n_chunks):
        r_inter = np.zeros_like(n_tokens)
        row = np.zeros_like(n_tokens[lo:hi])
        best = np.empty(n_tiles, np.float64)
        hv = np.empty((n_m, k), np.float64)
        hval = np.empty((n_m, k), np.float64)
        hid = np.empty((n_m, k), np.int64)
        hin = np.empty((n_m, k), np.int64)
        sizes = np.zeros(n_m, np.int64)
        for qq in range(c * n_q // n_chunks, (c + 1) * n_q // n_chunks):
            q = queries[qq]
            for e in range(rare_indptr[q], rare_indptr[q + 1]):
                t = rare_tokens[e]
                for p in range(post_indptr[t], post_indptr[t + 1]):
                    r_inter[post_images[p]] += 1
            m0 = masks[0, q]
            row0 = masks[0, lo:hi]
            counts = r_inter[lo:hi]
            for i in range(width):
                row[i] = counts[i] + np.int64(popcount(m0 & row0[i]))
                counts[i] = 0
            if not whole:  # counts outside the candidates: cleared by the postings
                for e in range(rare_indptr[q], rare_indptr[q + 1]):
                    t = rare_tokens[e]
                    for p in range(post_indptr[t], post_indptr[t + 1]):
                        r_inter[post_images[p]] = 0
            for w in range(1, n_w):
                mw = masks[w, q]
                if mw == 0:
                    continue
                roww = masks[w, lo:hi]
                for i in range(width):
                    row[i] += np.int64(popcount(mw & roww[i]))
            nq = np.int64(n_tokens[q])
            sizes_row = n_tokens[lo:hi]
            for m in range(n_m):
                code = codes[m]
                if code != 0:
                    # a similarity: one scan (a pass of divisions for the tiles' best, then the
                    # pruned scan, measured slower on COCO-like corpora)
                    size = 0
                    worst = np.inf
                    for i in range(width):
                        x = np.int64(row[i])
                        v, val = set_value(code, nq, np.int64(sizes_row[i]), x)
                        if v < worst and lo + i != q:
                            size = heap_push(hv, hval, hid, hin, m, size, k, v, val, lo + i, x)
                            if size == k:
                                worst = hv[m, 0]
                    sizes[m] = size
                    continue
                for ti in range(n_tiles):
                    s0, s1 = ti * SCAN_TILE, min(width, (ti + 1) * SCAN_TILE)
                    best[ti] = tile_best(nq, sizes_row[s0:s1], row[s0:s1])
                tau = np.inf
                if n_tiles > k + 1:
                    tau = np.partition(best, k)[k]
                size = 0
                worst = np.inf
                for ti in range(n_tiles):
                    bt = best[ti]
                    if bt > tau or bt >= worst:
                        continue
                    for i in range(ti * SCAN_TILE, min(width, (ti + 1) * SCAN_TILE)):
                        b = lo + i
                        x = np.int64(row[i])
                        v, val = set_value(code, nq, np.int64(n_tokens[b]), x)
                        if v < worst and b != q:
                            size = heap_push(hv, hval, hid, hin, m, size, k, v, val, b, x)
                            if size == k:
                                worst = hv[m, 0]
                sizes[m] = size
            emit(hv, hval, hid, hin, sizes, k, qq, out_id, out_val, out_inter)


@njit(parallel=True, cache=True)
def top_k_block(
    n_chunks,
    queries,
    candidates,
    codes,
    k,
    n_tokens,
    n_occ,
    idf_tot,
    w_tot,
    norm2,
    masks,
    fcounts,
    fidf,
    fcos,
    rare_indptr,
    rare_tokens,
    rare_cnt,
    post_indptr,
    post_images,
    post_counts,
    rare_idf,
    rare_cos,
    out_id,
    out_val,
    out_inter,
):
    """The top k of each query among ``candidates`` (ascending positions) under any measures,
    the weighted ones included: the shared frequent tokens bit by bit with their counts, the
    rare ones by the scatter."""
    n = masks.shape[1]
    n_q = len(queries)
    n_m = len(codes)
    n_f = fcounts.shape[1]
    n_chunks = max(1, min(n_q, n_chunks))
    for c in prange(n_chunks):
        mark, touched, r_inter, r_msi, r_idf, r_w, r_dot = weighted_scratch(n)
        hv = np.empty((n_m, k), np.float64)
        hval = np.empty((n_m, k), np.float64)
        hid = np.empty((n_m, k), np.int64)
        hin = np.empty((n_m, k), np.int64)
        sizes = np.zeros(n_m, np.int64)
        fq = np.empty(n_f, np.int64)
        for qq in range(c * n_q // n_chunks, (c + 1) * n_q // n_chunks):
            q = queries[qq]
            n_touched = weighted_scatter(
                q,
                rare_indptr,
                rare_tokens,
                rare_cnt,
                post_indptr,
                post_images,
                post_counts,
                rare_idf,
                rare_cos,
                mark,
                touched,
                r_inter,
                r_msi,
                r_idf,
                r_w,
                r_dot,
            )
            for m in range(n_m):
                sizes[m] = 0
            for s in range(n_f):
                fq[s] = fcounts[q, s]
            nq = n_tokens[q]
            for ci in range(len(candidates)):
                b = candidates[ci]
                if b == q:
                    continue
                inter, msi, idf_i, w_i, dot = weighted_sums(
                    q, b, masks, fq, fcounts, fidf, fcos, mark, r_inter, r_msi, r_idf, r_w, r_dot
                )
                for m in range(n_m):
                    v, val = value_of(
                        codes[m],
                        nq,
                        n_tokens[b],
                        inter,
                        n_occ[q],
                        n_occ[b],
                        msi,
                        idf_tot[q],
                        idf_tot[b],
                        idf_i,
                        w_tot[q],
                        w_tot[b],
                        w_i,
                        norm2[q],
                        norm2[b],
                        dot,
                    )
                    if sizes[m] == k and v >= hv[m, 0]:
                        continue
                    sizes[m] = heap_push(hv, hval, hid, hin, m, sizes[m], k, v, val, b, inter)
            for i in range(n_touched):
                mark[touched[i]] = 0
            emit(hv, hval, hid, hin, sizes, k, qq, out_id, out_val, out_inter)


@njit(parallel=True, cache=True)
def scores_block(
    n_chunks,
    queries,
    codes,
    n_tokens,
    n_occ,
    idf_tot,
    w_tot,
    norm2,
    masks,
    fcounts,
    fidf,
    fcos,
    rare_indptr,
    rare_tokens,
    rare_cnt,
    post_indptr,
    post_images,
    post_counts,
    rare_idf,
    rare_cos,
    out,
):
    """out[m, qq, b]: measure ``codes[m]`` of (queries[qq], b) for every image b (NaN: b = the
    query); the pair's sums are found once for all the measures."""
    n = masks.shape[1]
    n_q = len(queries)
    n_f = fcounts.shape[1]
    n_chunks = max(1, min(n_q, n_chunks))
    for c in prange(n_chunks):
        mark, touched, r_inter, r_msi, r_idf, r_w, r_dot = weighted_scratch(n)
        fq = np.empty(n_f, np.int64)
        for qq in range(c * n_q // n_chunks, (c + 1) * n_q // n_chunks):
            q = queries[qq]
            n_touched = weighted_scatter(
                q,
                rare_indptr,
                rare_tokens,
                rare_cnt,
                post_indptr,
                post_images,
                post_counts,
                rare_idf,
                rare_cos,
                mark,
                touched,
                r_inter,
                r_msi,
                r_idf,
                r_w,
                r_dot,
            )
            for s in range(n_f):
                fq[s] = fcounts[q, s]
            for b in range(n):
                inter, msi, idf_i, w_i, dot = weighted_sums(
                    q, b, masks, fq, fcounts, fidf, fcos, mark, r_inter, r_msi, r_idf, r_w, r_dot
                )
                for m in range(len(codes)):
                    v, val = value_of(
                        codes[m],
                        n_tokens[q],
                        n_tokens[b],
                        inter,
                        n_occ[q],
                        n_occ[b],
                        msi,
                        idf_tot[q],
                        idf_tot[b],
                        idf_i,
                        w_tot[q],
                        w_tot[b],
                        w_i,
                        norm2[q],
                        norm2[b],
                        dot,
                    )
                    out[m, qq, b] = val
            for m in range(len(codes)):
                out[m, qq, q] = np.nan
            for i in range(n_touched):
                mark[touched[i]] = 0


@njit(parallel=True, cache=True)
def pair_statistics_block(
    n_chunks, queries, n_tokens32, masks, rare_indptr, rare_tokens, post_indptr, post_images, out
):
    """Exact aggregates over the pairs (q, b), b > q, of each query q: out[c] of each chunk c
    holds [pairs, Σd, Σd², Σi, Σi², Σd·i, min d, max d, min i, max i, min u, max u] of the
    symmetric difference d, intersection i and union u (int64 sums: exact)."""
    n = masks.shape[1]
    n_q = len(queries)
    n_chunks = max(1, min(n_q, n_chunks))
    for c in prange(n_chunks):
        r_inter = np.zeros(n, np.int32)
        inter = np.empty(TILE, np.int32)
        acc = np.zeros(12, np.int64)
        acc[6] = acc[8] = acc[10] = np.iinfo(np.int64).max
        acc[7] = acc[9] = acc[11] = np.iinfo(np.int64).min
        for qq in range(c * n_q // n_chunks, (c + 1) * n_q // n_chunks):
            q = queries[qq]
            rare_counts(q, rare_indptr, rare_tokens, post_indptr, post_images, r_inter, 1)
            nq = np.int64(n_tokens32[q])
            s_d = 0
            s_dd = 0
            s_i = 0
            s_ii = 0
            s_di = 0
            mn_d = acc[6]
            mx_d = acc[7]
            mn_i = acc[8]
            mx_i = acc[9]
            mn_u = acc[10]
            mx_u = acc[11]
            for t0 in range(q + 1, n, TILE):
                t1 = min(n, t0 + TILE)
                intersections(q, t0, t1, masks, r_inter, inter)
                sizes = n_tokens32[t0:t1]
                for i in range(t1 - t0):
                    x = np.int64(inter[i])
                    nb = np.int64(sizes[i])
                    d = nq + nb - 2 * x
                    u = nq + nb - x
                    s_d += d
                    s_dd += d * d
                    s_i += x
                    s_ii += x * x
                    s_di += d * x
                    mn_d = min(mn_d, d)
                    mx_d = max(mx_d, d)
                    mn_i = min(mn_i, x)
                    mx_i = max(mx_i, x)
                    mn_u = min(mn_u, u)
                    mx_u = max(mx_u, u)
            acc[0] += n - 1 - q
            acc[1] += s_d
            acc[2] += s_dd
            acc[3] += s_i
            acc[4] += s_ii
            acc[5] += s_di
            acc[6] = mn_d
            acc[7] = mx_d
            acc[8] = mn_i
            acc[9] = mx_i
            acc[10] = mn_u
            acc[11] = mx_u
            rare_counts(q, rare_indptr, rare_tokens, post_indptr, post_images, r_inter, -1)
        for j in range(12):
            out[c, j] = acc[j]


@njit(inline="always", cache=True)
def beats(hv, hid, m, size, k, v, b):
    """Whether (v, b) enters measure m's heap: not full, or better than the worst kept by (value, id)."""
    if size < k:
        return True
    return v < hv[m, 0] or (v == hv[m, 0] and b < hid[m, 0])


@njit(inline="always", cache=True)
def descending_prefix(values, count, out):
    """out[j] = sum of the j largest of values[:count] (out[0] = 0)."""
    order = np.argsort(-values[:count])
    out[0] = 0
    for j in range(count):
        out[j + 1] = out[j] + values[order[j]]


@njit(inline="always", cache=True)
def could_enter(
    codes,
    active,
    hv,
    sizes,
    k,
    f,
    b,
    q,
    touched_b,
    n_occ,
    idf_tot,
    w_tot,
    sq_norm2,
    sq_fnorm2,
    ftot,
    p_m,
    p_i,
    p_w,
    p_c,
    r_msi,
    r_idf,
    r_w,
    r_dot,
):
    """Whether pair (q, b) could enter any measure's heap, from bounds on its weighted sums: the
    rare tokens' sums exactly (``touched_b``: b shares a rare token with q; else 0), the frequent
    ones at most the query's f largest contributions (f = the shared mask bits) and at most b's own
    frequent totals, the cosine's frequent dot at most |q_f|·|b_f| (Cauchy–Schwarz). Compared
    without division, with a relative margin of 1e-9 towards entering: never skips a pair that
    belongs in a list."""
    for m in range(len(codes)):
        if sizes[m] < k:
            return True
        code = codes[m]
        worst = hv[m, 0]
        if code == 1:
            ub = min(p_m[f], ftot[0, b]) + (r_msi[b] if touched_b else 0)
            if float(n_occ[q] + n_occ[b] - 2 * ub) <= worst:
                return True
            continue
        best_sim = -worst  # the worst kept similarity
        if code == 5:
            ub = min(p_i[f], ftot[1, b]) + (r_idf[b] if touched_b else 0)
            union = idf_tot[q] + idf_tot[b] - ub
        elif code == 6:
            ub = min(p_w[f], ftot[2, b]) + (r_w[b] if touched_b else 0)
            union = w_tot[q] + w_tot[b] - ub
        else:
            top = (float(r_dot[b]) if touched_b else 0.0) + math.sqrt(float(p_c[f])) * sq_fnorm2[b]
            if top >= best_sim * sq_norm2[q] * sq_norm2[b] * (1.0 - 1e-9):
                return True
            continue
        if union <= 0 or float(ub) >= best_sim * float(union) * (1.0 - 1e-9):
            return True
    return False


@njit(parallel=True, cache=True)
def top_k_weighted_block(
    n_chunks,
    queries,
    codes,
    k,
    n_tokens,
    n_occ,
    idf_tot,
    w_tot,
    norm2,
    ftot,
    sq_norm2,
    sq_fnorm2,
    masks,
    fcounts,
    fidf,
    fcos,
    rare_indptr,
    rare_tokens,
    rare_cnt,
    post_indptr,
    post_images,
    post_counts,
    rare_idf,
    rare_cos,
    out_id,
    out_val,
    out_inter,
):
    """top_k_block over every image for the measures that need the weighted sums (codes 1, 5, 6, 7),
    exact, pruned by could_enter: the images sharing a rare token with the query first (they fill
    the heaps with good lists), then all others; a pair is scored exactly (its shared frequent
    tokens bit by bit) only when its bound could enter a heap."""
    n = masks.shape[1]
    n_q = len(queries)
    n_m = len(codes)
    n_f = fcounts.shape[1]
    n_chunks = max(1, min(n_q, n_chunks))
    for c in prange(n_chunks):
        mark, touched, r_inter, r_msi, r_idf, r_w, r_dot = weighted_scratch(n)
        hv = np.empty((n_m, k), np.float64)
        hval = np.empty((n_m, k), np.float64)
        hid = np.empty((n_m, k), np.int64)
        hin = np.empty((n_m, k), np.int64)
        sizes = np.zeros(n_m, np.int64)
        fq = np.empty(n_f, np.int64)
        contrib = np.empty(n_f, np.int64)
        p_m = np.empty(n_f + 1, np.int64)
        p_i = np.empty(n_f + 1, np.int64)
        p_w = np.empty(n_f + 1, np.int64)
        p_c = np.empty(n_f + 1, np.int64)
        active = np.ones(n_m, np.bool_)
        for qq in range(c * n_q // n_chunks, (c + 1) * n_q // n_chunks):
            q = queries[qq]
            n_touched = weighted_scatter(
                q,
                rare_indptr,
                rare_tokens,
                rare_cnt,
                post_indptr,
                post_images,
                post_counts,
                rare_idf,
                rare_cos,
                mark,
                touched,
                r_inter,
                r_msi,
                r_idf,
                r_w,
                r_dot,
            )
            for s in range(n_f):
                fq[s] = fcounts[q, s]
            for kind in range(4):
                count = 0
                for s in range(n_f):
                    if fq[s] > 0:
                        if kind == 0:
                            contrib[count] = fq[s]
                        elif kind == 1:
                            contrib[count] = fidf[s]
                        elif kind == 2:
                            contrib[count] = fq[s] * fidf[s]
                        else:
                            contrib[count] = fq[s] * fq[s] * fcos[s]
                        count += 1
                descending_prefix(
                    contrib, count, p_m if kind == 0 else (p_i if kind == 1 else (p_w if kind == 2 else p_c))
                )
            for m in range(n_m):
                sizes[m] = 0
                active[m] = True
            nq = n_tokens[q]
            for phase in range(2):
                # 0: the images sharing a rare token with q; 1: every other image, for the measures
                # that any of them could still enter: a similarity whose bound over every image
                # sharing no rare token (all of q's frequent mass shared) is below the worst kept
                # similarity gains nothing from them
                if phase == 1:
                    any_active = False
                    for m in range(n_m):
                        code = codes[m]
                        if sizes[m] == k and code != 1:
                            best_sim = -hv[m, 0]
                            if code == 5:
                                ub_all = float(ftot[1, q]) / float(idf_tot[q]) if idf_tot[q] > 0 else 0.0
                            elif code == 6:
                                ub_all = float(ftot[2, q]) / float(w_tot[q]) if w_tot[q] > 0 else 0.0
                            else:
                                ub_all = sq_fnorm2[q] / sq_norm2[q] if sq_norm2[q] > 0 else 0.0
                            active[m] = ub_all * (1.0 + 1e-9) >= best_sim
                        any_active = any_active or active[m]
                    if not any_active:
                        break
                n_scan = n_touched if phase == 0 else n
                for i in range(n_scan):
                    b = touched[i] if phase == 0 else i
                    if b == q or (phase == 1 and mark[b]):
                        continue
                    f = 0
                    for w in range(masks.shape[0]):
                        f += np.int64(popcount(masks[w, q] & masks[w, b]))
                    if not could_enter(
                        codes,
                        active,
                        hv,
                        sizes,
                        k,
                        f,
                        b,
                        q,
                        phase == 0,
                        n_occ,
                        idf_tot,
                        w_tot,
                        sq_norm2,
                        sq_fnorm2,
                        ftot,
                        p_m,
                        p_i,
                        p_w,
                        p_c,
                        r_msi,
                        r_idf,
                        r_w,
                        r_dot,
                    ):
                        continue
                    inter, msi, idf_i, w_i, dot = weighted_sums(
                        q, b, masks, fq, fcounts, fidf, fcos, mark, r_inter, r_msi, r_idf, r_w, r_dot
                    )
                    for m in range(n_m):
                        v, val = value_of(
                            codes[m],
                            nq,
                            n_tokens[b],
                            inter,
                            n_occ[q],
                            n_occ[b],
                            msi,
                            idf_tot[q],
                            idf_tot[b],
                            idf_i,
                            w_tot[q],
                            w_tot[b],
                            w_i,
                            norm2[q],
                            norm2[b],
                            dot,
                        )
                        if beats(hv, hid, m, sizes[m], k, v, b):
                            sizes[m] = heap_push(hv, hval, hid, hin, m, sizes[m], k, v, val, b, inter)
            for i in range(n_touched):
                mark[touched[i]] = 0
            emit(hv, hval, hid, hin, sizes, k, qq, out_id, out_val, out_inter)


@njit(parallel=True, cache=True)
def pair_rows_block(
    n_chunks,
    q0,
    q1,
    corpus_id,
    image_ids32,
    n_tokens32,
    entry_indptr,
    entry_start,
    entry_end,
    entry_count,
    entry_idf,
    entry_cos,
    post_images,
    post_counts,
    o_corpus,
    o_i,
    o_j,
    o_ni,
    o_nj,
    o_inter,
    o_msi,
    o_idf,
    o_w,
    o_dot,
):
    """int_pair_overlaps' columns of the pairs (q, b), q0 ≤ q < q1 < … , q < b, into the o_*
    arrays (row 0: pair (q0, q0+1); pairs in image order). Query q scatters over the part of each
    of its tokens' posting lists after q (semspace.pairs.postings), then writes its row segment,
    clearing the accumulator as it reads it. Chunk c takes q0 + c, q0 + c + n_chunks, …: the
    segments shrink with q, so striding keeps the chunks even."""
    n = len(image_ids32)
    base0 = q0 * (n - 1) - q0 * (q0 - 1) // 2
    n_chunks = max(1, min(q1 - q0, n_chunks))
    for c in prange(n_chunks):
        inter = np.zeros(n, np.int32)
        msi = np.zeros(n, np.int32)
        idf = np.zeros(n, np.int64)
        w = np.zeros(n, np.int64)
        dot = np.zeros(n, np.int64)
        for q in range(q0 + c, q1, n_chunks):
            for e in range(entry_indptr[q], entry_indptr[q + 1]):
                na = entry_count[e]
                t_idf = entry_idf[e]
                t_cos = entry_cos[e]
                for p in range(entry_start[e], entry_end[e]):
                    b = post_images[p]
                    nb = post_counts[p]
                    mn = min(na, nb)
                    inter[b] += 1
                    msi[b] += np.int32(mn)
                    idf[b] += t_idf
                    w[b] += mn * t_idf
                    dot[b] += na * nb * t_cos
            first = q * (n - 1) - q * (q - 1) // 2 - base0  # the row of pair (q, q + 1)
            last = first + n - q - 1
            iq = image_ids32[q]
            nq = n_tokens32[q]
            # the segment and the images after q as slices indexed from 0: over range(q + 1, n)
            # numba must allow for a negative index, which kept this loop from vectorising
            s_corpus, s_i, s_j, s_ni, s_nj = (
                o_corpus[first:last],
                o_i[first:last],
                o_j[first:last],
                o_ni[first:last],
                o_nj[first:last],
            )
            s_inter, s_msi, s_idf, s_w, s_dot = (
                o_inter[first:last],
                o_msi[first:last],
                o_idf[first:last],
                o_w[first:last],
                o_dot[first:last],
            )
            ids_b, sizes_b = image_ids32[q + 1 : n], n_tokens32[q + 1 : n]
            inter_b, msi_b, idf_b, w_b, dot_b = (
                inter[q + 1 : n],
                msi[q + 1 : n],
                idf[q + 1 : n],
                w[q + 1 : n],
                dot[q + 1 : n],
            )
            for i in range(n - q - 1):
                s_corpus[i] = corpus_id
                s_i[i] = iq
                s_j[i] = ids_b[i]
                s_ni[i] = nq
                s_nj[i] = sizes_b[i]
                s_inter[i] = inter_b[i]
                s_msi[i] = msi_b[i]
                s_idf[i] = idf_b[i]
                s_w[i] = w_b[i]
                s_dot[i] = dot_b[i]
                inter_b[i] = 0
                msi_b[i] = 0
                idf_b[i] = 0
                w_b[i] = 0
                dot_b[i] = 0


@njit(parallel=True, cache=True)
def centred_squared_distances(n_chunks, n_tokens, masks, rare_indptr, rare_tokens, post_indptr, post_images, out):
    """Classical MDS's B = −½ J D² J of the symmetric difference d = |A| + |B| − 2|A ∩ B|, straight
    into ``out`` (n × n float64, every entry written): first each row of D² with its mean (the
    intersections of one image with all, as in :func:`intersections`; d² is an exact integer in
    float64), then b_ij = −½ d²_ij + c_i + c_j with c = row mean / 2 − grand mean / 4. Rows are
    dealt to the chunks in turn, so each chunk gets short and long sets alike."""
    n = masks.shape[1]
    row_total = np.zeros(n, np.float64)
    if n == 0:
        return
    n_chunks = max(1, min(n, n_chunks))
    for c in prange(n_chunks):
        r_inter = np.zeros(n, np.int32)
        inter = np.empty(n, np.int32)
        for q in range(c, n, n_chunks):
            rare_counts(q, rare_indptr, rare_tokens, post_indptr, post_images, r_inter, 1)
            intersections(q, 0, n, masks, r_inter, inter)
            nq = n_tokens[q]
            total = 0.0
            row = out[q]
            for b in range(n):
                d = np.float64(nq + n_tokens[b] - 2 * inter[b])
                row[b] = d * d
                total += d * d
                r_inter[b] = 0
            row_total[q] = total
    # the totals are exact integers (below 2⁵³ for any n × n that fits in memory): so is their sum
    grand = row_total.sum() / n / n
    shift = 0.5 * (row_total / n) - 0.25 * grand
    for q in prange(n):
        row = out[q]
        s = shift[q]
        for b in range(n):
            row[b] = -0.5 * row[b] + (s + shift[b])  # s_i + s_j = s_j + s_i: B exactly symmetric
