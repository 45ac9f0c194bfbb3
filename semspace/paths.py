"""Output paths derived from names (a corpus, a mart) that stay inside their folder."""

from __future__ import annotations

import os
from pathlib import Path

from semspace.errors import SemspaceError


def inside(folder: str | os.PathLike[str], *parts: str) -> Path:
    """``folder/part/...``, refused when a part is empty, absolute, or leads outside ``folder``
    (``..``, a separator, a drive): a name never chooses where a file lands."""
    base = Path(folder)
    for part in parts:
        if not part or part in (".", "..") or "/" in part or "\\" in part or "\0" in part or Path(part).is_absolute():
            raise SemspaceError(
                f"{part!r} cannot name a file or folder inside {base}: use a name without path separators or '..'"
            )
    path = base.joinpath(*parts)
    resolved, root = path.resolve(), base.resolve()
    if resolved != root and root not in resolved.parents:
        raise SemspaceError(f"{path} would lie outside {base}")
    return path
