"""Where captions come from: resolving the default source and telling formats apart."""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import tempfile
import urllib.request
from pathlib import Path

from ingest import files, readers
from ingest.records import Dataset
from semspace import names
from semspace.errors import SemspaceError

log = logging.getLogger(__name__)

DEFAULT_FILE = "coco_karpathy_test.json"
DEFAULT_DATASET = "coco"
DEFAULT_URL = "https://storage.googleapis.com/sfr-vision-language-research/datasets/coco_karpathy_test.json"
DEFAULT_SHA256 = "5b202a235ee2a4e13f82b984ef9293b8e2d34f9b1f92147bf8340580f20faf15"
"""The published file's checksum: a download that differs (an error page, another version) is not cached."""
CACHE_DIR = Path("data") / "cache"
SHARED_DIR = Path("..") / "shared" / "data"
FORMATS = ("auto", "blip", "karpathy", "coco", "table", "hf")


def default_source(download: bool = True) -> Path:
    """The default COCO Karpathy test split: ``$SEMSPACE_CAPTIONS``, the cache under ``data/``,
    ``../shared/data/``, then a download into the cache."""
    if env := os.environ.get("SEMSPACE_CAPTIONS"):
        path = Path(env)
        if not path.exists():
            raise SemspaceError(f"SEMSPACE_CAPTIONS={env}: no such file")
        return path
    for candidate in (CACHE_DIR / DEFAULT_FILE, SHARED_DIR / DEFAULT_FILE):
        if candidate.is_file():
            return candidate
    if not download:
        raise SemspaceError(f"no local {DEFAULT_FILE}; pass a path: python -m ingest PATH")
    return _download(DEFAULT_URL, CACHE_DIR / DEFAULT_FILE, DEFAULT_SHA256)


def _download(url: str, target: Path, sha256: str | None = None) -> Path:
    log.info("downloading %s to %s", url, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_name = None
    try:
        with (
            urllib.request.urlopen(url, timeout=60) as response,
            tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp,
        ):
            tmp_name = tmp.name
            digest = hashlib.sha256()
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                tmp.write(chunk)
            expected = response.headers.get("Content-Length")
            if expected is not None and expected.isdigit() and int(expected) != tmp.tell():
                raise OSError(f"incomplete download: got {tmp.tell()} of {expected} bytes")
            if sha256 is not None and digest.hexdigest() != sha256:
                raise OSError(f"checksum mismatch: sha256 {digest.hexdigest()}, expected {sha256}")
        Path(tmp.name).replace(target)
    except (OSError, http.client.HTTPException) as exc:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)
        raise SemspaceError(
            f"could not download the default captions from {url} ({exc}); download {DEFAULT_FILE} yourself and "
            f"pass its path (python -m ingest PATH), set SEMSPACE_CAPTIONS, or place it in {CACHE_DIR}/"
        ) from exc
    return target


def dataset_name(source: str, split: str | None = None) -> str:
    """A dataset name from a source: ``coco`` for the default file, else the file or dataset stem
    (lowercased, every run of other characters than a-z and 0-9 made one ``_``; compression and
    format suffixes dropped: ``Pairs-2024.csv.gz`` gives ``pairs_2024``), with ``_<split>`` for a
    Karpathy or Hugging Face split. Refused, rather than guessed, when the stem has no letter or
    digit a-z 0-9 to keep (``日本.json``) or the name breaks the naming rule (longer than 64
    characters): pass ``--dataset``."""
    if source.startswith("hf:"):
        body, _, hf_split = source[3:].partition(":")
        stem = Path(body.rstrip("/")).name
        split = hf_split or "test"  # the split read_hf defaults to: hf:X and hf:X:test are one dataset
        shown = body
    else:
        if Path(source).name == DEFAULT_FILE:
            return DEFAULT_DATASET
        stem = files.plain_stem(Path(source))
        shown = Path(source).name
    name = re.sub(r"[^a-z0-9]+", "_", stem.lower(), flags=re.ASCII).strip("_")
    if not name:
        raise SemspaceError(
            f"{source}: cannot make a dataset name from {shown!r} (it has no letter or digit a-z 0-9); "
            "pass --dataset NAME"
        )
    name = f"{name}_{split}" if split else name
    return names.check_name(f"{source}: the dataset name made from {shown!r},", name, hint="pass --dataset NAME")


def read(
    source: str | os.PathLike[str] | None = None,
    *,
    name: str | None = None,
    fmt: str = "auto",
    split: str = "test",
    image_col: str | None = None,
    caption_col: str | None = None,
) -> Dataset:
    """Read and validate a caption source (nothing is written). ``name``: the dataset name
    (:mod:`semspace.names`' rule; ``None``: :func:`dataset_name` of the source)."""
    if fmt not in FORMATS:
        raise SemspaceError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if name is not None:
        name = names.check_name(
            "--dataset", name, hint="pass --dataset NAME, or leave it out to name the dataset after its file"
        )
    source = str(source) if source is not None else str(default_source())
    if source.startswith("hf:") or fmt == "hf":
        spec = source if source.startswith("hf:") else f"hf:{source}"
        return readers.read_hf(spec, name if name is not None else dataset_name(spec), image_col, caption_col)
    path = Path(source)
    files.check_file(path)
    suffix = files.format_suffix(path)
    if fmt == "table" or (fmt == "auto" and suffix in readers.TABLE_SUFFIXES):
        return readers.read_table(path, name if name is not None else dataset_name(source), image_col, caption_col)
    if fmt == "blip":
        return readers.read_blip(path, name if name is not None else dataset_name(source))
    if fmt == "coco":
        return readers.read_coco(path, name if name is not None else dataset_name(source))
    if fmt == "karpathy":
        return readers.read_karpathy(path, name if name is not None else dataset_name(source, split), split)
    # auto: the JSON's shape tells the layout, and only then is the default name known
    if name is None:
        dataset_name(source)  # a file whose name gives no dataset name is refused before it is read
    dataset = readers.read_json_source(path, name if name is not None else DEFAULT_DATASET, split)
    if name is None:
        dataset.name = dataset_name(source, split if dataset.format == "karpathy" else None)
    return dataset
