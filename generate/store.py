"""The association tables under ``raw``: their schema, the reads a resumed run needs, and the
one-transaction writes (a batch of associations; a run's tokens)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from semspace import contract, db, names, warehouse
from semspace.errors import SemspaceError

# the columns a batch of associations supplies: all of raw.associations but created_at (the commit's time)
ASSOCIATION_COLUMNS = tuple(c for c in contract.table("raw.associations").column_names if c != "created_at")
_ARROW_TYPES = {
    "image_id": pa.int32(),
    "caption_index": pa.int32(),
    "round": pa.int32(),
    "n_new_tokens": pa.int32(),
    "max_new_tokens": pa.int32(),
    "do_sample": pa.bool_(),
    "temperature": pa.float64(),
    "top_k": pa.int32(),
    "top_p": pa.float64(),
    "seed": pa.int64(),
    "sample_seed": pa.int64(),
}


@dataclass(frozen=True)
class RunRecord:
    """One row of ``raw.association_runs``: what identifies a run (checked when it is resumed)."""

    run_id: str
    dataset: str
    model: str
    model_source: str | None
    backend: str
    chat: bool
    prompt_template_version: str
    prompt_template: str
    params: dict[str, Any]
    rounds: int
    tokenizer: str | None = None


def table_exists(con: duckdb.DuckDBPyConnection, name: str, schema: str = "raw") -> bool:
    return warehouse.table_exists(con, schema, name)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw association tables (semspace.contract) where they do not exist yet, and add
    the columns the contract has gained since (``association_tokens.n_chains``) to older ones; the
    rows already there get null in them."""
    contract.ensure(con, [f"raw.{name}" for name in contract.ASSOCIATION_TABLES])
    if not _has_column(con, "association_tokens", "n_chains"):
        con.execute("alter table raw.association_tokens add column if not exists n_chains integer")


def _has_column(con: duckdb.DuckDBPyConnection, table: str, column: str, schema: str = "raw") -> bool:
    found = con.execute(
        "select count(*) from information_schema.columns where table_catalog = current_database() "
        "and table_schema = ? and table_name = ? and column_name = ?",
        [schema, table, column],
    ).fetchone()
    return bool(found and found[0])


def get_run(con: duckdb.DuckDBPyConnection, run_id: str) -> RunRecord | None:
    if not table_exists(con, "association_runs"):
        return None
    row = con.execute(
        "select run_id, dataset, model, model_source, backend, chat, prompt_template_version, prompt_template, "
        "params, rounds, tokenizer from raw.association_runs where run_id = ?",
        [run_id],
    ).fetchone()
    if row is None:
        return None
    (run_id_, dataset, model, model_source, backend, chat, version, template) = row[:8]
    return RunRecord(
        run_id_,
        dataset,
        model,
        model_source,
        backend,
        chat,
        version,
        template,
        params=json.loads(row[8]),
        rounds=row[9],
        tokenizer=row[10],
    )


