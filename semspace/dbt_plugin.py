"""A dbt-duckdb plugin (see profiles.yml) that gives dbt's DuckDB connection the helpers it needs.

``semspace_make_dirs(path)`` creates a directory (and its parents) and returns the path: the
export models call it in a pre-hook, because DuckDB's COPY does not create the directory it
writes into.
"""

from __future__ import annotations

from pathlib import Path

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection


def make_dirs(path: str) -> str:
    Path(path).mkdir(parents=True, exist_ok=True)
    return path


class Plugin(BasePlugin):
    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        conn.create_function("semspace_make_dirs", make_dirs, ["VARCHAR"], "VARCHAR", side_effects=True)
