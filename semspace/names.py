"""The one naming rule for datasets, corpora and association runs.

Every name the project writes into the warehouse ends up as a corpus name: each dataset of
``raw.datasets`` is a caption corpus of the same name, each association run a corpus named by its
run id, and dbt derives from every such base corpus the variants ``<corpus>-nostop``, ``-lemma``
and ``-concept``. Corpus names
are keys of every mart, values of ``--corpus`` flags and folder names (``reports/<corpus>/``), so
datasets and runs share one namespace and one rule:

- 1 to :data:`MAX_LENGTH` (64) characters;
- only lowercase ASCII letters ``a``–``z``, digits ``0``–``9``, ``_``, ``-`` and ``.``;
- the first and the last character a letter or a digit (so never ``.``, ``..``, ``-x`` or ``x.``);
- not ending in a suffix the project derives (:data:`DERIVED_SUFFIXES`: ``-nostop``, ``-lemma``,
  ``-concept``), so that no
  base name can equal the derived name of another.

Why lowercase only: two names that differ only in case would be two corpora in the warehouse but
one folder on a case-insensitive file system. Why no spaces, quotes, slashes or other characters:
a name is also a file name and a command-line argument, and must mean the same in all three.

What the rule alone cannot see is a clash with names already in the warehouse (a run id equal to
a dataset name): :func:`clash` tells it, and ``ingest`` and ``generate`` call it when they write.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from semspace.errors import SemspaceError

MAX_LENGTH = 64
"""The longest name, in characters."""
DERIVED_SUFFIXES = ("-nostop", "-lemma", "-concept")
"""Suffixes dbt appends to a base corpus's name to name its variants (models/intermediate/int_corpora.sql)."""
RULE = (
    f"a name is 1-{MAX_LENGTH} characters: lowercase letters a-z, digits 0-9, '_', '-' and '.', "
    "starting and ending with a letter or digit, and not ending in "
    + " or ".join(repr(s) for s in DERIVED_SUFFIXES)
    + " (the suffix of a derived corpus)"
)
"""The rule in one line, as every refusal states it."""

_VALID = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?", re.ASCII)
_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")


def problem(value: object) -> str | None:
    """What is wrong with ``value`` as a name, or ``None`` when it follows the rule."""
    if not isinstance(value, str):
        return f"it is {type(value).__name__}, not a string"
    if not value.strip():
        return "it is empty" if not value else "it is blank"
    if len(value) > MAX_LENGTH:
        return f"it is {len(value)} characters long, over {MAX_LENGTH}"
    for suffix in DERIVED_SUFFIXES:
        if value.endswith(suffix):
            return f"it ends in {suffix!r}, the name of the derived corpus of {value[: -len(suffix)]!r}"
    bad = next((c for c in value if c not in _ALLOWED), None)
    if bad is not None:
        if bad.isascii() and bad.isupper():
            return f"it has the uppercase letter {bad!r} (names are lowercase: {value.lower()!r}?)"
        return f"it has the character {bad!r}"
    if not _VALID.fullmatch(value):
        end = value[0] if not value[0].isalnum() else value[-1]
        where = "starts" if not value[0].isalnum() else "ends"
        return f"it {where} with {end!r}"
    return None


def check_name(kind: str, value: object, *, hint: str | None = None) -> str:
    """``value`` if it is a valid name, else a :class:`SemspaceError` of one line naming ``kind``
    (the flag or field, e.g. ``--dataset``), the value, what is wrong and the rule; ``hint`` (what
    to do instead, e.g. "pass --dataset NAME") is appended."""
    wrong = problem(value)
    if wrong is None:
        assert isinstance(value, str)
        return value
    if isinstance(value, str) and not value.strip():
        head = f"{kind} must not be empty" + (f" or blank (got {value!r})" if value else "")
    else:
        head = f"{kind} {value!r} is not a valid name: {wrong}"
    message = f"{head}; {RULE}" + (f"; {hint}" if hint else "")
    raise SemspaceError(" ".join(message.split()))


def corpus_names(name: str) -> tuple[str, ...]:
    """The corpora a base name gives in the marts: itself and each derived variant."""
    return (name, *(name + suffix for suffix in DERIVED_SUFFIXES))


def clash(name: str, existing: Iterable[str]) -> str | None:
    """The first of ``existing`` (names of datasets or runs already in the warehouse) whose corpora
    would share a name with ``name``'s corpora, else ``None``. ``name`` itself is not excluded: leave
    it out of ``existing`` where a name may meet itself (re-ingesting a dataset, resuming a run)."""
    mine = set(corpus_names(name))
    for other in existing:
        if mine.intersection(corpus_names(other)):
            return other
    return None
