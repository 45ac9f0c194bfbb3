"""Writes a :class:`Dataset` into ``raw.datasets``, ``raw.images`` and ``raw.captions`` atomically,
with the ``raw.lexicon`` rows (semspace.lexicon) of its words that the warehouse does not have yet."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from ingest.records import Dataset
from semspace import contract, db, lexicon, names, warehouse
from semspace.errors import SemspaceError


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw caption tables and the lexicon if this warehouse has none yet (dbt reads them
    as sources), and the computed tables (empty), so that the marts over them, views, read the real
    tables from the first `dbt build` on."""
    contract.ensure(con, [f"raw.{name}" for name in contract.CAPTION_TABLES])
    contract.ensure(con, [f"raw.{name}" for name in contract.LEXICON_TABLES])
    contract.ensure(con, [t.qualified for t in contract.tables(contract.COMPUTED)])


def _arrow(dataset: Dataset) -> tuple[pa.Table, pa.Table]:
    images = dataset.images
    image_table = pa.table(
        {
            "image_id": pa.array(range(len(images)), pa.int32()),
            "image_key": pa.array([i.key for i in images], pa.string()),
            "coco_id": pa.array([i.coco_id for i in images], pa.int64()),
            "file_name": pa.array([i.file_name for i in images], pa.string()),
            "url": pa.array([i.url for i in images], pa.string()),
        }
    )
    image_ids, indexes, captions, tokens = [], [], [], []
    for image_id, image in enumerate(images):
        for k, caption in enumerate(image.captions):
            image_ids.append(image_id)
            indexes.append(k)
            captions.append(caption)
            tokens.append(image.tokens[k] if image.tokens is not None else None)
    caption_table = pa.table(
        {
            "image_id": pa.array(image_ids, pa.int32()),
            "caption_index": pa.array(indexes, pa.int32()),
            "caption": pa.array(captions, pa.string()),
            "tokens": pa.array(tokens, pa.list_(pa.string())),
        }
    )
    return image_table, caption_table


def _words(dataset: Dataset) -> set[str]:
    """The words of the dataset's captions and source tokens (semspace.lexicon.words)."""
    texts = (caption for image in dataset.images for caption in image.captions)
    token_lists = (tokens for image in dataset.images for tokens in (image.tokens or ()))
    return lexicon.words(texts, token_lists)


def _write_lexicon(con: duckdb.DuckDBPyConnection, words: set[str]) -> int:
    """Insert the ``raw.lexicon`` rows of the ``words`` that have none yet (a word's rows depend on
    the word alone, so rows already there are kept, whichever dataset brought them); returns the
    rows inserted."""
    if not words:
        return 0
    known = set(
        _names(
            con,
            "select distinct word from raw.lexicon where word in (select unnest(?::varchar[]))",
            [sorted(words)],
        )
    )
    new = sorted(words - known)
    if not new:
        return 0
    table = lexicon.arrow(new)
    con.register("new_lexicon", table)
    try:
        con.execute(
            "insert into raw.lexicon (word, feature, kind, depth, source) "
            "select word, feature, kind, depth, source from new_lexicon"
        )
    finally:
        con.unregister("new_lexicon")
    return table.num_rows


def _names(con: duckdb.DuckDBPyConnection, sql: str, params: list[object]) -> list[str]:
    return [row[0] for row in con.execute(sql, params).fetchall()]


def _runs_of(con: duckdb.DuckDBPyConnection, dataset: str) -> list[str]:
    """Every run id with rows of ``dataset`` in any association table."""
    parts = [
        f"select run_id from raw.{table} where dataset = ?"
        for table in contract.ASSOCIATION_TABLES
        if warehouse.table_exists(con, "raw", table)
    ]
    if not parts:
        return []
    return _names(con, f"select distinct run_id from ({' union all '.join(parts)}) order by 1", [dataset] * len(parts))


def _same_captions(con: duckdb.DuckDBPyConnection, dataset: str) -> bool:
    """Whether the registered ``new_images``/``new_captions`` hold exactly the stored images (id, key)
    and captions (id, index, text) of ``dataset``: all an association run was made from."""
    found = con.execute(
        "select (select count(*) from raw.images where dataset = $1) = (select count(*) from new_images) "
        "and (select count(*) from raw.captions where dataset = $1) = (select count(*) from new_captions) "
        "and not exists (select image_id, image_key from new_images except all "
        "select image_id, image_key from raw.images where dataset = $1) "
        "and not exists (select image_id, caption_index, caption from new_captions except all "
        "select image_id, caption_index, caption from raw.captions where dataset = $1)",
        [dataset],
    ).fetchone()
    return bool(found and found[0])


