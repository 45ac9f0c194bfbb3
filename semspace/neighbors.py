"""Exact nearest neighbours without the all-pairs table: a compiled kernel over token sets.

For a corpus too large for ``image_pairs`` (N²/2 rows: ~7·10⁹ at 118k images), the top-k lists of
``image_neighbors`` and one-image-against-all rows are computed here from the kernel inputs dbt
builds (``int_token_weights``, ``int_pair_set_sizes``), never storing a pair. Every value is the
one ``image_pairs`` computes in SQL, with the same integer sums and the same floating-point
operations in the same order, so the lists are identical row for row to the SQL kernel's
(``macros/nearest_neighbors.sql``), ties included (the smaller neighbour id first).

How a pair's sums are found, for one query image against every image:

* the F (≤ 64) tokens with the largest document frequency are bits of one 64-bit mask per image:
  the shared frequent tokens of a pair are ``mask_a & mask_b``, their count one popcount. In COCO
  they carry ~95 % of Σ df², the work a token self-join would do;
* every other ("rare") token has a posting list; the query scatters over the lists of its rare
  tokens, touching only the images that share one with it, and adds their rare sums;
* the weighted sums (multiset intersection, IDF mass, tf·idf mass, cosine dot) walk the set bits of
  the shared mask (n_captions of the frequent tokens kept per image) plus the same scatter;
* each measure's bounded max-heap of k keeps (sort value, neighbour id); candidates arrive in
  ascending id order, so a tie never displaces the smaller id.

The work is ~N² cheap mask visits plus Σ(rare df²): seconds at 50k images, about a minute at 118k.
Query images are processed in blocks (progress bar, interruptible between blocks), in parallel
over numba's threads; memory is O(N · (k · measures + F)), never O(N²).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from semspace.errors import SemspaceError

# Measure codes of the kernel, in the order of macros/nearest_neighbors.sql's neighbor_measure_kinds.
MEASURE_CODES: dict[str, int] = {
    "symmetric_difference": 0,
    "multiset_symmetric_difference": 1,
    "jaccard": 2,
    "dice": 3,
    "overlap": 4,
    "idf_jaccard": 5,
    "weighted_jaccard": 6,
    "cosine": 7,
}
DISTANCES = frozenset({"symmetric_difference", "multiset_symmetric_difference"})
WEIGHTED = frozenset({"multiset_symmetric_difference", "idf_jaccard", "weighted_jaccard", "cosine"})
MASK_BITS = 64
MAX_WORDS = 4
# Query images per kernel call: the progress bar's step and where an interrupt can land.
BLOCK = 4096


@dataclass
class CorpusIndex:
    """One corpus's token sets, laid out for the kernel. Image positions follow ``image_ids``
    (ascending), so the smaller position is the smaller id."""

    corpus: str
    image_ids: np.ndarray  # int64 (N,), ascending
    n_tokens: np.ndarray  # int64 (N,) |A|
    n_occurrences: np.ndarray  # int64 (N,) Σ n_captions
    idf_total_q: np.ndarray  # int64 (N,) Σ idf_q
    weight_total_q: np.ndarray  # int64 (N,) Σ n_captions · idf_q
    norm2_q: np.ndarray  # int64 (N,) Σ n_captions² · cosine_q
    masks: np.ndarray  # uint64 (W, N): mask word w of image b holds frequent tokens 64w..64w+63
    frequent_counts: np.ndarray  # uint16 (N, 64W) n_captions of each frequent token (0: absent)
    frequent_totals: np.ndarray  # int64 (4, N): the frequent tokens' Σ n, Σ idf_q, Σ n·idf_q, Σ n²·cosine_q
    frequent_idf_q: np.ndarray  # int64 (64W,)
    frequent_cosine_q: np.ndarray  # int64 (64W,)
    rare_indptr: np.ndarray  # int64 (N+1,) each image's rare tokens
    rare_tokens: np.ndarray  # int64 rare token number (0..R-1)
    rare_counts: np.ndarray  # int64 n_captions
    posting_indptr: np.ndarray  # int64 (R+1,) each rare token's images
    posting_images: np.ndarray  # int64 image positions, ascending per token
    posting_counts: np.ndarray  # int64 n_captions
    rare_idf_q: np.ndarray  # int64 (R,)
    rare_cosine_q: np.ndarray  # int64 (R,)

    @property
    def n_images(self) -> int:
        return len(self.image_ids)

    def positions(self, image_ids: Iterable[int]) -> np.ndarray:
        """Positions of ``image_ids`` (each must be an image of the corpus)."""
        ids = np.asarray(list(image_ids) if not isinstance(image_ids, np.ndarray) else image_ids, dtype=np.int64)
        pos = np.searchsorted(self.image_ids, ids)
        bad = (pos >= len(self.image_ids)) | (self.image_ids[np.minimum(pos, len(self.image_ids) - 1)] != ids)
        if len(ids) and bad.any():
            raise SemspaceError(f"corpus {self.corpus!r} has no image {int(ids[bad][0])}")
        return pos.astype(np.int64)


def build_index(
    image_ids: np.ndarray,
    indptr: np.ndarray,
    tokens: np.ndarray,
    n_captions: np.ndarray,
    idf_q: np.ndarray,
    cosine_q: np.ndarray,
    corpus: str = "",
) -> CorpusIndex:
    """A :class:`CorpusIndex` from CSR token sets: image ``i`` (``image_ids`` ascending) holds
    ``tokens[indptr[i]:indptr[i+1]]`` (distinct token numbers 0..V−1) with counts ``n_captions``;
    ``idf_q`` / ``cosine_q`` are the fixed-point weights per token number (int_token_weights)."""
    image_ids = np.ascontiguousarray(image_ids, dtype=np.int64)
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    tokens = np.ascontiguousarray(tokens, dtype=np.int64)
    counts = np.ascontiguousarray(n_captions, dtype=np.int64)
    idf_q = np.ascontiguousarray(idf_q, dtype=np.int64)
    cosine_q = np.ascontiguousarray(cosine_q, dtype=np.int64)
    n = len(image_ids)
    if len(indptr) != n + 1 or indptr[-1] != len(tokens) or len(counts) != len(tokens):
        raise ValueError("indptr, tokens and n_captions disagree")
    if n > 1 and not (np.diff(image_ids) > 0).all():
        raise ValueError("image_ids must be strictly ascending")
    v = len(idf_q)
    row = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    df = np.bincount(tokens, minlength=v)
    # The F = 64·W most frequent tokens (ties: smaller token number) that are shared at all
    # become mask bits; W (1..MAX_WORDS) balances the mask's N visits per word against the posting
    # lists' Σ df² of the tokens left out (mask_words).
    order = np.lexsort((np.arange(v), -df))
    shared = order[df[order] >= 2]
    words = mask_words(df[shared], row, slot_of=_slots(v, shared), tokens=tokens, n=n)
    frequent = shared[: MASK_BITS * words]
    slot = np.full(v, -1, dtype=np.int64)
    slot[frequent] = np.arange(len(frequent))
    token_slot = slot[tokens]
    is_frequent = token_slot >= 0
    masks = np.zeros((words, n), dtype=np.uint64)
    fs = token_slot[is_frequent]
    np.bitwise_or.at(
        masks, (fs // MASK_BITS, row[is_frequent]), np.left_shift(np.uint64(1), (fs % MASK_BITS).astype(np.uint64))
    )
    if len(counts) and counts.max(initial=0) > np.iinfo(np.uint16).max:
        raise SemspaceError(f"corpus {corpus!r}: a token is used by more than 65535 captions of one image")
    frequent_counts = np.zeros((n, MASK_BITS * words), dtype=np.uint16)
    frequent_counts[row[is_frequent], fs] = counts[is_frequent]
    # rare tokens renumbered 0..R-1; per-image lists and per-token posting lists
    rare_numbers = np.full(v, -1, dtype=np.int64)
    rare = np.flatnonzero(slot < 0)
    rare_numbers[rare] = np.arange(len(rare))
    keep = ~is_frequent
    rare_rows, rare_tok, rare_cnt = row[keep], rare_numbers[tokens[keep]], counts[keep]
    rare_indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rare_rows, minlength=n), out=rare_indptr[1:])
    by_token = np.lexsort((rare_rows, rare_tok))  # stable: images ascending within each token
    posting_indptr = np.zeros(len(rare) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rare_tok, minlength=len(rare)), out=posting_indptr[1:])
    weights_idf = idf_q[tokens]
    return CorpusIndex(
        corpus=corpus,
        image_ids=image_ids,
        n_tokens=np.diff(indptr),
        n_occurrences=_row_sums(row, counts, n),
        idf_total_q=_row_sums(row, weights_idf, n),
        weight_total_q=_row_sums(row, counts * weights_idf, n),
        norm2_q=_row_sums(row, counts * counts * cosine_q[tokens], n),
        masks=masks,
        frequent_counts=frequent_counts,
        frequent_totals=np.stack(
            [
                _row_sums(row[is_frequent], counts[is_frequent], n),
                _row_sums(row[is_frequent], idf_q[tokens[is_frequent]], n),
                _row_sums(row[is_frequent], counts[is_frequent] * idf_q[tokens[is_frequent]], n),
                _row_sums(row[is_frequent], counts[is_frequent] ** 2 * cosine_q[tokens[is_frequent]], n),
            ]
        ),
        frequent_idf_q=_padded(idf_q[frequent], MASK_BITS * words),
        frequent_cosine_q=_padded(cosine_q[frequent], MASK_BITS * words),
        rare_indptr=rare_indptr,
        rare_tokens=np.ascontiguousarray(rare_tok),
        rare_counts=np.ascontiguousarray(rare_cnt),
        posting_indptr=posting_indptr,
        posting_images=np.ascontiguousarray(rare_rows[by_token]),
        posting_counts=np.ascontiguousarray(rare_cnt[by_token]),
        rare_idf_q=np.ascontiguousarray(idf_q[rare]),
        rare_cosine_q=np.ascontiguousarray(cosine_q[rare]),
    )


def _padded(values: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros(size, dtype=np.int64)
    out[: len(values)] = values
    return out


def _slots(v: int, ranked: np.ndarray) -> np.ndarray:
    """Rank of each token number among ``ranked`` (−1: not ranked)."""
    out = np.full(v, -1, dtype=np.int64)
    out[ranked] = np.arange(len(ranked))
    return out


# The kernel's costs, measured on COCO-like corpora: a mask word visit per pair ~1 ns (vectorised
# popcount), a posting-list entry ~6 ns (a scattered add).
WORD_COST, POSTING_COST = 1.0, 6.0


def mask_words(ranked_df: np.ndarray, row: np.ndarray, slot_of: np.ndarray, tokens: np.ndarray, n: int) -> int:
    """Mask words W (1..MAX_WORDS) minimising the estimated top-k work: every query visits every
    image once per mask word it has a bit in, and every posting of its rare tokens once:
    WORD_COST · N · Σ_w (images with a bit in word w) + POSTING_COST · Σ_{t rare} df_t²."""
    rank = slot_of[tokens]
    best, best_cost = 1, np.inf
    df2 = ranked_df.astype(np.float64) ** 2
    tail = np.concatenate([np.cumsum(df2[::-1])[::-1], [0.0]])  # Σ df² from rank r on
    visits = 0.0
    for words in range(1, MAX_WORDS + 1):
        in_word = (rank >= MASK_BITS * (words - 1)) & (rank < MASK_BITS * words)
        visits += len(np.unique(row[in_word]))
        cost = WORD_COST * n * visits + POSTING_COST * tail[min(len(ranked_df), MASK_BITS * words)]
        if cost < best_cost:
            best, best_cost = words, cost
    return best


def _row_sums(row: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Exact int64 sums of ``values`` per row (np.bincount would go through float64)."""
    out = np.zeros(n, dtype=np.int64)
    np.add.at(out, row, values.astype(np.int64))
    return out


