"""The stored pair table ``int_pair_overlaps`` on DuckDB: every pair of a corpus from a compiled
scatter over posting lists, written to DuckDB as Arrow batches.

The SQL kernel (``macros/pair_overlaps.sql``) self-joins the token rows (Σ df (df − 1) / 2 joined
rows per corpus: 70M for COCO's 12.5M pairs, 137M for its ``-concept`` variant), aggregates them
per pair in a hash table of 12.5M groups, then joins every pair of the size table to it. Here the
same sums come from one pass per image q over its tokens' posting lists, reading only the images
after q (the lists are ascending), into a dense accumulator of length N; the row segment of q,
(q, q+1) … (q, N−1), is then written out in image order with the accumulator cleared as it is read.
No hash table, no join, no sort: the work is the join's Σ df (df − 1) / 2 scattered adds plus one
sequential write per pair.

Every value is the SQL kernel's: the same integer sums (fixed-point weights of
``int_token_weights``), so the rows are identical (``tests/test_pair_kernels.py`` compares both on
random multisets; ``benchmarks/pairs.py`` on COCO). Image positions follow ascending image ids,
so ``image_i < image_j``. Rows leave in batches of about ``BATCH_ROWS`` (a RecordBatchReader the
model returns): memory is one batch and the corpus's postings, not the table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from semspace.errors import SemspaceError

# Rows per Arrow batch handed to DuckDB (~50 bytes each): big enough that DuckDB's per-batch cost
# vanishes, small enough that a batch is a few tens of MB.
BATCH_ROWS = 1 << 21

COLUMNS = (
    ("corpus_id", "int16"),
    ("image_i", "int32"),
    ("image_j", "int32"),
    ("n_i", "int32"),
    ("n_j", "int32"),
    ("n_intersection", "int32"),
    ("n_multiset_intersection", "int32"),
    ("idf_intersection_q", "int64"),
    ("weight_intersection_q", "int64"),
    ("dot_q", "int64"),
)


def schema():
    """int_pair_overlaps' columns as a pyarrow schema (the SQL model's casts)."""
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, kind)()) for name, kind in COLUMNS])


@dataclass
class Postings:
    """One corpus's token sets laid out for the pair scatter: images in ascending id order (ids and
    set sizes as the table's int32); for each image's token rows (``entry_indptr``) the span of the
    token's posting list that lies after the image (``entry_start`` … ``entry_end``), the image's
    count and the token's weights; the posting lists themselves (image positions ascending,
    counts)."""

    image_ids: np.ndarray  # int32 (N,), ascending
    n_tokens: np.ndarray  # int32 (N,)
    entry_indptr: np.ndarray
    entry_start: np.ndarray
    entry_end: np.ndarray
    entry_count: np.ndarray
    entry_idf: np.ndarray
    entry_cos: np.ndarray
    post_images: np.ndarray
    post_counts: np.ndarray

    @property
    def n_images(self) -> int:
        return len(self.image_ids)

    @property
    def n_pairs(self) -> int:
        n = self.n_images
        return n * (n - 1) // 2

    @property
    def joined_rows(self) -> int:
        """Σ df (df − 1) / 2: the token pairs the SQL kernel's self-join emits."""
        return int((self.entry_end - self.entry_start).sum())


def postings(image_ids, n_tokens, row_images, row_tokens, row_counts, row_idf, row_cos, corpus: str = "") -> Postings:
    """:class:`Postings` from one corpus's int_pair_set_sizes (``image_ids``, ``n_tokens``: every
    image, empty sets included) and its int_token_weights rows (image id, token number or any
    integer/str token key already encoded as integers, n_captions, idf_q, cosine_q)."""
    image_ids = np.asarray(image_ids, dtype=np.int64)
    order = np.argsort(image_ids, kind="stable")
    image_ids, n_tokens = image_ids[order], np.asarray(n_tokens, dtype=np.int64)[order]
    n = len(image_ids)
    if n > 1 and not (np.diff(image_ids) > 0).all():
        raise SemspaceError(f"corpus {corpus!r}: an image id appears twice in int_pair_set_sizes; rebuild")
    if n and (image_ids.min() < np.iinfo(np.int32).min or image_ids.max() > np.iinfo(np.int32).max):
        raise SemspaceError(f"corpus {corpus!r}: image ids must fit a 32-bit integer (int_pair_overlaps)")
    images = np.asarray(row_images, dtype=np.int64)
    tokens = np.asarray(row_tokens, dtype=np.int64)
    pos = np.searchsorted(image_ids, images)
    if len(images) and ((pos >= n).any() or (image_ids[np.minimum(pos, n - 1)] != images).any()):
        raise SemspaceError(f"corpus {corpus!r}: token rows of an image that int_pair_set_sizes lacks; rebuild")
    counts = np.asarray(row_counts, dtype=np.int64)
    idf = np.asarray(row_idf, dtype=np.int64)
    cos = np.asarray(row_cos, dtype=np.int64)
    # posting lists: rows by (token, image position); each row's place in them
    by_token = np.lexsort((pos, tokens))
    place = np.empty(len(tokens), dtype=np.int64)
    place[by_token] = np.arange(len(tokens))
    sorted_tokens = tokens[by_token]
    if len(tokens) > 1:
        same = (np.diff(sorted_tokens) == 0) & (np.diff(pos[by_token]) == 0)
        if same.any():
            raise SemspaceError(f"corpus {corpus!r}: a token appears twice in one image's set; rebuild")
    # the end of each row's posting list: the first place of the next token
    starts = np.flatnonzero(np.r_[True, np.diff(sorted_tokens) != 0]) if len(tokens) else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], len(tokens)].astype(np.int64) if len(tokens) else np.zeros(0, np.int64)
    run_end = np.repeat(ends, np.diff(np.r_[starts, len(tokens)]))
    # rows by image position (the query loop's order)
    by_image = np.argsort(pos, kind="stable")
    entry_indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(pos, minlength=n), out=entry_indptr[1:])
    return Postings(
        image_ids=image_ids.astype(np.int32),
        n_tokens=n_tokens.astype(np.int32),
        entry_indptr=entry_indptr,
        entry_start=np.ascontiguousarray(place[by_image] + 1),
        entry_end=np.ascontiguousarray(run_end[place[by_image]]),
        entry_count=np.ascontiguousarray(counts[by_image]),
        entry_idf=np.ascontiguousarray(idf[by_image]),
        entry_cos=np.ascontiguousarray(cos[by_image]),
        post_images=np.ascontiguousarray(pos[by_token].astype(np.int32)),
        post_counts=np.ascontiguousarray(counts[by_token]),
    )


