"""Writes a :class:`Dataset` into ``raw.datasets``, ``raw.images`` and ``raw.captions`` atomically."""

from __future__ import annotations

import pyarrow as pa
import duckdb

from ingest.records import Dataset
from semspace import contract, db


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw caption tables if this warehouse has none yet (dbt reads them as sources), and
    the computed tables (empty), so that the marts over them, views, read the real tables from the
    first `dbt build` on."""
    contract.ensure(con, [f"raw.{name}" for name in contract.CAPTION_TABLES])
    contract.ensure(con, [t.qualified for t in contract.tables(contract.COMPUTED)])


def _arrow(dataset: Dataset) -> tuple[pa.Table, pa.Table]:
    images = dataset.images
    image_table = pa.table({
        "image_id": pa.array(range(len(images)), pa.int32()),
        "image_key": pa.array([i.key for i in images], pa.string()),
        "coco_id": pa.array([i.coco_id for i in images], pa.int64()),
        "file_name": pa.array([i.file_name for i in images], pa.string()),
        "url": pa.array([i.url for i in images], pa.string()),
    })
    image_ids, indexes, captions, tokens = [], [], [], []
    for image_id, image in enumerate(images):
        for k, caption in enumerate(image.captions):
            image_ids.append(image_id)
            indexes.append(k)
            captions.append(caption)
            tokens.append(image.tokens[k] if image.tokens is not None else None)
    caption_table = pa.table({
        "image_id": pa.array(image_ids, pa.int32()),
        "caption_index": pa.array(indexes, pa.int32()),
        "caption": pa.array(captions, pa.string()),
        "tokens": pa.array(tokens, pa.list_(pa.string())),
    })
    return image_table, caption_table


def write(con: duckdb.DuckDBPyConnection, dataset: Dataset) -> None:
    """Replace ``dataset.name``'s rows in the raw tables, in one transaction; other datasets are untouched."""
    image_table, caption_table = _arrow(dataset)
    views = {"new_images": image_table, "new_captions": caption_table}
    with db.transaction(con, views, failure=f"writing dataset {dataset.name!r} failed, nothing was changed"):
        ensure_schema(con)
        for table in ("captions", "images", "datasets"):
            con.execute(f"delete from raw.{table} where dataset = ?", [dataset.name])
        con.execute(
            "insert into raw.images select ?, image_id, image_key, coco_id, file_name, url from new_images",
            [dataset.name],
        )
        con.execute(
            "insert into raw.captions select ?, image_id, caption_index, caption, tokens from new_captions",
            [dataset.name],
        )
        con.execute(
            "insert into raw.datasets values (?, ?, ?, ?, ?, current_timestamp::timestamp)",
            [dataset.name, dataset.source, dataset.format, len(dataset.images), dataset.n_captions],
        )
