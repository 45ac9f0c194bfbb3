"""Python downstream of the marts: classical (or landmark) MDS of a corpus's distances, the note's
figures, the report and the interactive map. The ad-hoc SQL in this folder is rendered by `dbt compile`."""

from __future__ import annotations

import os
from pathlib import Path

from analysis.mds import MdsResult, classical_mds, load_distances, write
from semspace import db

__all__ = ["MdsResult", "classical_mds", "mds", "export_mds", "FULL_MDS_MAX_POINTS"]

# Above this many images `method="auto"` switches to landmark MDS: the N × N matrix of full MDS
# takes 8·N² bytes per copy (3.2 GB at 20,000) and its eigenvalues O(N³) time.
FULL_MDS_MAX_POINTS = 20_000
MDS_TABLES = ("mds_spectrum", "mds_eigenvalues", "mds_coordinates")


def mds(corpus: str = "coco", database: str | os.PathLike[str] | None = None, k: int = 10,
        method: str = "auto", n_landmarks: int | None = None, seed: int = 0,
        landmark_choice: str = "random", export_dir: str | os.PathLike[str] | None = None) -> MdsResult:
    """MDS of ``corpus`` from the warehouse; writes mds_spectrum, mds_eigenvalues and mds_coordinates
    (replacing that corpus's rows, in one transaction) and returns the result.

    method: "full" (classical MDS of the whole distance matrix, read from image_pairs), "landmark"
    (landmark MDS from token_sets, memory linear in the number of images) or "auto" (full up to
    FULL_MDS_MAX_POINTS images). n_landmarks, seed, landmark_choice ("random" or "maxmin"): see
    analysis.landmark. export_dir: also write the three tables there as Parquet."""
    from analysis import landmark

    if method not in ("auto", "full", "landmark"):
        raise ValueError(f"method must be auto, full or landmark, not {method!r}")
    with db.connect(database, read_only=True) as con:
        if method == "auto":
            n = con.execute("select count(*) from set_sizes where corpus = ?", [corpus]).fetchone()[0]
            method = "full" if n <= FULL_MDS_MAX_POINTS else "landmark"
        if method == "full":
            image_ids, distances = load_distances(con, corpus)
        else:
            image_ids, matrix = landmark.load_token_matrix(con, corpus)
    if method == "full":
        result = classical_mds(distances, k=k, image_ids=image_ids, corpus=corpus)
        del distances
    else:
        result = landmark.landmark_mds(matrix, k=k, n_landmarks=n_landmarks or landmark.DEFAULT_LANDMARKS,
                                       image_ids=image_ids, corpus=corpus, seed=seed,
                                       choice=landmark_choice)
    with db.connect(database) as con:
        write(con, result)
        if export_dir is not None:
            export_mds(con, export_dir)
    return result


def export_mds(con, export_dir: str | os.PathLike[str]) -> list[Path]:
    """Write mds_spectrum, mds_eigenvalues and mds_coordinates (all corpora) as Parquet files into
    ``export_dir`` beside the dbt exports; returns the paths."""
    folder = Path(export_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    order = {"mds_spectrum": "corpus", "mds_eigenvalues": "corpus, rank", "mds_coordinates": "corpus, image_id"}
    for name in MDS_TABLES:
        path = folder / f"{name}.parquet"
        tmp = path.with_suffix(".parquet.tmp")
        target = str(tmp).replace("'", "''")
        con.execute(f"copy (select * from main.{name} order by {order[name]}) to '{target}' (format parquet)")
        os.replace(tmp, path)  # readers never see a half-written file
        written.append(path)
    return written
