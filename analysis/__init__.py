"""Python downstream of the marts: classical (or landmark) MDS of a corpus's distances, the note's
figures, the report, the interactive map and the evaluation against people. Each step reads marts
(semspace.warehouse) and writes only into the ``computed`` schema (semspace.contract); dbt's
marts over it (mds_spectrum, mds_coordinates, evaluation_scores, ...) show the results."""

from __future__ import annotations

import os

from analysis.mds import (
    IdleWindow,
    MdsResult,
    centred_distances,
    classical_mds,
    classical_mds_centred,
    load_distances,
    write,
)
from semspace import db, warehouse

__all__ = ["MdsResult", "classical_mds", "choose_method", "mds", "FULL_MDS_MAX_POINTS"]

# Above this many images `method="auto"` switches to landmark MDS: the N × N matrix of full MDS
# takes 8·N² bytes per copy (3.2 GB at 20,000) and its eigenvalues O(N³) time. The same number as
# the dbt var all_pairs_max_images' default, above which a corpus gets no image_pairs rows at all.
FULL_MDS_MAX_POINTS = 20_000


def choose_method(n_images: int, has_pairs: bool, full_max_points: int = FULL_MDS_MAX_POINTS) -> str:
    """What ``method="auto"`` runs: full MDS for a corpus whose pairs image_pairs holds and that has
    at most ``full_max_points`` images, landmark MDS otherwise (a corpus without all-pairs rows, one
    above the dbt var all_pairs_max_images, cannot be embedded from its distance matrix). A corpus of
    fewer than two images has no pair at all: full (trivially)."""
    if n_images < 2:
        return "full"
    return "full" if has_pairs and n_images <= full_max_points else "landmark"


def mds(
    corpus: str = "coco",
    database: str | os.PathLike[str] | None = None,
    k: int = 10,
    method: str = "auto",
    n_landmarks: int | None = None,
    seed: int = 0,
    landmark_choice: str = "random",
    full_max_points: int = FULL_MDS_MAX_POINTS,
) -> MdsResult:
    """MDS of ``corpus`` from the warehouse; writes computed.mds_spectrum, mds_eigenvalues and
    mds_coordinates (replacing that corpus's rows, in one transaction) and returns the result.

    method: "full" (classical MDS of the whole distance matrix: computed by the exact pair kernel
    from the corpus's token sets where dbt built its inputs, else read from image_pairs; see
    :func:`analysis.mds.load_distances`), "landmark"
    (landmark MDS from token_sets, memory linear in the number of images) or "auto" (the default):
    full where image_pairs holds the corpus's pairs and it has at most ``full_max_points`` images,
    landmark otherwise (:func:`choose_method`). n_landmarks, seed, landmark_choice ("random" or
    "maxmin"): see analysis.landmark."""
    from analysis import landmark

    if method not in ("auto", "full", "landmark"):
        raise ValueError(f"method must be auto, full or landmark, not {method!r}")
    db.check_writable(database)  # a lock or a read-only file is found before the work, not after
    with db.connect(database, read_only=True) as con:
        warehouse.require_marts(con, "corpora", "set_sizes")
        n = len(warehouse.image_ids(con, corpus))
        if method == "auto":
            pairs = n >= 2 and warehouse.table_exists(con, "main", "image_pairs") and warehouse.has_pairs(con, corpus)
            method = choose_method(n, pairs, full_max_points)
        warehouse.require_marts(con, "image_pairs" if method == "full" else "token_sets")
        centred = None
        window = IdleWindow.open() if method == "full" else None  # idle cores, measured meanwhile
        if method == "full" and warehouse.table_exists(con, "intermediate", "int_token_weights"):
            image_ids, centred = centred_distances(con, corpus)  # from the token sets, one n × n matrix
        elif method == "full":
            image_ids, distances = load_distances(con, corpus, source="pairs")
        else:
            image_ids, matrix = landmark.load_token_matrix(con, corpus)
    if centred is not None:
        result = classical_mds_centred(centred, k=k, image_ids=image_ids, corpus=corpus, window=window)
        del centred
    elif method == "full":
        result = classical_mds(distances, k=k, image_ids=image_ids, corpus=corpus, window=window)
        del distances
    else:
        result = landmark.landmark_mds(
            matrix,
            k=k,
            n_landmarks=n_landmarks or landmark.DEFAULT_LANDMARKS,
            image_ids=image_ids,
            corpus=corpus,
            seed=seed,
            choice=landmark_choice,
        )
    with db.connect(database) as con:
        write(con, result)
    return result