def index_from_arrow(token_weights, set_sizes, corpus: str = "") -> CorpusIndex:
    """An index from one corpus's rows of int_token_weights (image_id, token, n_captions, idf_q,
    cosine_q) and int_pair_set_sizes (image_id: every image, empty sets included), as pyarrow
    tables or anything with ``to_pandas``-free column access (``table.column(name)``)."""
    images = np.unique(np.asarray(set_sizes.column("image_id"), dtype=np.int64))
    image_col = np.asarray(token_weights.column("image_id"), dtype=np.int64)
    token_col = token_weights.column("token")
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(token_col).combine_chunks()
    token_numbers = np.asarray(encoded.indices, dtype=np.int64)
    v = len(encoded.dictionary)
    idf = np.zeros(v, dtype=np.int64)
    cos = np.zeros(v, dtype=np.int64)
    idf[token_numbers] = np.asarray(token_weights.column("idf_q"), dtype=np.int64)
    cos[token_numbers] = np.asarray(token_weights.column("cosine_q"), dtype=np.int64)
    positions = np.searchsorted(images, image_col)
    if len(image_col) and (
        (positions >= len(images)).any() or (images[np.minimum(positions, len(images) - 1)] != image_col).any()
    ):
        raise SemspaceError(f"corpus {corpus!r}: token rows of an image that int_pair_set_sizes lacks; rebuild")
    order = np.lexsort((token_numbers, positions))
    indptr = np.zeros(len(images) + 1, dtype=np.int64)
    np.cumsum(np.bincount(positions, minlength=len(images)), out=indptr[1:])
    counts = np.asarray(token_weights.column("n_captions"), dtype=np.int64)
    return build_index(images, indptr, token_numbers[order], counts[order], idf, cos, corpus=corpus)


