"""``python -m semspace.warmup``: compile the numba kernels once, at set-up (``make setup``).

numba caches each kernel's machine code beside ``semspace/_kernel.py`` on its first call; in a new
checkout that first call is inside the first ``dbt build`` (the compiled dbt Python models) and
costs over a minute. This runs every kernel once on a tiny random corpus, through the same
functions and with the same argument types as the models, the evaluation and the analysis use,
so the first build finds them compiled. Safe to run again: a cached kernel loads in milliseconds.
"""

from __future__ import annotations

import time

import numpy as np

from analysis import _bulge
from semspace import neighbors, pairs


def tiny_corpus(n_images: int = 40, vocab: int = 90, seed: int = 0):
    """(CorpusIndex, Postings) of a random corpus with frequent and rare tokens and an empty set."""
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, vocab + 1)
    rows: list[tuple[int, int, int]] = []
    for image in range(n_images - 1):  # the last image's set is empty
        tokens = np.unique(rng.choice(vocab, size=int(rng.integers(3, 15)), p=weights / weights.sum()))
        rows += [(image, int(t), int(rng.integers(1, 6))) for t in tokens]
    image_col, token_col, count_col = (np.array(c, dtype=np.int64) for c in zip(*rows))
    df = np.bincount(token_col, minlength=vocab)
    idf_q = np.round(np.log(n_images / np.maximum(df, 1)) * 2**24).astype(np.int64)
    cosine_q = np.round(np.log(n_images / np.maximum(df, 1)) ** 0.5 * 2**24).astype(np.int64)
    ids = np.arange(n_images, dtype=np.int64)
    indptr = np.zeros(n_images + 1, dtype=np.int64)
    np.cumsum(np.bincount(image_col, minlength=n_images), out=indptr[1:])
    index = neighbors.build_index(ids, indptr, token_col, count_col, idf_q, cosine_q, corpus="warmup")
    postings = pairs.postings(
        ids, np.diff(indptr), image_col, token_col, count_col, idf_q[token_col], cosine_q[token_col], corpus="warmup"
    )
    return index, postings


def main() -> None:
    started = time.monotonic()
    index, postings = tiny_corpus()
    every = list(neighbors.MEASURE_CODES)
    neighbors.top_k_arrays(index, 3, every, progress=False)  # the set and the weighted kernels
    some = np.arange(0, index.n_images, 3, dtype=np.int64)
    neighbors.top_k_arrays(index, 3, every, queries=some, candidates=some, progress=False)  # the generic one
    neighbors.scores_many(index, index.image_ids[:5], every)
    neighbors.pair_statistics(index, progress=False)
    neighbors.centred_squared_distances(index)  # classical MDS's matrix (analysis.mds)
    band = np.random.default_rng(0).normal(size=(4, 30))
    _bulge.tridiagonal(band, threads=2)  # its eigensolver's second stage
    pairs.block_columns(postings, 1, 0, postings.n_images - 1)
    print(f"semspace: compiled kernels ready ({time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    main()
