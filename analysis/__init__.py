"""Python downstream of the marts: classical MDS of a corpus's distances (more to come: figures,
report, evaluation). The ad-hoc SQL in this folder is rendered by `dbt compile`."""

from __future__ import annotations

import os

from analysis.mds import MdsResult, classical_mds, load_distances, write
from semspace import db

__all__ = ["MdsResult", "classical_mds", "mds"]


def mds(corpus: str = "coco", database: str | os.PathLike[str] | None = None, k: int = 10) -> MdsResult:
    """Classical MDS of ``corpus`` from the warehouse; writes mds_spectrum, mds_eigenvalues and
    mds_coordinates (replacing that corpus's rows) and returns the result."""
    with db.connect(database, read_only=True) as con:
        image_ids, distances = load_distances(con, corpus)
    result = classical_mds(distances, k=k, image_ids=image_ids, corpus=corpus)
    with db.connect(database) as con:
        write(con, result)
    return result
