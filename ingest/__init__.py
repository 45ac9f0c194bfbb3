"""Ingest caption sources into the warehouse's raw tables.

>>> from ingest import load
>>> load("../shared/data/coco_karpathy_test.json")          # doctest: +SKIP
"""

from __future__ import annotations

import os

from ingest.records import Dataset, ImageRecord
from ingest.sources import read
from ingest.writer import write
from semspace import db

__all__ = ["Dataset", "ImageRecord", "load", "read"]


def load(
    source: str | os.PathLike[str] | None = None,
    database: str | os.PathLike[str] | None = None,
    *,
    replace_runs: bool = False,
    **options: str | None,
) -> Dataset:
    """Read ``source`` (default: the COCO Karpathy test split), validate all of it, then replace that
    dataset's rows in ``raw.*`` in one transaction. Options: ``name``, ``fmt``, ``split``,
    ``image_col``, ``caption_col`` (see :func:`ingest.sources.read`). A dataset with association
    runs is replaced only with the same captions, or with ``replace_runs=True``, which deletes those
    runs (their ids end up in the returned dataset's ``dropped_runs``; see :func:`ingest.writer.write`)."""
    dataset = read(source, **options)  # type: ignore[arg-type]
    con = db.connect(database)
    try:
        write(con, dataset, replace_runs=replace_runs)
    finally:
        con.close()
    return dataset
