"""Stamps of ``semspace run``'s steps, so that a second ``make run`` with nothing changed skips the
work it can.

A step's key is a hash of the previous step's key, its own inputs (the caption file's path, size and
modification time; the output folder) and the project's code (every source file of the Python
packages and the dbt project, and the ``SEMSPACE_*`` / ``DBT_*`` settings). The stamps file beside
the warehouse (``<db>.stamps.json``) holds each completed step's key and the warehouse file's size
and modification time after the last completed step: a warehouse changed since by anything else
(another ``dbt run``, an ingest) invalidates every stamp. A step is skipped only when every step
before it was, its key is the stored one and its outputs exist; once one step runs, every later
one runs too.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

# What the pipeline's results depend on, relative to the project folder.
CODE_FOLDERS = ("semspace", "ingest", "generate", "analysis", "models", "macros", "tests/dbt")
CODE_FILES = ("dbt_project.yml", "profiles.yml", "selectors.yml", "pyproject.toml")
CODE_SUFFIXES = {".py", ".sql", ".yml", ".yaml", ".j2", ".js", ".css", ".html", ".csv", ".json", ".toml"}


def code_hash(root: Path | None = None) -> str:
    """A hash of the project's code and the settings that change its results."""
    if root is None:
        from semspace.cli import project_dir

        root = project_dir()
    digest = hashlib.sha256()
    files: list[Path] = [root / name for name in CODE_FILES if (root / name).is_file()]
    for folder in CODE_FOLDERS:
        base = root / folder
        if base.is_dir():
            files += [p for p in base.rglob("*") if p.suffix in CODE_SUFFIXES and "__pycache__" not in p.parts]
    for path in sorted(files):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    for name in sorted(os.environ):
        if name.startswith(("SEMSPACE_", "DBT_")) and name not in ("DBT_TARGET_PATH", "DBT_LOG_PATH"):
            digest.update(f"{name}={os.environ[name]}".encode())
    return digest.hexdigest()


def file_state(path: str | os.PathLike[str] | None) -> list[object] | None:
    """[resolved path, size, mtime_ns] of a file, None when it does not exist."""
    if path is None:
        return None
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return None
    return [str(p.resolve()), st.st_size, st.st_mtime_ns]


class Stamps:
    """The stamps of one warehouse's pipeline steps (see the module's docstring)."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = database.with_name(database.name + ".stamps.json")
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            stored = {}
        steps = stored.get("steps") if isinstance(stored, dict) else None
        now = file_state(database)
        unchanged = now is not None and isinstance(stored, dict) and stored.get("warehouse") == now
        self.steps: dict[str, str] = dict(steps) if unchanged and isinstance(steps, dict) else {}
        self.previous = ""
        self.skipping = True  # until one step runs

    def key(self, step: str, inputs: Iterable[object]) -> str:
        """This step's key, chained on the previous step's."""
        payload = json.dumps([self.previous, step, list(inputs)], default=str, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    def fresh(self, step: str, key: str, outputs: Iterable[str | os.PathLike[str]] = ()) -> bool:
        """Whether ``step`` can be skipped; call ``done`` after running it otherwise."""
        self.previous = key
        self.skipping = self.skipping and self.steps.get(step) == key and all(Path(o).exists() for o in outputs)
        if not self.skipping:
            self.steps.pop(step, None)
        return self.skipping

    def done(self, step: str, key: str) -> None:
        """Record ``step`` as completed with ``key`` (and the warehouse's state after it)."""
        self.steps[step] = key
        state = {"steps": self.steps, "warehouse": file_state(self.database)}
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:  # a read-only folder: no stamps, every run does all the work
            pass