def load_index(con, corpus: str, schema: str = "intermediate") -> CorpusIndex:
    """The index of ``corpus`` from a built warehouse (DuckDB connection ``con``)."""
    found = con.execute(f"select corpus_id from {schema}.int_corpora where corpus = ?", [corpus]).fetchall()
    if not found:
        raise SemspaceError(f"no corpus {corpus!r} in the warehouse; run `semspace build` (dbt build) first")
    corpus_id = found[0][0]
    weights = con.sql(
        f"select image_id, token, n_captions, idf_q, cosine_q from {schema}.int_token_weights where corpus_id = ?",
        params=[corpus_id],
    ).to_arrow_table()
    sizes = con.sql(
        f"select image_id from {schema}.int_pair_set_sizes where corpus_id = ?", params=[corpus_id]
    ).to_arrow_table()
    return index_from_arrow(weights, sizes, corpus=corpus)


# ---------------------------------------------------------------------------------------------
# the compiled kernel


def _kernels():
    """The numba kernels (semspace._kernel), imported on first use."""
    from semspace import _kernel

    return _kernel.top_k_block, _kernel.scores_block, _kernel.top_k_sets_block, _kernel.top_k_weighted_block


def narrow_sizes(n_tokens: np.ndarray) -> np.ndarray:
    """The set sizes as int16 where every set has fewer than 2¹⁵ tokens (the set kernel's counts
    then take half the cache), else int32."""
    small = len(n_tokens) == 0 or int(n_tokens.max()) < 2**15
    return n_tokens.astype(np.int16 if small else np.int32)


def _measure_codes(measures: Sequence[str]) -> np.ndarray:
    unknown = [m for m in measures if m not in MEASURE_CODES]
    if unknown:
        raise SemspaceError(f"unknown measure(s) {', '.join(unknown)}; known: {', '.join(MEASURE_CODES)}")
    return np.array([MEASURE_CODES[m] for m in measures], dtype=np.int64)


def _arrays(index: CorpusIndex) -> tuple:
    return (
        index.n_tokens,
        index.n_occurrences,
        index.idf_total_q,
        index.weight_total_q,
        index.norm2_q,
        index.masks,
        index.frequent_counts,
        index.frequent_idf_q,
        index.frequent_cosine_q,
        index.rare_indptr,
        index.rare_tokens,
        index.rare_counts,
        index.posting_indptr,
        index.posting_images,
        index.posting_counts,
        index.rare_idf_q,
        index.rare_cosine_q,
    )


