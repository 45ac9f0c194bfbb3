"""Landmark MDS (de Silva & Tenenbaum 2004) for corpora too large for an N × N distance matrix.

Classical MDS needs all N² distances and an N × N eigenproblem: 5000 images take 200 MB and seconds,
100,000 images would take 80 GB. Landmark MDS embeds m landmarks (a few thousand, drawn at random
with a seed) with classical MDS, then places every image by distance-based triangulation from its squared
distances to the landmarks alone:

    x_a = -1/2 · L#ᵀ (δ_a − δ_μ),   L# = [v_r / √λ_r]   (r = 1..k, λ_r > 0)

where (λ_r, v_r) are the landmarks' top eigenpairs and δ_μ the mean squared distance to each
landmark. For the landmarks themselves this gives their classical MDS coordinates exactly.

Distances are never stored: the images' token sets form a sparse N × V 0/1 matrix X, and the
intersections with the landmarks are X · Lᵀ, computed a chunk of images at a time, so memory is
O(nnz(X) + V·m + chunk·m + N·k) — linear in N, bounded in everything else. The distances come
straight from `token_sets`, so `image_pairs` need not exist for such a corpus.

Landmark choice: de Silva & Tenenbaum suggest MaxMin (each next landmark the point farthest from
those chosen) over random picks. In this space random picks do better: on COCO's 5000 images the
Procrustes disparity of the top-2 map against full MDS is 0.026 (1000 random landmarks) and 0.029
(2000), against 0.124 and 0.058 for MaxMin, which over-samples the outliers of a non-Euclidean
space. So `choice="random"` is the default and MaxMin stays available. With m = N the result is
classical MDS exactly (a test checks it).
"""

from __future__ import annotations

import logging
import time

import duckdb
import numpy as np
import scipy.linalg
import scipy.sparse

from analysis.mds import MdsResult, double_centre
from semspace import warehouse
from semspace.errors import SemspaceError

log = logging.getLogger(__name__)

DEFAULT_LANDMARKS = 2000
CHUNK_ROWS = 8192


def load_token_matrix(con: duckdb.DuckDBPyConnection, corpus: str) -> tuple[np.ndarray, scipy.sparse.csr_matrix]:
    """(image ids ascending, N × V sparse 0/1 matrix of each image's distinct tokens) of a corpus."""
    ids = warehouse.image_ids(con, corpus)
    cells = con.execute(
        """select image_id, dense_rank() over (order by token) - 1 as token_index
           from token_sets where corpus = ?""",
        [corpus],
    ).fetchnumpy()
    rows = np.searchsorted(ids, cells["image_id"])
    cols = cells["token_index"].astype(np.int64)
    n_tokens = int(cols.max()) + 1 if len(cols) else 0
    matrix = scipy.sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(ids), n_tokens))
    matrix.sum_duplicates()
    if matrix.data.size and matrix.data.max() > 1:
        raise SemspaceError(
            f"corpus {corpus!r}: token_sets holds a token twice for one image; rebuild with `dbt build`"
        )
    return ids, matrix


def distances_to(
    matrix: scipy.sparse.csr_matrix, sizes: np.ndarray, landmark_rows: np.ndarray, chunk: int = CHUNK_ROWS
):
    """Yield (row slice, |A Δ L| for those rows × every landmark) a chunk of rows at a time."""
    landmarks = matrix[landmark_rows].T.toarray()  # V × m, dense: X_chunk · L is one sparse-dense product
    landmark_sizes = sizes[landmark_rows]
    for start in range(0, matrix.shape[0], chunk):
        rows = slice(start, min(start + chunk, matrix.shape[0]))
        inter = matrix[rows] @ landmarks
        yield rows, sizes[rows, None] + landmark_sizes[None, :] - 2.0 * inter


