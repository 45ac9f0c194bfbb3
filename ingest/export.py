"""The warehouse's ``raw.*`` and ``computed.*`` tables as Parquet: the input of engines that read files
rather than the DuckDB warehouse (the dbt ``spark`` target registers these folders as its ``raw`` and
``computed`` tables).

>>> from ingest.export import export_raw
>>> export_raw("data/raw_parquet", images=200)                    # doctest: +SKIP

Each table becomes a folder ``OUT/<table>/`` holding one ``data.parquet`` file (engines read a
table's folder, not a file). Every table of :mod:`semspace.contract` is always written: one the
warehouse does not have yet (no ``generate`` or ``mds`` run) is written empty, with the contract's
columns, so that a reader sees the same, empty, relation as dbt's ``source_or_empty`` gives on DuckDB;
a column the contract has gained since the warehouse's table was created (``association_tokens.n_chains``
before the next ``generate``) is written as nulls. ``--images`` / ``--datasets`` cut the tables that
have a dataset column; the shared ``raw.lexicon`` and the computed tables are written whole.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import duckdb

from semspace import contract, db
from semspace.errors import SemspaceError

CAPTION_TABLES = contract.CAPTION_TABLES
EXPORTED = tuple(t.qualified for t in contract.tables())  # raw.datasets, ..., computed.evaluation_scores
TABLE_NAMES = tuple(t.name for t in contract.tables())  # the folders written, one per table


def _present(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """The warehouse's ``raw.*`` and ``computed.*`` tables (``schema.name``) with their column names."""
    rows = con.execute(
        "select table_schema || '.' || table_name, column_name from information_schema.columns "
        "where table_schema in (?, ?)",
        list(contract.SCHEMAS),
    ).fetchall()
    present: dict[str, set[str]] = {}
    for table, column in rows:
        present.setdefault(table, set()).add(column)
    return present


def _missing_columns(table: str, have: set[str]) -> str:
    """``, cast(null as TYPE) as NAME`` for each contract column of ``table`` that the warehouse's
    table lacks (added to the contract since it was created; its writer adds it on its next write)."""
    return "".join(f", cast(null as {c.type}) as {c.name}" for c in contract.table(table).columns if c.name not in have)


def _subset_sql(table: str, images: int | None, datasets: list[str] | None) -> tuple[str, list[object]]:
    """The rows of ``table`` (``schema.name``) to export: only the given datasets, and per dataset
    only the images with id < ``images`` (and what belongs to them). ``raw.datasets`` then counts
    the images and captions that are exported. A table without a dataset column (a computed
    table; ``raw.lexicon``, shared by all datasets) is exported whole."""
    relation, params = table, list[object]()
    if table.startswith(f"{contract.COMPUTED}.") or "dataset" not in contract.table(table).column_names:
        return f"select * from {relation}", params
    name = table.split(".", 1)[1]
    if name == "datasets" and images is not None:
        relation = (
            "(select dataset, source, format, "
            "cast((select count(*) from raw.images as i where i.dataset = d.dataset and i.image_id < ?) as integer) "
            "as n_images, "
            "cast((select count(*) from raw.captions as c where c.dataset = d.dataset and c.image_id < ?) as integer) "
            "as n_captions, "
            "ingested_at from raw.datasets as d)"
        )
        params += [images, images]
    where: list[str] = []
    if datasets:
        where.append(f"dataset in ({', '.join('?' for _ in datasets)})")
        params += datasets
    if images is not None and name not in ("datasets", "association_runs"):
        where.append("image_id < ?")
        params.append(images)
    condition = f" where {' and '.join(where)}" if where else ""
    return f"select * from {relation} as t{condition}", params


def export_raw(
    out: str | os.PathLike[str],
    database: str | os.PathLike[str] | None = None,
    *,
    images: int | None = None,
    datasets: list[str] | None = None,
) -> dict[str, int]:
    """Write every ``raw.*`` and ``computed.*`` table of the contract as ``out/<table>/data.parquet``
    (table names are unique across the two schemas); returns the rows written per table name. ``images``: only the first N images of each dataset (all their
    captions, chains and tokens). ``datasets``: only these datasets. Each table's folder is
    replaced whole; other files under ``out`` are left alone."""
    if images is not None and images < 0:
        raise SemspaceError(f"--images must be >= 0, not {images}")
    out = Path(out)
    con = db.connect(database, read_only=True)
    try:
        present = _present(con)
        missing = [t for t in CAPTION_TABLES if f"raw.{t}" not in present]
        if missing:
            raise SemspaceError(
                f"{db.db_path(database)}: no raw.{missing[0]} table; ingest captions first (python -m ingest)"
            )
        if datasets:
            known = {row[0] for row in con.execute("select dataset from raw.datasets").fetchall()}
            unknown = [d for d in datasets if d not in known]
            if unknown:
                raise SemspaceError(
                    f"{db.db_path(database)}: no dataset {unknown[0]!r} in raw.datasets "
                    f"(it has: {', '.join(sorted(known)) or 'none'})"
                )
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SemspaceError(f"{out}: cannot create the folder: {exc.strerror or exc}") from exc
        counts: dict[str, int] = {}
        for table in EXPORTED:
            name = table.split(".", 1)[1]
            if table in present:
                sql, params = _subset_sql(table, images, datasets)
                extra = _missing_columns(table, present[table])
                if extra:
                    sql = f"select *{extra} from ({sql})"
            else:
                sql, params = contract.empty_select(contract.table(table)), []
            staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=out))
            try:
                file = str(staging / "data.parquet").replace("'", "''")
                written = con.execute(f"copy ({sql}) to '{file}' (format parquet)", params).fetchall()
                counts[name] = int(written[0][0])
                target = out / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
                staging.rename(target)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return counts
    except duckdb.Error as exc:
        raise SemspaceError(f"exporting the raw tables to {out} failed: {exc}") from exc
    finally:
        con.close()