def postings_from_arrow(token_weights, set_sizes, corpus: str = "") -> Postings:
    """:class:`Postings` from one corpus's int_token_weights rows (image_id, token, n_captions,
    idf_q, cosine_q) and int_pair_set_sizes rows (image_id, n_tokens), pyarrow tables."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(token_weights.column("token")).combine_chunks()
    return postings(
        np.asarray(set_sizes.column("image_id")),
        np.asarray(set_sizes.column("n_tokens")),
        np.asarray(token_weights.column("image_id")),
        np.asarray(encoded.indices),
        np.asarray(token_weights.column("n_captions")),
        np.asarray(token_weights.column("idf_q")),
        np.asarray(token_weights.column("cosine_q")),
        corpus=corpus,
    )


def row_offset(q: int, n: int) -> int:
    """The row of pair (q, q+1) when pairs are listed (0,1) … (0,N−1), (1,2) …"""
    return q * (n - 1) - q * (q - 1) // 2


def query_blocks(n: int, batch_rows: int = BATCH_ROWS) -> Iterator[tuple[int, int]]:
    """Consecutive query ranges [q0, q1) of about ``batch_rows`` rows each."""
    q0 = 0
    while q0 < n - 1:
        q1 = q0 + 1
        while q1 < n - 1 and row_offset(q1 + 1, n) - row_offset(q0, n) <= batch_rows:
            q1 += 1
        yield q0, q1
        q0 = q1


def block_columns(index: Postings, corpus_id: int, q0: int, q1: int) -> dict[str, np.ndarray]:
    """The int_pair_overlaps columns of the pairs (q, b), q0 ≤ q < q1, q < b, as numpy arrays."""
    from semspace import _kernel
    from semspace.neighbors import _chunks

    n = index.n_images
    rows = row_offset(q1, n) - row_offset(q0, n)
    out = {name: np.empty(rows, dtype=kind) for name, kind in COLUMNS}
    _kernel.pair_rows_block(
        _chunks(),
        q0,
        q1,
        np.int16(corpus_id),
        index.image_ids,
        index.n_tokens,
        index.entry_indptr,
        index.entry_start,
        index.entry_end,
        index.entry_count,
        index.entry_idf,
        index.entry_cos,
        index.post_images,
        index.post_counts,
        *(out[name] for name, _ in COLUMNS),
    )
    return out


def corpus_batches(index: Postings, corpus_id: int, batch_rows: int = BATCH_ROWS, progress=None):
    """The corpus's int_pair_overlaps rows as pyarrow RecordBatches, pairs in image order."""
    import pyarrow as pa

    target = schema()
    for q0, q1 in query_blocks(index.n_images, batch_rows):
        columns = block_columns(index, corpus_id, q0, q1)
        yield pa.RecordBatch.from_arrays([pa.array(columns[name]) for name, _ in COLUMNS], schema=target)
        if progress is not None:
            progress(q1)


def model_reader(
    scale, token_weights, set_sizes, log: Callable[[str], None] | None = print, batch_rows: int = BATCH_ROWS
):
    """int_pair_overlaps' rows (a pyarrow RecordBatchReader, consumed once by DuckDB's CREATE TABLE
    AS) for every corpus that stores its pairs; the arguments are the dbt models' DuckDB relations
    (int_corpus_scale, int_token_weights, int_pair_set_sizes). The inputs are read first (the
    reader runs inside DuckDB's query, where the connection is busy); each corpus's postings are
    built when its first batch is asked for, so memory stays at the token rows, one corpus's
    postings and one batch."""
    import pyarrow as pa

    from semspace.neighbors import Progress, large_corpus_inputs

    inputs = list(large_corpus_inputs(scale, token_weights, set_sizes, which="stored"))

    def batches():
        while inputs:
            corpus_id, corpus, weights, sizes = inputs.pop(0)
            started = time.monotonic()
            index = postings_from_arrow(weights, sizes, corpus=corpus)
            del weights, sizes
            bar = Progress(max(index.n_images - 1, 0), f"pairs of {corpus}")
            yield from corpus_batches(index, corpus_id, batch_rows, progress=bar.update)
            bar.close()
            if log:
                log(
                    f"{corpus}: {index.n_pairs} pairs from {index.joined_rows} shared-token pairs "
                    f"in {time.monotonic() - started:.1f} s"
                )

    return pa.RecordBatchReader.from_batches(schema(), batches())
