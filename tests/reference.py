"""An independent implementation of the note's method in plain Python, to check the SQL against.

It shares no code with the warehouse: it reads the BLIP JSON itself and tokenizes with Python's
``re``, following Karpathy's rule (lowercase, delete ' / : . & =, split on [^a-z0-9]+).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import scipy.sparse as sp

_DELETE = re.compile(r"['/:.&=]")
_SPLIT = re.compile(r"[^a-z0-9]+")


def tokenize(caption: str) -> list[str]:
    return [t for t in _SPLIT.split(_DELETE.sub("", caption.lower())) if t]


def blip_token_sets(path: Path) -> list[set[str]]:
    """One token set per image of a BLIP caption list, in file order."""
    records = json.loads(path.read_text(encoding="utf-8"))
    return [{t for caption in record["caption"] for t in tokenize(caption)} for record in records]


def intersection_matrix(sets: list[set[str]]) -> np.ndarray:
    """|A ∩ B| for every pair, as a dense n × n matrix (scipy sparse X·Xᵀ)."""
    vocabulary = {token: k for k, token in enumerate(sorted(set().union(*sets)))}
    rows = [i for i, s in enumerate(sets) for _ in s]
    cols = [vocabulary[t] for s in sets for t in s]
    x = sp.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(sets), len(vocabulary)))
    return (x @ x.T).toarray()


def neighbors(sets: list[set[str]], image: int, k: int) -> list[tuple[int, int]]:
    """(neighbor, |A Δ B|) of the k nearest images, ties by smaller id, the image itself excluded."""
    distances = sorted((len(sets[image] ^ other), j) for j, other in enumerate(sets) if j != image)
    return [(j, d) for d, j in distances[:k]]