def maxmin_landmarks(matrix: scipy.sparse.csr_matrix, sizes: np.ndarray, m: int, seed: int = 0) -> np.ndarray:
    """MaxMin landmarks: a random first one, then each next the image farthest from all chosen so far
    (de Silva & Tenenbaum's recommendation over random picks: it covers the space's edges)."""
    n = matrix.shape[0]
    rng = np.random.default_rng(seed)
    chosen = np.empty(m, dtype=np.int64)
    chosen[0] = rng.integers(n)
    transposed = matrix.T.tocsr()  # V × N: the column of one landmark against all images
    nearest = np.full(n, np.inf)
    for r in range(m):
        landmark = chosen[r]
        tokens = matrix.indices[matrix.indptr[landmark] : matrix.indptr[landmark + 1]]
        inter = np.asarray(transposed[tokens].sum(axis=0)).ravel()
        nearest = np.minimum(nearest, sizes + sizes[landmark] - 2.0 * inter)
        if r + 1 < m:
            nearest[chosen[: r + 1]] = -1.0  # never pick a landmark twice, even among duplicate sets
            chosen[r + 1] = int(np.argmax(nearest))
    return chosen


def random_landmarks(n: int, m: int, seed: int = 0) -> np.ndarray:
    """m distinct images drawn uniformly at random (seeded), in ascending order."""
    return np.sort(np.random.default_rng(seed).choice(n, size=m, replace=False))


LANDMARK_CHOICES = ("random", "maxmin")


def landmark_mds(
    matrix: scipy.sparse.csr_matrix,
    k: int = 10,
    n_landmarks: int = DEFAULT_LANDMARKS,
    image_ids: np.ndarray | None = None,
    corpus: str = "",
    seed: int = 0,
    choice: str = "random",
    chunk: int = CHUNK_ROWS,
) -> MdsResult:
    """Landmark MDS of the images whose token sets are the rows of ``matrix``.

    The spectrum kept is the landmarks' (m eigenvalues, same tolerance rule as full MDS:
    m · eps · max|λ|); axis shares are of the landmarks' positive sum."""
    n = matrix.shape[0]
    m = min(n_landmarks, n)
    k = min(k, m - 1)
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    start = time.perf_counter()
    if choice not in LANDMARK_CHOICES:
        raise ValueError(f"landmark choice must be one of {LANDMARK_CHOICES}, not {choice!r}")
    landmark_rows = (
        random_landmarks(n, m, seed) if choice == "random" else maxmin_landmarks(matrix, sizes, m, seed=seed)
    )
    log.info("%d %s landmarks of %d images in %.1f s", m, choice, n, time.perf_counter() - start)

    start = time.perf_counter()
    ((_, to_landmarks),) = distances_to(matrix[landmark_rows], sizes[landmark_rows], np.arange(m), chunk=m)
    b = double_centre(to_landmarks.astype(np.float64))
    values, vectors = scipy.linalg.eigh(b, check_finite=False)
    values, vectors = values[::-1], vectors[:, ::-1]
    tolerance = m * np.finfo(float).eps * float(np.abs(values).max(initial=0.0))
    log.info("landmark eigenproblem %d × %d in %.1f s", m, m, time.perf_counter() - start)

    top_values, top_vectors = values[:k], vectors[:, :k]
    positive = top_values > tolerance
    pseudo_inverse = np.zeros((k, m))
    pseudo_inverse[positive] = (top_vectors[:, positive] / np.sqrt(top_values[positive])).T
    mean_squared = (to_landmarks.astype(np.float64) ** 2).mean(axis=0)

    start = time.perf_counter()
    coordinates = np.empty((n, k))
    for rows, block in distances_to(matrix, sizes, landmark_rows, chunk=chunk):
        squared = block.astype(np.float64) ** 2
        coordinates[rows] = -0.5 * (squared - mean_squared) @ pseudo_inverse.T
    log.info("triangulated %d images in %.1f s", n, time.perf_counter() - start)
    # same sign rule as classical_mds: the largest |component| of each axis positive
    signs = np.sign(coordinates[np.abs(coordinates).argmax(axis=0), np.arange(k)])
    signs[signs == 0] = 1
    coordinates *= signs
    return MdsResult(
        corpus=corpus,
        image_ids=np.arange(n) if image_ids is None else image_ids,
        eigenvalues=values,
        coordinates=coordinates,
        tolerance=tolerance,
        method="landmark",
        n_landmarks=m,
    )