def check_run_id(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Refuse a run id whose corpora (itself, ``<run_id>-nostop``) would be named like those of a
    dataset or of another run (semspace.names.clash): each dataset and each run is a corpus."""
    datasets = (
        [r[0] for r in con.execute("select dataset from raw.datasets").fetchall()]
        if table_exists(con, "datasets")
        else []
    )
    other = names.clash(run_id, datasets)
    if other is not None:
        raise SemspaceError(
            f"--run-id {run_id!r} clashes with the dataset {other!r}: datasets and runs are both corpora "
            f"({', '.join(names.corpus_names(other))}) and need names of their own; pass another --run-id"
        )
    runs = (
        [r[0] for r in con.execute("select run_id from raw.association_runs where run_id <> ?", [run_id]).fetchall()]
        if table_exists(con, "association_runs")
        else []
    )
    other = names.clash(run_id, runs)
    if other is not None:
        raise SemspaceError(
            f"--run-id {run_id!r} clashes with the run {other!r} (corpora {', '.join(names.corpus_names(other))}); "
            "pass another --run-id"
        )


def insert_run(con: duckdb.DuckDBPyConnection, run: RunRecord) -> None:
    """Inside the caller's transaction; a run id that clashes with a dataset's is refused
    (:func:`check_run_id`), and the transaction with it."""
    check_run_id(con, run.run_id)
    con.execute(
        "insert into raw.association_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, null, "
        "current_timestamp::timestamp, current_timestamp::timestamp)",
        [
            run.run_id,
            run.dataset,
            run.model,
            run.model_source,
            run.backend,
            run.chat,
            run.prompt_template_version,
            run.prompt_template,
            json.dumps(run.params, sort_keys=True),
            run.rounds,
            run.tokenizer,
        ],
    )


def update_run_rounds(con: duckdb.DuckDBPyConnection, run_id: str, rounds: int) -> None:
    """Inside the caller's transaction: a resumed run asked for more rounds than it had."""
    con.execute(
        "update raw.association_runs set rounds = ?, updated_at = current_timestamp::timestamp where run_id = ?",
        [rounds, run_id],
    )


def last_rounds(con: duckdb.DuckDBPyConnection, run_id: str, dataset: str) -> dict[tuple[int, int], int]:
    """The last stored round of each caption's chain in this run (captions without rows are absent).
    A chain with a hole (a round missing below its last) is an error: rows were deleted by hand."""
    if not table_exists(con, "associations"):
        return {}
    rows = con.execute(
        "select image_id, caption_index, max(round), count(*) from raw.associations "
        "where run_id = ? and dataset = ? group by image_id, caption_index",
        [run_id, dataset],
    ).fetchall()
    last = {}
    for image_id, caption_index, top, n in rows:
        if n != top:
            raise SemspaceError(
                f"run {run_id!r}: image {image_id} caption {caption_index} has {n} stored rounds but its last is "
                f"round {top}: the chain has a hole (rows deleted by hand?); delete that caption's rows of this run "
                f"and rerun"
            )
        last[(image_id, caption_index)] = top
    return last


def round_outputs(con: duckdb.DuckDBPyConnection, run_id: str, dataset: str, round_: int) -> dict[tuple[int, int], str]:
    """``output_text`` of every caption's round ``round_`` in this run."""
    rows = con.execute(
        "select image_id, caption_index, output_text from raw.associations "
        "where run_id = ? and dataset = ? and round = ?",
        [run_id, dataset, round_],
    ).fetchall()
    return {(i, c): text for i, c, text in rows}


def insert_associations(
    con: duckdb.DuckDBPyConnection,
    rows: Sequence[dict[str, Any]],
    *,
    new_run: RunRecord | None = None,
    set_rounds: tuple[str, int] | None = None,
) -> None:
    """One transaction: the tables if missing, ``new_run``'s record when given, a run's ``rounds``
    raised when ``set_rounds = (run_id, rounds)`` is given, then the batch's rows. All or nothing."""
    table = pa.table(
        {col: pa.array([r[col] for r in rows], _ARROW_TYPES.get(col, pa.string())) for col in ASSOCIATION_COLUMNS}
    )
    with db.transaction(
        con, {"new_associations": table}, failure="storing a batch of associations failed, that batch was not stored"
    ):
        ensure_schema(con)
        if new_run is not None:
            insert_run(con, new_run)
        if set_rounds is not None:
            update_run_rounds(con, *set_rounds)
        con.execute(
            f"insert into raw.associations ({', '.join(ASSOCIATION_COLUMNS)}, created_at) "
            f"select {', '.join(ASSOCIATION_COLUMNS)}, current_timestamp::timestamp from new_associations"
        )


def replace_tokens(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    dataset: str,
    image_ids: Sequence[int],
    tokens: Sequence[str],
    tokenizer: str,
    tokenization: str,
    n_chains: Sequence[int | None] | None = None,
) -> None:
    """One transaction: the run's rows of ``raw.association_tokens`` become exactly these.
    ``n_chains``: how many of the image's chains hold each token, aligned with ``tokens`` (``None``:
    unknown, stored as null); a pair given twice is stored once, with its larger count."""
    if n_chains is not None and len(n_chains) != len(tokens):
        raise ValueError(f"{len(n_chains)} chain counts for {len(tokens)} tokens")
    table = pa.table(
        {
            "image_id": pa.array(image_ids, pa.int32()),
            "token": pa.array(tokens, pa.string()),
            "n_chains": pa.array(n_chains if n_chains is not None else [None] * len(tokens), pa.int32()),
        }
    )
    with db.transaction(
        con, {"new_tokens": table}, failure=f"storing the tokens of run {run_id!r} failed, nothing was changed"
    ):
        ensure_schema(con)
        con.execute("delete from raw.association_tokens where run_id = ?", [run_id])
        con.execute(
            "insert into raw.association_tokens (run_id, dataset, image_id, token, n_chains) "
            "select ?, ?, image_id, token, max(n_chains) from new_tokens group by image_id, token",
            [run_id, dataset],
        )
        con.execute(
            "update raw.association_runs set tokenizer = ?, tokenization = ?, updated_at = current_timestamp::timestamp "
            "where run_id = ?",
            [tokenizer, tokenization, run_id],
        )
