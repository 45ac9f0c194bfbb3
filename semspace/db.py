"""The one place that opens DuckDB connections and applies the warehouse settings."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from semspace.errors import SemspaceError

DEFAULT_DB = Path("data") / "semspace.duckdb"
"""Default warehouse file, relative to the working directory (the repository root)."""


def db_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The warehouse file: ``path`` if given, else ``$SEMSPACE_DB``, else ``data/semspace.duckdb``."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get("SEMSPACE_DB") or DEFAULT_DB)


def connect(path: str | os.PathLike[str] | None = None, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse with the project's settings.

    Settings come from the environment: ``SEMSPACE_THREADS``, ``SEMSPACE_MEMORY_LIMIT`` (e.g.
    ``8GB``) and ``SEMSPACE_TEMP_DIR``. A file held by another process raises a
    :class:`SemspaceError` that names the file instead of DuckDB's lock error.
    """
    target = db_path(path)
    if read_only and not target.exists():
        raise SemspaceError(f"{target}: no warehouse here yet; run `make run` or `python -m ingest` first")
    if not read_only:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SemspaceError(f"{target}: cannot create the warehouse's folder: {exc.strerror or exc}") from exc
    config: dict[str, str | bool | int | float | list[str]] = {}
    if threads := os.environ.get("SEMSPACE_THREADS"):
        config["threads"] = threads
    if memory := os.environ.get("SEMSPACE_MEMORY_LIMIT"):
        config["memory_limit"] = memory
    if temp := os.environ.get("SEMSPACE_TEMP_DIR"):
        config["temp_directory"] = temp
    try:
        con = duckdb.connect(str(target), read_only=read_only, config=config)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise SemspaceError(
                f"{target}: the warehouse is locked by another process "
                f"(a dbt run, a notebook or another ingest?); close it and try again. DuckDB said: {exc}"
            ) from exc
        raise SemspaceError(f"{target}: cannot open the warehouse: {exc}") from exc
    # DuckDB's own progress bar only on a terminal: in a log it stays as a line stuck at some percent
    con.execute(f"set enable_progress_bar = {'true' if sys.stderr.isatty() else 'false'}")
    return con


def check_writable(path: str | os.PathLike[str] | None = None) -> Path:
    """The warehouse file, after checking that it exists and can be opened for writing right now
    (not read-only, not locked by another process): called before long work, so that a lock is
    found in a second, not after minutes of computing. Raises :class:`SemspaceError`."""
    target = db_path(path)
    if not target.exists():
        raise SemspaceError(f"{target}: no warehouse here yet; run `semspace ingest` first")
    read_only = not (target.stat().st_mode & 0o222) or not os.access(target, os.W_OK)
    if read_only or not os.access(target.parent, os.W_OK):
        raise SemspaceError(
            f"{target}: the warehouse (or its folder) is read-only; make it writable (chmod u+w) or pass another --db"
        )
    connect(target).close()  # one clear line when another process holds the lock
    return target


@contextmanager
def transaction(
    con: duckdb.DuckDBPyConnection, views: Mapping[str, Any] | None = None, failure: str | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction around the block: ``views`` (name → Arrow table) registered for it and
    unregistered after; commit at the end, rollback on any exception (a failed commit has already
    ended the transaction, so a failing rollback is ignored). ``failure``: a DuckDB error becomes
    ``SemspaceError(f"{failure}: {error}")``; other exceptions pass unchanged."""
    con.execute("begin transaction")
    try:
        for name, table in (views or {}).items():
            con.register(name, table)
        yield con
        con.execute("commit")
    except BaseException as exc:
        try:
            con.execute("rollback")
        except duckdb.Error:
            pass
        if failure is not None and isinstance(exc, duckdb.Error):
            raise SemspaceError(f"{failure}: {exc}") from exc
        raise
    finally:
        for name in views or {}:
            try:
                con.unregister(name)
            except duckdb.Error:
                pass
