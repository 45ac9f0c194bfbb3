"""The one definition of every table a Python step writes: the ``raw`` schema (ingest, generate)
and the ``computed`` schema (MDS, evaluation).

dbt reads these tables as sources (``models/staging/_sources.yml``, whose column names and
``data_type`` a test checks against this module); the writers create them from here
(:func:`ensure`), the Parquet export (``python -m ingest export-raw``) writes their empty form from
here, and nothing else in the project spells out their columns. Types are DuckDB's.

Python steps write only into these two schemas; dbt builds every table people read (the marts,
schema ``main``) over them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

RAW = "raw"
COMPUTED = "computed"
SCHEMAS = (RAW, COMPUTED)


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # a DuckDB type: varchar, integer, bigint, double, boolean, timestamp, json, varchar[]
    not_null: bool = False


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def create_sql(self) -> str:
        """``create table if not exists`` for this table (identifiers are the contract's own)."""
        lines = [f"    {c.name} {c.type}{' not null' if c.not_null else ''}" for c in self.columns]
        if self.primary_key:
            lines.append(f"    primary key ({', '.join(self.primary_key)})")
        return f"create table if not exists {self.qualified} (\n" + ",\n".join(lines) + "\n)"


def _c(name: str, type_: str, not_null: bool = False) -> Column:
    return Column(name, type_, not_null)


_TABLES = (
    # ---- raw: written by `semspace ingest` (each write replaces one dataset's rows) ----
    Table(
        RAW,
        "datasets",
        (
            _c("dataset", "varchar", True),
            _c("source", "varchar", True),
            _c("format", "varchar", True),
            _c("n_images", "integer", True),
            _c("n_captions", "integer", True),
            _c("ingested_at", "timestamp", True),
        ),
    ),
    Table(
        RAW,
        "images",
        (
            _c("dataset", "varchar", True),
            _c("image_id", "integer", True),
            _c("image_key", "varchar", True),
            _c("coco_id", "bigint"),
            _c("file_name", "varchar"),
            _c("url", "varchar"),
        ),
    ),
    Table(
        RAW,
        "captions",
        (
            _c("dataset", "varchar", True),
            _c("image_id", "integer", True),
            _c("caption_index", "integer", True),
            _c("caption", "varchar", True),
            _c("tokens", "varchar[]"),
        ),
    ),
    # ---- raw: written by `semspace generate` (each finished batch of chains commits) ----
    Table(
        RAW,
        "association_runs",
        (
            _c("run_id", "varchar"),
            _c("dataset", "varchar", True),
            _c("model", "varchar", True),
            _c("model_source", "varchar"),
            _c("backend", "varchar", True),
            _c("chat", "boolean", True),
            _c("prompt_template_version", "varchar", True),
            _c("prompt_template", "varchar", True),
            _c("params", "json", True),
            _c("rounds", "integer", True),
            _c("tokenizer", "varchar"),
            _c("tokenization", "varchar"),
            _c("created_at", "timestamp", True),
            _c("updated_at", "timestamp", True),
        ),
        primary_key=("run_id",),
    ),
    Table(
        RAW,
        "associations",
        (
            _c("run_id", "varchar", True),
            _c("dataset", "varchar", True),
            _c("image_id", "integer", True),
            _c("caption_index", "integer", True),
            _c("round", "integer", True),
            _c("model", "varchar", True),
            _c("prompt_template_version", "varchar", True),
            _c("input_text", "varchar", True),
            _c("generated_text", "varchar", True),
            _c("output_text", "varchar", True),
            _c("n_new_tokens", "integer"),
            _c("finish_reason", "varchar", True),
            _c("max_new_tokens", "integer"),
            _c("do_sample", "boolean", True),
            _c("temperature", "double"),
            _c("top_k", "integer"),
            _c("top_p", "double"),
            _c("seed", "bigint"),
            _c("sample_seed", "bigint"),
            _c("created_at", "timestamp", True),
        ),
        primary_key=("run_id", "dataset", "image_id", "caption_index", "round"),
    ),
    Table(
        RAW,
        "association_tokens",
        (
            _c("run_id", "varchar", True),
            _c("dataset", "varchar", True),
            _c("image_id", "integer", True),
            _c("token", "varchar", True),
            # how many of the image's chains (one per caption) hold the token; null in rows
            # written before the column existed (read as 1)
            _c("n_chains", "integer"),
        ),
        primary_key=("run_id", "dataset", "image_id", "token"),
    ),
    # ---- raw: written by `semspace ingest` for the words of every dataset it stores ----
    Table(
        RAW,
        "lexicon",
        (
            _c("word", "varchar", True),
            _c("feature", "varchar", True),
            _c("kind", "varchar", True),
            _c("depth", "integer", True),
            _c("source", "varchar", True),
        ),
        primary_key=("word", "feature"),
    ),
    # ---- computed: written by `semspace mds` (each run replaces one corpus's rows) ----
    Table(
        COMPUTED,
        "mds_spectrum",
        (
            _c("corpus", "varchar", True),
            _c("n_points", "integer", True),
            _c("method", "varchar", True),
            _c("n_landmarks", "integer"),
            _c("n_eigenvalues", "integer", True),
            _c("n_positive", "integer", True),
            _c("n_negative", "integer", True),
            _c("n_zero", "integer", True),
            _c("tolerance", "double", True),
            _c("sum_positive", "double", True),
            _c("sum_abs_negative", "double", True),
            _c("computed_at", "timestamp", True),
        ),
        primary_key=("corpus",),
    ),
    Table(
        COMPUTED,
        "mds_eigenvalues",
        (
            _c("corpus", "varchar", True),
            _c("rank", "integer", True),
            _c("eigenvalue", "double", True),
        ),
        primary_key=("corpus", "rank"),
    ),
    Table(
        COMPUTED,
        "mds_coordinates",
        (
            _c("corpus", "varchar", True),
            _c("image_id", "integer", True),
            _c("axis", "integer", True),
            _c("coordinate", "double", True),
        ),
        primary_key=("corpus", "image_id", "axis"),
    ),
    # ---- computed: written by `semspace evaluate` (each run replaces its corpus × scope × measures) ----
    Table(
        COMPUTED,
        "evaluation_scores",
        (
            _c("corpus", "varchar", True),
            _c("image_scope", "varchar", True),
            _c("measure", "varchar", True),
            _c("benchmark", "varchar", True),
            _c("metric", "varchar", True),
            _c("value", "double", True),
            _c("n_queries", "integer", True),
            _c("computed_at", "timestamp", True),
        ),
        primary_key=("corpus", "image_scope", "measure", "benchmark", "metric"),
    ),
)

TABLES: dict[str, Table] = {t.qualified: t for t in _TABLES}

CAPTION_TABLES = ("datasets", "images", "captions")
LEXICON_TABLES = ("lexicon",)
ASSOCIATION_TABLES = ("association_runs", "associations", "association_tokens")
MDS_TABLES = ("mds_spectrum", "mds_eigenvalues", "mds_coordinates")
EVALUATION_TABLES = ("evaluation_scores",)


def table(name: str) -> Table:
    """The table ``schema.name`` (or a bare raw/computed name, which is unique across the two)."""
    if name in TABLES:
        return TABLES[name]
    found = [t for t in _TABLES if t.name == name]
    if len(found) != 1:
        raise KeyError(f"no table {name!r} in the contract")
    return found[0]


def tables(schema: str | None = None) -> list[Table]:
    return [t for t in _TABLES if schema is None or t.schema == schema]


def ensure(con: duckdb.DuckDBPyConnection, names: Iterable[str]) -> None:
    """Create the schemas and tables ``names`` (as for :func:`table`) where they do not exist yet,
    and give an existing table the nullable columns the contract gained since it was written
    (:func:`migrate`)."""
    for name in names:
        t = table(name)
        con.execute(f"create schema if not exists {t.schema}")
        con.execute(t.create_sql())
        migrate(con, [t.qualified])


def missing_columns(con: duckdb.DuckDBPyConnection, t: Table) -> list[Column]:
    """The nullable columns of ``t`` its existing table lacks (none when the table does not exist)."""
    found = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [t.schema, t.name],
        ).fetchall()
    }
    return [c for c in t.columns if found and c.name not in found and not c.not_null]


def migrate(con: duckdb.DuckDBPyConnection, names: Iterable[str] | None = None) -> list[str]:
    """Add to each existing table of ``names`` (default: every contract table) the columns the
    contract has and it lacks: only nullable ones are ever added (rows written before read null,
    which the staging models read as their documented default). Returns ``schema.table.column`` of
    each column added. A missing table is left alone."""
    added = []
    for name in names if names is not None else [t.qualified for t in _TABLES]:
        t = table(name)
        for c in missing_columns(con, t):
            con.execute(f"alter table {t.qualified} add column if not exists {c.name} {c.type}")
            added.append(f"{t.qualified}.{c.name}")
    return added


def empty_select(t: Table) -> str:
    """A query with ``t``'s columns and types and no rows."""
    return "select " + ", ".join(f"cast(null as {c.type}) as {c.name}" for c in t.columns) + " where false"