def _drop_computed(con: duckdb.DuckDBPyConnection, corpora: list[str]) -> None:
    """Delete the computed rows (semspace.contract's computed tables) of ``corpora``: their MDS
    and evaluation scores were computed from captions that are being replaced."""
    for table in contract.tables(contract.COMPUTED):
        columns = ["corpus", "image_scope"] if "image_scope" in table.column_names else ["corpus"]
        condition = " or ".join(f"{c} in (select unnest($1::varchar[]))" for c in columns)
        con.execute(f"delete from {table.qualified} where {condition}", [corpora])


def _check_names(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Refuse a dataset name whose corpora (itself, ``<name>-nostop``) would be named like those of
    another dataset or of an association run (semspace.names.clash)."""
    runs = (
        _names(con, "select run_id from raw.association_runs where run_id is not null", [])
        if warehouse.table_exists(con, "raw", "association_runs")
        else []
    )
    other = names.clash(name, runs)
    if other is not None:
        raise SemspaceError(
            f"--dataset {name!r} clashes with the association run {other!r}: datasets and runs are both corpora "
            f"({', '.join(names.corpus_names(other))}) and need names of their own; ingest under another --dataset name"
        )
    datasets = _names(con, "select dataset from raw.datasets where dataset <> ?", [name])
    other = names.clash(name, datasets)
    if other is not None:
        raise SemspaceError(
            f"--dataset {name!r} clashes with the dataset {other!r} (corpora {', '.join(names.corpus_names(other))}); "
            "ingest under another --dataset name"
        )


def write(con: duckdb.DuckDBPyConnection, dataset: Dataset, *, replace_runs: bool = False) -> list[str]:
    """Replace ``dataset.name``'s rows in the raw tables, in one transaction; other datasets are untouched.

    The name must follow :mod:`semspace.names`' rule and not clash with another dataset's or a run's
    corpora. A dataset with association runs (``raw.association_runs`` and its two tables) is
    replaced only when its images and captions stay exactly the same (the runs still describe
    them), or with ``replace_runs``, which deletes those runs' rows in the same transaction. When the
    captions change, the computed rows (MDS, evaluation scores) of the dataset's corpora and of the
    dropped runs' corpora are deleted with them: they described the old captions.
    The same transaction adds the ``raw.lexicon`` rows of the dataset's words not in it yet (rows
    are never deleted: the table is shared by all datasets).
    Returns the run ids it deleted (also in ``dataset.dropped_runs``)."""
    names.check_name("--dataset", dataset.name, hint="pass --dataset NAME")
    image_table, caption_table = _arrow(dataset)
    words = _words(dataset)
    views = {"new_images": image_table, "new_captions": caption_table}
    dropped: list[str] = []
    with db.transaction(con, views, failure=f"writing dataset {dataset.name!r} failed, nothing was changed"):
        ensure_schema(con)
        _check_names(con, dataset.name)
        runs = _runs_of(con, dataset.name)
        stored = con.execute("select count(*) from raw.datasets where dataset = ?", [dataset.name]).fetchone()
        existed = bool(stored and stored[0])
        changed = existed and not _same_captions(con, dataset.name)
        if runs and changed:
            if not replace_runs:
                shown = ", ".join(repr(r) for r in runs)
                raise SemspaceError(
                    f"dataset {dataset.name!r} has association runs made from its current captions ({shown}); "
                    "re-ingesting other captions under this name would leave them describing captions that are gone. "
                    "Pass --replace-runs to delete those runs with the old captions, or ingest under another --dataset name"
                )
            for table in contract.ASSOCIATION_TABLES:
                if warehouse.table_exists(con, "raw", table):
                    con.execute(
                        f"delete from raw.{table} where dataset = ? or run_id in (select unnest(?::varchar[]))",
                        [dataset.name, runs],
                    )
            dropped = runs
        if changed:  # MDS and scores of the old captions (and of dropped runs) describe nothing any more
            _drop_computed(con, [c for name in (dataset.name, *dropped) for c in names.corpus_names(name)])
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
        _write_lexicon(con, words)
    dataset.dropped_runs = list(dropped)
    return dropped