def _set_layout(index: CorpusIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What the set kernels read of an index: the mask words and the rare tokens' posting lists."""
    return index.masks, index.rare_indptr, index.rare_tokens, index.posting_indptr, index.posting_images


def _chunks() -> int:
    """Work chunks per kernel call: a few per thread, so a slow chunk does not idle the others."""
    import numba

    return 4 * numba.get_num_threads()


def set_threads(threads: int | None) -> None:
    """Use ``threads`` numba threads (None: all cores numba sees)."""
    import numba

    most = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
    numba.set_num_threads(max(1, min(threads or most, most)))


class Progress:
    """One line on stderr, redrawn: done/total, percent, elapsed and remaining time."""

    def __init__(self, total: int, label: str, enabled: bool | None = None):
        self.total, self.label, self.start = total, label, time.monotonic()
        self.enabled = sys.stderr.isatty() if enabled is None else enabled

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.start
        left = elapsed / done * (self.total - done) if done else 0.0
        sys.stderr.write(
            f"\r{self.label}: {done}/{self.total} ({100 * done / max(self.total, 1):.0f} %) "
            f"{elapsed:.0f} s elapsed, ~{left:.0f} s left"
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write(
                f"\r{self.label}: {self.total}/{self.total} done in {time.monotonic() - self.start:.1f} s\n"
            )
            sys.stderr.flush()


def top_k_arrays(
    index: CorpusIndex,
    k: int,
    measures: Sequence[str],
    queries: np.ndarray | None = None,
    candidates: np.ndarray | None = None,
    threads: int | None = None,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(query positions, neighbour positions, values, intersections): arrays (Q,), (Q, M, k) with
    −1 where an image has fewer than k others. ``queries``/``candidates``: positions (default:
    every image); a query is never its own neighbour."""
    codes = _measure_codes(measures)
    if k < 1:
        raise SemspaceError(f"k must be at least 1 (got {k})")
    top_k_block, _, top_k_sets_block, top_k_weighted_block = _kernels()
    if threads is not None:
        set_threads(threads)
    n = index.n_images
    queries = np.arange(n, dtype=np.int64) if queries is None else np.ascontiguousarray(queries, dtype=np.int64)
    candidates = (
        np.arange(n, dtype=np.int64)
        if candidates is None
        else np.ascontiguousarray(np.sort(candidates), dtype=np.int64)
    )
    q = len(queries)
    out_id = np.full((q, len(codes), k), -1, dtype=np.int64)
    out_val = np.zeros((q, len(codes), k), dtype=np.float64)
    out_inter = np.zeros((q, len(codes), k), dtype=np.int64)
    bar = Progress(q, f"neighbours of {index.corpus or 'corpus'}", progress)
    arrays = _arrays(index)
    contiguous = len(candidates) == 0 or (candidates[-1] - candidates[0] + 1 == len(candidates))
    every = contiguous and len(candidates) == n
    n_tokens_narrow = narrow_sizes(index.n_tokens)
    # the set measures by the popcount kernel; the weighted ones together in one pass
    set_m = [i for i, m in enumerate(measures) if m not in WEIGHTED]
    weighted_m = [i for i, m in enumerate(measures) if m in WEIGHTED]
    for start in range(0, q, BLOCK):
        stop = min(q, start + BLOCK)
        for group in (set_m, weighted_m):
            if not group:
                continue
            width = len(group)
            rows = (
                np.full((stop - start, width, k), -1, dtype=np.int64),
                np.zeros((stop - start, width, k), dtype=np.float64),
                np.zeros((stop - start, width, k), dtype=np.int64),
            )
            chosen = codes[group]
            if group is set_m and contiguous:
                lo, hi = (int(candidates[0]), int(candidates[-1]) + 1) if len(candidates) else (0, 0)
                top_k_sets_block(
                    _chunks(),
                    queries[start:stop],
                    lo,
                    hi,
                    chosen,
                    k,
                    n_tokens_narrow,
                    *_set_layout(index),
                    *rows,
                )
            elif group is weighted_m and every:
                top_k_weighted_block(
                    _chunks(),
                    queries[start:stop],
                    chosen,
                    k,
                    index.n_tokens,
                    index.n_occurrences,
                    index.idf_total_q,
                    index.weight_total_q,
                    index.norm2_q,
                    index.frequent_totals,
                    np.sqrt(index.norm2_q.astype(np.float64)),
                    np.sqrt(index.frequent_totals[3].astype(np.float64)),
                    *_arrays(index)[5:],
                    *rows,
                )
            else:
                top_k_block(_chunks(), queries[start:stop], candidates, chosen, k, *arrays, *rows)
            out_id[start:stop, group], out_val[start:stop, group], out_inter[start:stop, group] = rows
        bar.update(stop)
    bar.close()
    return queries, out_id, out_val, out_inter


def top_k(
    index: CorpusIndex,
    k: int = 10,
    measures: Sequence[str] = ("symmetric_difference",),
    queries: np.ndarray | None = None,
    threads: int | None = None,
    progress: bool | None = None,
):
    """The ``image_neighbors`` rows of ``index`` (pyarrow Table: measure, image_id, rank,
    neighbor_id, value, symmetric_difference, n_intersection, jaccard), sorted by measure, image,
    rank. ``queries``: image ids (default: every image)."""
    positions = None if queries is None else index.positions(queries)
    q, ids, vals, inters = top_k_arrays(index, k, measures, positions, threads=threads, progress=progress)
    return rows_table(index, measures, q, ids, vals, inters)


def empty_rows():
    """int_neighbors_computed with no rows (no corpus)."""
    return _row_schema().empty_table()


def _row_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("corpus", pa.string()),
            ("measure", pa.string()),
            ("image_id", pa.int32()),
            ("rank", pa.int32()),
            ("neighbor_id", pa.int32()),
            ("value", pa.float64()),
            ("symmetric_difference", pa.int32()),
            ("n_intersection", pa.int32()),
            ("jaccard", pa.float64()),
            ("set_hash", pa.int64()),
            ("weights_hash", pa.int64()),
            ("k", pa.int32()),
        ]
    )


def rows_table(index: CorpusIndex, measures: Sequence[str], q, ids, vals, inters):
    """The kernel's arrays as image_neighbors rows (pyarrow)."""
    import pyarrow as pa

    n_q, n_m, k = ids.shape
    tables = []
    for m, measure in enumerate(measures):
        kept = ids[:, m, :] >= 0
        qpos = np.broadcast_to(q[:, None], (n_q, k))[kept]
        npos = ids[:, m, :][kept]
        ranks = np.broadcast_to(np.arange(1, k + 1, dtype=np.int32), (n_q, k))[kept]
        inter = inters[:, m, :][kept]
        n_i, n_j = index.n_tokens[qpos], index.n_tokens[npos]
        union = n_i + n_j - inter
        with np.errstate(invalid="ignore", divide="ignore"):
            jac = inter / union
        value = vals[:, m, :][kept]
        tables.append(
            pa.table(
                {
                    "measure": pa.array([measure] * len(qpos), pa.string()),
                    "image_id": pa.array(index.image_ids[qpos].astype(np.int32)),
                    "rank": pa.array(ranks.astype(np.int32)),
                    "neighbor_id": pa.array(index.image_ids[npos].astype(np.int32)),
                    "value": pa.array(value, mask=np.isnan(value)),
                    "symmetric_difference": pa.array((n_i + n_j - 2 * inter).astype(np.int32)),
                    "n_intersection": pa.array(inter.astype(np.int32)),
                    "jaccard": pa.array(jac, mask=union == 0),
                }
            )
        )
    if not tables:
        return _row_schema().empty_table().drop_columns(["corpus", "set_hash", "weights_hash", "k"])
    return pa.concat_tables(tables)


def scores(index: CorpusIndex, query_ids: Iterable[int], measure: str, threads: int | None = None) -> np.ndarray:
    """(len(query_ids), N) float64: each query image's ``measure`` with every image of the corpus
    (columns in ``index.image_ids`` order), exactly image_pairs' value (NaN: the query itself, or
    SQL null)."""
    return scores_many(index, query_ids, [measure], threads)[measure]


def scores_many(
    index: CorpusIndex, query_ids: Iterable[int], measures: Sequence[str], threads: int | None = None
) -> dict[str, np.ndarray]:
    """:func:`scores` of several measures at once (measure -> (len(query_ids), N)): each pair's
    sums are found once for all of them."""
    measures = list(dict.fromkeys(measures))
    codes = _measure_codes(measures)
    _, scores_block, _, _ = _kernels()
    if threads is not None:
        set_threads(threads)
    queries = index.positions(query_ids)
    out = np.empty((len(codes), len(queries), index.n_images), dtype=np.float64)
    if len(queries) and len(codes):
        scores_block(_chunks(), queries, codes, *_arrays(index), out)
    return {measure: out[m] for m, measure in enumerate(measures)}


def centred_squared_distances(index: CorpusIndex, threads: int | None = None) -> np.ndarray:
    """Classical MDS's B = −½ J D² J (n × n float64, rows and columns in ``index.image_ids``
    order) of the symmetric differences D, whose every entry is image_pairs' value: one pass over
    the pairs (masks and posting lists, as :func:`scores`), then the centring in place."""
    from semspace import _kernel

    if threads is not None:
        set_threads(threads)
    out = np.empty((index.n_images, index.n_images), dtype=np.float64)
    _kernel.centred_squared_distances(
        _chunks(),
        index.n_tokens,
        *_set_layout(index),
        out,
    )
    return out


# ---------------------------------------------------------------------------------------------
# incremental top-k (the dbt model int_neighbors_computed)

# Measures whose value depends only on the two images' token multisets; the others (idf_jaccard,
# weighted_jaccard, cosine) also on the corpus's document frequencies, which any new image moves.
LOCAL_MEASURES = frozenset(MEASURE_CODES) - {"idf_jaccard", "weighted_jaccard", "cosine"}


def sort_values(measure: str, values: np.ndarray) -> np.ndarray:
    """The ascending sort key of a measure's values (distance, or −similarity; null as 0)."""
    if measure in DISTANCES:
        return values.astype(np.float64)
    return -np.nan_to_num(values.astype(np.float64), nan=0.0)


def incremental_plan(
    index: CorpusIndex, hashes: np.ndarray, previous_hashes: dict[int, int], previous_lists: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(recompute, update, changed) positions for a local measure. ``hashes``: the current set
    fingerprints per position; ``previous_hashes``: image id → fingerprint of the last build;
    ``previous_lists``: (P, k) neighbour ids of the images in ``previous_hashes`` order (−1 pad).

    changed: images that are new or whose set changed. recompute: changed images, and old images
    whose list holds a changed or vanished image (their list may lose an entry). update: every
    other image: its old list stays exact over the unchanged images, so its new list is the best
    k of that list and the changed images."""
    n = index.n_images
    old_ids = np.fromiter(previous_hashes.keys(), dtype=np.int64, count=len(previous_hashes))
    old_h = np.fromiter(previous_hashes.values(), dtype=np.int64, count=len(previous_hashes))
    pos = np.searchsorted(index.image_ids, old_ids)
    present = (pos < n) & (index.image_ids[np.minimum(pos, n - 1)] == old_ids) if n else np.zeros(len(old_ids), bool)
    unchanged = np.zeros(n, dtype=bool)
    unchanged[pos[present]] = hashes[pos[present]] == old_h[present]
    changed = np.flatnonzero(~unchanged)
    # ids that are gone or changed: any list holding one is recomputed
    stale_ids = set(old_ids[~present].tolist()) | set(index.image_ids[changed].tolist())
    recompute = ~unchanged
    if stale_ids and len(previous_lists):
        holds = np.isin(previous_lists, np.fromiter(stale_ids, dtype=np.int64)).any(axis=1)
        kept = present & holds
        recompute[pos[kept]] = True
    return np.flatnonzero(recompute), np.flatnonzero(~recompute), changed


def merge_lists(measure: str, k: int, a_ids, a_vals, a_inter, b_ids, b_vals, b_inter):
    """Row-wise best k of two lists (ids −1: empty slots), by (sort value, id)."""
    ids = np.concatenate([a_ids, b_ids], axis=1)
    vals = np.concatenate([a_vals, b_vals], axis=1)
    inter = np.concatenate([a_inter, b_inter], axis=1)
    key = sort_values(measure, vals)
    key[ids < 0] = np.inf
    order = np.lexsort((np.where(ids < 0, np.iinfo(np.int64).max, ids), key), axis=1)[:, :k]
    take = lambda x: np.take_along_axis(x, order, axis=1)  # noqa: E731
    out_ids, out_vals, out_inter = take(ids), take(vals), take(inter)
    out_ids[np.take_along_axis(key, order, axis=1) == np.inf] = -1
    return out_ids, out_vals, out_inter


def fingerprints(weights) -> tuple[np.ndarray, np.ndarray, int]:
    """(image ids, per-image fingerprint of the token multiset, the corpus's weights
    fingerprint) of one corpus's int_token_weights rows (pyarrow): XORs of DuckDB's hash of
    (token, n_captions) per image and of (token, idf_q, cosine_q) per distinct token."""
    import duckdb

    with duckdb.connect() as mem:
        mem.register("weights", weights)
        per_image = mem.execute(
            "select image_id, (bit_xor(hash(token, n_captions)) >> 1)::bigint as h from weights group by image_id"
        ).fetchnumpy()
        (corpus_hash,) = mem.execute(
            "select coalesce(bit_xor(hash(token, idf_q, cosine_q)) >> 1, 0)::bigint "
            "from (select distinct token, idf_q, cosine_q from weights)"
        ).fetchall()[0]
    return (
        np.asarray(per_image["image_id"], dtype=np.int64),
        np.asarray(per_image["h"], dtype=np.int64),
        int(corpus_hash),
    )


CORPUS_CHOICES = {"large": "not stores_all_pairs", "stored": "stores_all_pairs", "every": "true"}


def large_corpus_inputs(scale, token_weights, set_sizes, which: str = "large") -> Iterator[tuple[int, str, Any, Any]]:
    """(corpus_id, corpus, its int_token_weights rows, its int_pair_set_sizes rows: image_id and
    n_tokens) as pyarrow tables, by corpus_id, for the corpora of ``scale`` (int_corpus_scale)
    ``which`` names: ``large`` (those that do not store all pairs), ``stored`` (those that do) or
    ``every``; the arguments are the dbt models' DuckDB relations. corpus_id is the model's own
    integer key, never user text."""
    chosen_corpora = scale.filter(CORPUS_CHOICES[which])
    for corpus_id, corpus in chosen_corpora.select("corpus_id, corpus").order("corpus_id").fetchall():
        chosen = f"corpus_id = {int(corpus_id)}"
        weights = token_weights.filter(chosen).select("image_id, token, n_captions, idf_q, cosine_q").to_arrow_table()
        sizes = set_sizes.filter(chosen).select("image_id, n_tokens").to_arrow_table()
        yield int(corpus_id), str(corpus), weights, sizes


def model_rows(
    con,
    scale,
    token_weights,
    set_sizes,
    k: int,
    measures: Sequence[str],
    previous: str | None = None,
    threads: int | None = None,
    log: Callable[[str], None] | None = print,
):
    """int_neighbors_computed's rows (pyarrow): for every corpus of ``scale`` (int_corpus_scale,
    a DuckDB relation), those that store all pairs too (the kernel ranks them faster than a top-k
    over their stored pairs, with the same rows), corpus_rows from the relations ``token_weights``
    and ``set_sizes``; ``previous``: the model's existing table (incremental)."""
    import pyarrow as pa

    unknown = [m for m in measures if m not in MEASURE_CODES]
    if unknown:
        raise SemspaceError(f"var neighbor_measures: unknown measure(s) {', '.join(unknown)}")
    tables = []
    for _, corpus, weights, sizes in large_corpus_inputs(scale, token_weights, set_sizes, which="every"):
        table = corpus_rows(con, corpus, weights, sizes, k, measures, previous, threads, log)
        if table is not None:
            tables.append(table)
    if tables:
        return pa.concat_tables(tables).select(_row_schema().names)
    return empty_rows()


def corpus_rows(
    con,
    corpus: str,
    weights,
    sizes,
    k: int,
    measures: Sequence[str],
    previous: str | None = None,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
):
    """int_neighbors_computed's rows of one corpus (pyarrow) from its int_token_weights and
    int_pair_set_sizes rows (pyarrow). ``previous``: the model's existing table, read through
    ``con``: for the local measures only the images a change reaches are recomputed
    (incremental_plan); a weighted measure is recomputed whole when the corpus's weights changed
    and kept when nothing changed."""
    import pyarrow as pa

    index = index_from_arrow(weights, sizes, corpus=corpus)
    hash_ids, hash_values, weights_hash = fingerprints(weights)
    hashes = np.zeros(index.n_images, dtype=np.int64)  # an empty set: 0
    hashes[index.positions(hash_ids)] = hash_values
    old = _previous_rows(con, previous, corpus, k) if previous else None
    # every measure that must be recomputed for all images, in one pass per kernel
    full = [m for m in measures if _needs_all(index, m, hashes, weights_hash, old)]
    started = time.monotonic()
    every = top_k_arrays(index, k, full, threads=threads) if full else None
    if log and full:
        log(f"{corpus} {', '.join(full)}: all {index.n_images} images in {time.monotonic() - started:.1f} s")
    tables = []
    for measure in measures:
        started = time.monotonic()
        if measure in full:
            assert every is not None
            at = full.index(measure)
            q, ids, vals, inters = every[0], every[1][:, at], every[2][:, at], every[3][:, at]
            how = ""
        else:
            q, ids, vals, inters, how = _measure_lists(index, k, measure, hashes, weights_hash, old, threads)
        table = rows_table(index, [measure], q, ids[:, None, :], vals[:, None, :], inters[:, None, :])
        n = table.num_rows
        if n:
            qpos = index.positions(np.asarray(table.column("image_id"), dtype=np.int64))
            table = (
                table.append_column("corpus", pa.array([corpus] * n, pa.string()))
                .append_column("set_hash", pa.array(hashes[qpos], pa.int64()))
                .append_column("weights_hash", pa.array(np.full(n, weights_hash, dtype=np.int64)))
                .append_column("k", pa.array(np.full(n, k, dtype=np.int32)))
            )
            tables.append(table)
        if log and how:
            log(f"{corpus} {measure}: {how} in {time.monotonic() - started:.1f} s")
    return pa.concat_tables(tables) if tables else None


def _mine(old: dict | None, measure: str) -> dict | None:
    """The previous rows of one measure (None: none)."""
    if old is None:
        return None
    chosen = old["measure"] == measure
    return {key: value[chosen] for key, value in old.items()} if chosen.any() else None


def _needs_all(index: CorpusIndex, measure: str, hashes: np.ndarray, weights_hash: int, old: dict | None) -> bool:
    """Whether every list of ``measure`` must be recomputed: no previous lists, or a weighted
    measure whose corpus weights or sets changed."""
    mine = _mine(old, measure)
    if mine is None:
        return True
    if measure in LOCAL_MEASURES:
        return False
    if int(mine["weights_hash"][0]) != weights_hash:
        return True
    ids, first = np.unique(mine["image_id"], return_index=True)
    if len(ids) != index.n_images or not np.array_equal(ids, index.image_ids):
        return True
    return not np.array_equal(mine["set_hash"][first], hashes)


def _previous_rows(con, previous: str, corpus: str, k: int) -> dict | None:
    """The existing lists of ``corpus`` in ``previous`` (made with the same k), by measure."""
    table = con.execute(
        f"select measure, image_id, rank, neighbor_id, value, n_intersection, set_hash, weights_hash from {previous} "
        f"where corpus = ? and k = ? order by measure, image_id, rank",
        [corpus, k],
    ).fetchnumpy()
    if len(table["image_id"]) == 0:
        return None
    return {
        key: np.asarray(table[key]) if key != "value" else np.ma.filled(np.ma.asarray(table[key], dtype=float), np.nan)
        for key in table
    }


def _measure_lists(index, k, measure, hashes, weights_hash, old, threads):
    """(queries, ids, values, intersections, how) of one measure from its previous lists, (Q, k)
    arrays of positions: only the images a change reaches are recomputed (incremental_plan)."""
    mine = _mine(old, measure)
    assert mine is not None  # _needs_all chose the incremental path
    # previous lists as (P, k) arrays of image ids
    image_ids, first = np.unique(mine["image_id"], return_index=True)
    p = len(image_ids)
    row = np.searchsorted(image_ids, mine["image_id"])
    rank = mine["rank"].astype(np.int64) - 1
    prev_ids = np.full((p, k), -1, dtype=np.int64)
    prev_vals = np.zeros((p, k))
    prev_inter = np.zeros((p, k), dtype=np.int64)
    prev_ids[row, rank] = mine["neighbor_id"]
    prev_vals[row, rank] = mine["value"]
    prev_inter[row, rank] = mine["n_intersection"]
    previous_hashes = dict(zip(image_ids.tolist(), mine["set_hash"][first].tolist()))
    # a weighted measure gets here only when nothing changed: its lists stay
    recompute, update, changed = incremental_plan(index, hashes, previous_hashes, prev_ids)
    n_q = len(recompute) + len(update)
    q_all = np.concatenate([recompute, update])
    ids_all = np.full((n_q, k), -1, dtype=np.int64)
    vals_all = np.zeros((n_q, k))
    inter_all = np.zeros((n_q, k), dtype=np.int64)
    if len(recompute):
        _, ids, vals, inters = top_k_arrays(index, k, [measure], queries=recompute, threads=threads)
        ids_all[: len(recompute)], vals_all[: len(recompute)], inter_all[: len(recompute)] = (
            ids[:, 0],
            vals[:, 0],
            inters[:, 0],
        )
    if len(update):
        rows = np.searchsorted(image_ids, index.image_ids[update])
        old_pos = np.where(prev_ids[rows] >= 0, np.searchsorted(index.image_ids, np.maximum(prev_ids[rows], 0)), -1)
        if len(changed):
            _, ids, vals, inters = top_k_arrays(
                index, k, [measure], queries=update, candidates=changed, threads=threads
            )
            merged = merge_lists(
                measure, k, old_pos, prev_vals[rows], prev_inter[rows], ids[:, 0], vals[:, 0], inters[:, 0]
            )
        else:
            merged = (old_pos, prev_vals[rows], prev_inter[rows])
        ids_all[len(recompute) :], vals_all[len(recompute) :], inter_all[len(recompute) :] = merged
    how = f"{len(recompute)} images recomputed, {len(update)} updated with {len(changed)} new or changed"
    return q_all, ids_all, vals_all, inter_all, how


# ---------------------------------------------------------------------------------------------
# pair statistics without the pairs (the dbt model int_pair_statistics)


def pair_statistics(index: CorpusIndex, threads: int | None = None, progress: bool | None = None) -> dict:
    """pair_summary's figures of one corpus over all n (n − 1) / 2 pairs, exactly: the ranges of
    the symmetric difference, intersection and union, and the Pearson correlation of the symmetric
    difference with the intersection from exact integer sums (None for fewer than 2 pairs or a
    constant column). One pass of ~N²/2 mask visits, no pair stored."""
    from semspace import _kernel

    if threads is not None:
        set_threads(threads)
    n = index.n_images
    n_tokens32 = index.n_tokens.astype(np.int32)
    chunks = _chunks()
    totals = [0] * 6
    lows: list[int | None] = [None] * 3
    highs: list[int | None] = [None] * 3
    bar = Progress(n, f"pair statistics of {index.corpus or 'corpus'}", progress)
    # queries in interleaved order so every block carries a fair share of the triangle's work
    order = np.arange(n, dtype=np.int64)
    for start in range(0, n, BLOCK):
        queries = order[start : start + BLOCK]
        out = np.zeros((chunks, 12), dtype=np.int64)
        _kernel.pair_statistics_block(
            chunks,
            queries,
            n_tokens32,
            *_set_layout(index),
            out,
        )
        used = out[out[:, 0] > 0]
        for j in range(6):
            totals[j] += int(out[:, j].sum())
        for j in range(3):
            if len(used):
                lo, hi = int(used[:, 6 + 2 * j].min()), int(used[:, 7 + 2 * j].max())
                low, high = lows[j], highs[j]
                lows[j] = lo if low is None else min(low, lo)
                highs[j] = hi if high is None else max(high, hi)
        bar.update(min(n, start + BLOCK))
    bar.close()
    pairs, s_d, s_dd, s_i, s_ii, s_di = totals
    corr = None
    if pairs >= 2:
        cov = pairs * s_di - s_d * s_i
        var_d = pairs * s_dd - s_d * s_d
        var_i = pairs * s_ii - s_i * s_i
        if var_d > 0 and var_i > 0:
            corr = cov / math.sqrt(var_d) / math.sqrt(var_i)
    return {
        "n_pairs": pairs,
        "min_symmetric_difference": lows[0],
        "max_symmetric_difference": highs[0],
        "min_intersection": lows[1],
        "max_intersection": highs[1],
        "min_union": lows[2],
        "max_union": highs[2],
        "corr_symmetric_difference_intersection": corr,
    }


def statistics_rows(scale, token_weights, set_sizes, threads: int | None = None):
    """int_pair_statistics' rows (pyarrow): pair_statistics of every corpus of ``scale`` that does
    not store all pairs."""
    import pyarrow as pa

    rows = []
    for _, corpus, weights, sizes in large_corpus_inputs(scale, token_weights, set_sizes):
        rows.append({"corpus": corpus, **pair_statistics(index_from_arrow(weights, sizes, corpus), threads)})
    schema = pa.schema(
        [("corpus", pa.string()), ("n_pairs", pa.int64())]
        + [
            (name, pa.int32())
            for name in (
                "min_symmetric_difference",
                "max_symmetric_difference",
                "min_intersection",
                "max_intersection",
                "min_union",
                "max_union",
            )
        ]
        + [("corr_symmetric_difference_intersection", pa.float64())]
    )
    return pa.Table.from_pylist(rows, schema=schema)
