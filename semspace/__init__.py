"""semspace: images placed in a semantic space of caption tokens (DuckDB + dbt)."""

from semspace.errors import SemspaceError

__all__ = ["SemspaceError"]
__version__ = "0.1.0"
