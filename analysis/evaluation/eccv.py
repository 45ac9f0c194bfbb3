"""The benchmark's data: ECCV Caption's human-verified positives (Chun et al. 2022), and which
warehouse image is which COCO image.

Positives of a query image q (a COCO image id): ECCV Caption verifies, for each of its 1,261 query
images, a set of captions as positive matches (``eccv_image_to_caption.json``, query COCO id as a
string → caption ids). Each caption comes from one COCO image (``original_caption_to_image.json``,
caption id as a string → [COCO image id]). q's positives are the source images of its verified
captions, minus q itself (q's own captions say nothing about image→image retrieval). COCO ids are
mapped to the warehouse's image ids through the mart ``images`` (``coco_id``) of the corpus's
dataset; ids outside the corpus are dropped. Queries are the images with at least one positive
(1,261 on the Karpathy test split).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping
from importlib import resources

import duckdb
import numpy as np

from analysis.evaluation.metrics import relevance_matrix
from semspace import warehouse
from semspace.errors import SemspaceError

BENCHMARK = "eccv_caption"


def load_eccv() -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """(query COCO id → verified caption ids, caption id → [source COCO id]) from eccv-caption's data."""
    try:
        with warnings.catch_warnings():  # the package warns on import when ujson is missing
            warnings.filterwarnings("ignore", message=".*ujson.*")
            data = resources.files("eccv_caption") / "data"
    except ModuleNotFoundError as exc:
        raise SemspaceError(
            "the ECCV Caption data needs the `eccv-caption` package (pip install eccv-caption)"
        ) from exc
    image_to_caption = json.loads((data / "eccv_image_to_caption.json").read_text())
    caption_to_image = json.loads((data / "original_caption_to_image.json").read_text())
    return image_to_caption, caption_to_image


def eccv_positives(image_to_caption: Mapping, caption_to_image: Mapping) -> dict[int, set[int]]:
    """Query COCO id → the COCO ids of the source images of its verified captions, minus itself.

    Keys of both mappings may be str (as in the JSON files) or int; values of ``caption_to_image``
    may be one id or a list of ids. Queries left with no positive are omitted."""
    sources = {
        int(k): ([int(x) for x in v] if isinstance(v, (list, tuple)) else [int(v)]) for k, v in caption_to_image.items()
    }
    positives: dict[int, set[int]] = {}
    for query, captions in image_to_caption.items():
        q = int(query)
        images = {image for caption in captions for image in sources.get(int(caption), ())}
        images.discard(q)
        if images:
            positives[q] = images
    return positives


def default_positives() -> dict[int, set[int]]:
    """ECCV Caption's positives (COCO id → COCO ids), from the installed package's data."""
    return eccv_positives(*load_eccv())


def corpus_images(con: duckdb.DuckDBPyConnection, corpus: str) -> tuple[np.ndarray, np.ndarray]:
    """(image ids of ``corpus`` ascending, their COCO ids, -1 where an image has none), read from
    the marts corpora, set_sizes and images."""
    dataset = warehouse.corpus(con, corpus)["dataset"]  # an unknown corpus: one clear error
    ids = warehouse.image_ids(con, corpus)
    warehouse.require_marts(con, "images")
    found = warehouse.images(con, dataset, ids)
    coco = [found.get(int(i), {}).get("coco_id") for i in ids]
    return ids, np.array([-1 if c is None else int(c) for c in coco], dtype=np.int64)


def image_positives(
    con: duckdb.DuckDBPyConnection, corpus: str, image_id: int, positives: Mapping[int, Iterable[int]] | None = None
) -> list[int] | None:
    """Image ids of ``image_id``'s positives within ``corpus``, ascending; None when the image is
    not an ECCV Caption query (it then has no verified positives at all)."""
    if positives is None:
        positives = default_positives()
    image_ids, coco_ids = corpus_images(con, corpus)
    by_coco = {int(c): int(i) for i, c in zip(image_ids, coco_ids) if c >= 0}
    own = coco_ids[image_ids == image_id]
    if len(own) == 0 or int(own[0]) not in positives:
        return None
    return sorted(by_coco[c] for c in positives[int(own[0])] if c in by_coco and by_coco[c] != image_id)


def query_images(
    con: duckdb.DuckDBPyConnection, corpus: str, positives: Mapping[int, Iterable[int]] | None = None
) -> list[int]:
    """Image ids of the corpus's ECCV Caption queries (with a positive inside the corpus), ascending."""
    if positives is None:
        positives = default_positives()
    image_ids, coco_ids = corpus_images(con, corpus)
    query_rows, _ = relevance_matrix(positives, coco_ids)
    return sorted(int(image_ids[r]) for r in query_rows)
