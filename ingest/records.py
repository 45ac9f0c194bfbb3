"""What every reader produces: a dataset of images, each with its captions, in source order."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ImageRecord:
    """One image of a caption source.

    ``key`` identifies the image inside its source (file name, id) and must be unique there.
    ``tokens`` holds the source's own pre-split tokens, one list per caption, when it has them
    (Karpathy's ``dataset_coco.json``); dbt tokenizes the raw caption otherwise.
    """

    key: str
    captions: list[str]
    coco_id: int | None = None
    file_name: str | None = None
    url: str | None = None
    tokens: list[list[str]] | None = None


@dataclass
class Dataset:
    """A named, ordered collection of images: ``image_id`` is the position in ``images``."""

    name: str
    source: str
    format: str
    images: list[ImageRecord] = field(default_factory=list)
    dropped_runs: list[str] = field(default_factory=list)
    """Association runs of this dataset that writing it deleted (``replace_runs``; see :func:`ingest.writer.write`)."""

    @property
    def n_captions(self) -> int:
        return sum(len(image.captions) for image in self.images)
