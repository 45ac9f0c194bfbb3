"""One reader per caption-source format; each returns a validated :class:`Dataset`.

Every problem raises :class:`SemspaceError` naming the file, the record and what is wrong, before
anything is written to the warehouse.

Rules every reader applies to what it stores:

- **Captions**: non-empty strings of at most :data:`MAX_CAPTION_CHARS` characters (dbt's SQL
  tokenizer takes time that grows faster than linearly in a caption's length: one 50 MB caption
  held `dbt build` for 16 minutes). A source's own tokens (Karpathy, ``{raw, tokens}`` structs)
  are strings and total at most as many characters.
- **Text**: no string stored (caption, token, image key, file name, URL) may hold U+0000 (NUL) or
  an unpaired UTF-16 surrogate (JSON can spell one, ``"\\ud800"``, but it is not Unicode text and
  cannot be stored as UTF-8). Everything else is stored exactly as written: quotes, backslashes,
  semicolons, SQL comment markers, line breaks, any Unicode.
- **Image ids** (:func:`image_key`, :func:`coco_id`): a JSON/Parquet integer from 0 to 2^63−1, or a
  string of ASCII digits without leading zeros (``"0"``, ``"391895"``), is a COCO id, and its key
  is its decimal form (so ``1`` and ``"1"`` are the same image). Any other string is an image key
  (``"02"``, ``"2.0"``, ``"a.jpg"``): its COCO id comes from a COCO file name in it
  (``COCO_val2014_000000000042.jpg``) or is none. Booleans, numbers with a fraction or exponent
  (``2.0``), negative and out-of-range integers are refused. Two images of one dataset with the
  same COCO id are refused (an image appears once).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ingest.files import (  # noqa: F401  (read_json, read_text: part of this module's interface)
    compression,
    format_suffix,
    parse_csv,
    parse_jsonl,
    read_bytes,
    read_json,
    read_text,
)
from ingest.records import Dataset, ImageRecord
from semspace.errors import SemspaceError

COCO_IMAGE_URL = "http://images.cocodataset.org/{folder}/{file_name}"
_COCO_FILE = re.compile(r"COCO_(?P<folder>(?:train|val|test)\d{4})_(?P<id>\d+)\.jpg$")

TABLE_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".jsonl": "json", ".ndjson": "json"}
IMAGE_COLUMNS = ("image", "image_key", "file_name", "filename", "filepath", "image_id", "cocoid", "coco_id", "url")
CAPTION_COLUMNS = ("caption", "captions", "sentences", "text", "raw")

MAX_CAPTION_CHARS = 10_000
"""The longest caption ingest accepts, in characters (see the module docstring)."""
MAX_COCO_ID = 2**63 - 1
"""The largest COCO id (``raw.images.coco_id`` is a bigint)."""
_COCO_ID_TEXT = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_FILE_NAME = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,4}$")
ID_RULE = "a JSON integer from 0 to 2^63-1 or a string of digits without leading zeros is a COCO id; other strings are image keys"


def _progress(items: Iterable[Any], total: int, desc: str) -> Iterator[Any]:
    """A progress bar on a terminal for sources big enough to take a few seconds."""
    return iter(tqdm(items, total=total, desc=desc, unit="img", disable=None if total > 20_000 else True))


def coco_fields(file_name: str | None) -> tuple[int | None, str | None]:
    """COCO id and image URL from a COCO file name such as ``val2014/COCO_val2014_000000473237.jpg``."""
    if not file_name:
        return None, None
    match = _COCO_FILE.search(file_name)
    if not match:
        return None, None
    coco = int(match["id"])
    if coco > MAX_COCO_ID:
        return None, None
    base = Path(file_name).name
    return coco, COCO_IMAGE_URL.format(folder=match["folder"], file_name=base)


# --- values ------------------------------------------------------------------------------------------


def check_text(path: Path | str, where: str, what: str, value: str) -> str:
    """``value`` unless it holds a NUL or an unpaired surrogate (see the module docstring)."""
    bad = _BAD_TEXT.search(value)
    if bad is None:
        return value
    char = bad.group()
    if char == "\x00":
        kind = f"a NUL character (U+0000) at position {bad.start()}"
    else:
        kind = f"an unpaired surrogate (U+{ord(char):04X}) at position {bad.start()}, which is not Unicode text"
    raise SemspaceError(f"{path}: {where}: {what} contains {kind}; remove it or replace it with the intended character")


def _optional_text(path: Path | str, where: str, field: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise SemspaceError(f"{path}: {where}: field {field!r} must be a string, got {type(value).__name__} {value!r}")
    return check_text(path, where, f"field {field!r}", value) or None


def _captions(path: Path | str, where: str, value: Any) -> list[str]:
    """Validate a caption list: a non-empty list of non-empty strings within the length limit."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise SemspaceError(f"{path}: {where}: captions must be a list of strings, got {type(value).__name__}")
    if not value:
        raise SemspaceError(f"{path}: {where}: empty caption list")
    for k, caption in enumerate(value):
        if not isinstance(caption, str):
            raise SemspaceError(f"{path}: {where}: caption {k} is {type(caption).__name__}, not a string")
        if not caption.strip():
            raise SemspaceError(f"{path}: {where}: caption {k} is empty")
        if len(caption) > MAX_CAPTION_CHARS:
            raise SemspaceError(
                f"{path}: {where}: caption {k} is {len(caption):,} characters long, over the limit of "
                f"{MAX_CAPTION_CHARS:,} (ingest.readers.MAX_CAPTION_CHARS); shorten or split it"
            )
        check_text(path, where, f"caption {k}", caption)
    return value


def _tokens(path: Path | str, where: str, k: int, tokens: Iterable[Any]) -> list[str]:
    """A caption's own tokens as strings, within the caption length limit."""
    out = [str(t) for t in tokens]
    total = sum(len(t) for t in out)
    if total > MAX_CAPTION_CHARS:
        raise SemspaceError(
            f"{path}: {where}: the tokens of caption {k} are {total:,} characters long, over the limit of "
            f"{MAX_CAPTION_CHARS:,} (ingest.readers.MAX_CAPTION_CHARS); shorten or split the caption"
        )
    for token in out:
        check_text(path, where, f"a token of caption {k}", token)
    return out


def coco_id(path: Path | str, where: str, field: str, value: Any) -> int:
    """A COCO id (COCO ``id``/``image_id``, Karpathy ``cocoid``) by the id rule, or an error naming the record."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COCO_ID:
        return value
    if isinstance(value, str) and _COCO_ID_TEXT.fullmatch(value) and int(value) <= MAX_COCO_ID:
        return int(value)
    raise SemspaceError(f"{path}: {where}: field {field!r} must be an integer id ({ID_RULE}), got {_show(value)}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def image_key(path: Path | str, where: str, column: str, value: Any) -> tuple[str, int | None]:
    """The (key, COCO id) of a table's image value by the id rule (module docstring)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise SemspaceError(f"{path}: {where}: missing image in column {column!r}")
    if isinstance(value, (dict, list, tuple, bytes, bytearray)):
        raise SemspaceError(
            f"{path}: {where}: column {column!r} holds {type(value).__name__} values (image data?), "
            "not image names or ids; pass --image-col"
        )
    if isinstance(value, bool):
        raise SemspaceError(
            f"{path}: {where}: column {column!r} holds the boolean {value!r}, not an image name or id; pass --image-col"
        )
    if isinstance(value, int):
        if not 0 <= value <= MAX_COCO_ID:
            raise SemspaceError(
                f"{path}: {where}: image id {_show(value)} in column {column!r} is out of range: COCO ids are "
                f"0 to 2^63-1; write other ids as strings"
            )
        return str(value), value
    if isinstance(value, (float, Decimal)):
        if not _finite(value):
            what, fix = "not a finite number", "write an integer COCO id, or a string for an image key"
        elif value == int(value):
            what = "a number with a fraction or an exponent"
            fix = f"write {int(value)} for the COCO id {int(value)}, or a string for an image key"
        else:
            what, fix = "a number with a fraction", "write an integer COCO id, or a string for an image key"
        raise SemspaceError(
            f"{path}: {where}: image id {value!r} in column {column!r} is {what}, not an id ({ID_RULE}); {fix}"
        )
    if not isinstance(value, str):
        raise SemspaceError(
            f"{path}: {where}: column {column!r} holds {type(value).__name__} values, not image names or ids; "
            "pass --image-col"
        )
    check_text(path, where, f"the image key in column {column!r}", value)
    return value, key_coco_id(value)


def key_coco_id(key: str) -> int | None:
    """The COCO id of a string image key by the id rule: the key itself when it is digits without
    leading zeros, else the id of a COCO file name in it, else none."""
    if _COCO_ID_TEXT.fullmatch(key) and int(key) <= MAX_COCO_ID:
        return int(key)
    match = _COCO_FILE.search(key)
    return int(match["id"]) if match and int(match["id"]) <= MAX_COCO_ID else None


def _finite(value: float | Decimal) -> bool:
    try:
        int(value)
    except (OverflowError, ValueError):
        return False
    return True


def _check_unique(path: Path, keys: Iterable[str]) -> None:
    seen: dict[str, int] = {}
    for position, key in enumerate(keys):
        if key in seen:
            raise SemspaceError(
                f"{path}: record {position}: duplicate image key {key!r} (first seen at record {seen[key]})"
            )
        seen[key] = position


def _check_unique_coco_ids(path: Path | str, images: list[ImageRecord]) -> None:
    seen: dict[int, int] = {}
    for position, image in enumerate(images):
        if image.coco_id is None:
            continue
        first = seen.setdefault(image.coco_id, position)
        if first != position:
            raise SemspaceError(
                f"{path}: images {images[first].key!r} and {image.key!r} both have COCO id {image.coco_id}: "
                "an image must appear once; merge their captions into one record or drop one"
            )


def _dataset(name: str, path: Path | str, fmt: str, images: list[ImageRecord]) -> Dataset:
    if not images:
        raise SemspaceError(f"{path}: no images in the source")
    _check_unique(Path(str(path)), (image.key for image in images))
    _check_unique_coco_ids(path, images)
    return Dataset(name=name, source=str(path), format=fmt, images=images)


# --- ALBEF/BLIP list -------------------------------------------------------------------------------


def read_blip(path: Path, name: str, data: Any | None = None) -> Dataset:
    """``[{"image": ".../COCO_val2014_<id>.jpg", "caption": [...]}, ...]`` (ALBEF/BLIP/LAVIS)."""
    data = read_json(path) if data is None else data
    if not isinstance(data, list):
        raise SemspaceError(f"{path}: expected a JSON list of {{image, caption}} objects")
    images = []
    for i, item in enumerate(_progress(data, len(data), f"read {path.name}")):
        where = f"record {i}"
        if not isinstance(item, dict):
            raise SemspaceError(f"{path}: {where}: expected an object, got {type(item).__name__}")
        for key in ("image", "caption"):
            if key not in item:
                raise SemspaceError(f"{path}: {where}: missing field {key!r}")
        image = item["image"]
        if not isinstance(image, str) or not image.strip():
            raise SemspaceError(f"{path}: {where}: field 'image' must be a non-empty string, got {_show(image)}")
        check_text(path, where, "field 'image'", image)
        where = f"record {i} ({image})"
        coco, url = key_coco_id(image), coco_fields(image)[1]
        images.append(
            ImageRecord(
                key=image,
                captions=_captions(path, where, item["caption"]),
                coco_id=coco,
                file_name=Path(image).name,
                url=url,
            )
        )
    return _dataset(name, path, "blip", images)


# --- Karpathy dataset_coco.json -------------------------------------------------------------------

KARPATHY_SPLITS = ("test", "val", "train", "restval")


def read_karpathy(path: Path, name: str, split: str = "test", data: Any | None = None) -> Dataset:
    """Karpathy's ``dataset_coco.json``: ``{"images": [{filepath, filename, cocoid, split, sentences}]}``.

    Keeps the images of ``split`` in file order and each sentence's own ``tokens`` when present.
    """
    if split not in KARPATHY_SPLITS:
        raise SemspaceError(f"{path}: unknown Karpathy split {split!r}; choose one of {', '.join(KARPATHY_SPLITS)}")
    data = read_json(path) if data is None else data
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise SemspaceError(f"{path}: expected an object with an 'images' list (Karpathy dataset_*.json)")
    entries = data["images"]
    images = []
    seen: dict[str, int] = {}
    for i, item in enumerate(_progress(entries, len(entries), f"read {path.name}")):
        where = f"record {i}"
        if not isinstance(item, dict):
            raise SemspaceError(f"{path}: {where}: expected an object, got {type(item).__name__}")
        if "split" not in item:
            raise SemspaceError(f"{path}: {where}: missing field 'split'")
        if item["split"] != split:
            continue
        for key in ("filename", "sentences"):
            if key not in item:
                raise SemspaceError(f"{path}: {where}: missing field {key!r}")
        file_name = item["filename"]
        if not isinstance(file_name, str) or not file_name.strip():
            raise SemspaceError(f"{path}: {where}: field 'filename' must be a non-empty string, got {_show(file_name)}")
        check_text(path, where, "field 'filename'", file_name)
        where = f"record {i} ({file_name})"
        folder = _optional_text(path, where, "filepath", item.get("filepath"))
        sentences = item["sentences"]
        if not isinstance(sentences, list) or not sentences:
            raise SemspaceError(f"{path}: {where}: empty caption list")
        captions, tokens = [], []
        for k, sentence in enumerate(sentences):
            if not isinstance(sentence, dict) or "raw" not in sentence:
                raise SemspaceError(f"{path}: {where}: sentence {k} has no 'raw' caption")
            captions.append(sentence["raw"])
            tokens.append(sentence.get("tokens"))
        captions = _captions(path, where, captions)
        has_tokens = all(isinstance(t, list) for t in tokens)
        key = f"{folder}/{file_name}" if folder else file_name
        if key in seen:
            raise SemspaceError(f"{path}: {where}: duplicate image key {key!r} (first seen at record {seen[key]})")
        seen[key] = i
        coco, url = key_coco_id(key), coco_fields(key)[1]
        if item.get("cocoid") is not None:
            coco = coco_id(path, where, "cocoid", item["cocoid"])
        images.append(
            ImageRecord(
                key=key,
                captions=captions,
                coco_id=coco,
                file_name=file_name,
                url=url,
                tokens=[_tokens(path, where, k, ts or ()) for k, ts in enumerate(tokens)] if has_tokens else None,
            )
        )
    if not images:
        raise SemspaceError(f"{path}: no images with split {split!r}")
    return _dataset(name, path, "karpathy", images)


# --- COCO captions_*.json -------------------------------------------------------------------------


def read_coco(path: Path, name: str, data: Any | None = None) -> Dataset:
    """COCO ``captions_*.json``: ``{"images": [...], "annotations": [{id, image_id, caption}]}``.

    Images keep the order of the ``images`` list. Each image's captions are ordered by their
    annotation ``id`` (``caption_index`` 0 is the smallest id), not by where the annotations stand in
    the list: the id is what identifies an annotation, so the order (and each caption's index) does
    not depend on how a copy of the file was written, and matches the order of the published files,
    which list annotations by ascending id. Annotation ids must then be unique integers; a file whose
    annotations have no ``id`` at all keeps the list order; one where only some have one is refused.
    """
    data = read_json(path) if data is None else data
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("images"), list)
        or not isinstance(data.get("annotations"), list)
    ):
        raise SemspaceError(f"{path}: expected an object with 'images' and 'annotations' lists (COCO captions)")
    annotations = data["annotations"]
    by_image: dict[int, list[tuple[int, Any]]] = {}
    with_id: int | None = None
    without_id: int | None = None
    seen_ids: dict[int, int] = {}
    for k, ann in enumerate(annotations):
        if not isinstance(ann, dict):
            raise SemspaceError(f"{path}: annotation {k}: expected an object")
        for key in ("image_id", "caption"):
            if key not in ann:
                raise SemspaceError(f"{path}: annotation {k}: missing field {key!r}")
        image = coco_id(path, f"annotation {k}", "image_id", ann["image_id"])
        if ann.get("id") is None:
            without_id = k if without_id is None else without_id
            order = k
        else:
            with_id = k if with_id is None else with_id
            order = coco_id(path, f"annotation {k}", "id", ann["id"])
            if order in seen_ids:
                raise SemspaceError(
                    f"{path}: annotation {k}: duplicate annotation id {order} (first seen at annotation {seen_ids[order]}); "
                    "annotation ids order each image's captions and must be unique"
                )
            seen_ids[order] = k
        if with_id is not None and without_id is not None:
            other = f"annotation {with_id} has one" if without_id == k else f"annotation {without_id} has none"
            raise SemspaceError(
                f"{path}: annotation {k}: " + ("no 'id'" if without_id == k else "an 'id'") + f", but {other}: "
                "captions are ordered by annotation id, so give every annotation its id, or none"
            )
        by_image.setdefault(image, []).append((order, ann["caption"]))
    images = []
    seen: dict[int, int] = {}
    entries = data["images"]
    for i, item in enumerate(_progress(entries, len(entries), f"read {path.name}")):
        where = f"image {i}"
        if not isinstance(item, dict) or "id" not in item:
            raise SemspaceError(f"{path}: {where}: missing field 'id'")
        raw_id = item["id"]
        coco = coco_id(path, where, "id", raw_id)
        where = f"image {i} (id {raw_id})"
        if coco in seen:
            raise SemspaceError(f"{path}: {where}: duplicate image id {coco!r} (first seen at image {seen[coco]})")
        seen[coco] = i
        file_name = _optional_text(path, where, "file_name", item.get("file_name"))
        url = _optional_text(path, where, "coco_url", item.get("coco_url")) or coco_fields(file_name)[1]
        ordered = [caption for _, caption in sorted(by_image.pop(coco, []), key=lambda pair: pair[0])]
        captions = _captions(path, where, ordered)
        images.append(ImageRecord(key=str(coco), captions=captions, coco_id=coco, file_name=file_name, url=url))
    if by_image:
        orphan = next(iter(by_image))
        raise SemspaceError(f"{path}: annotations refer to image_id {orphan!r}, which is not in 'images'")
    return _dataset(name, path, "coco", images)


# --- any table: CSV / Parquet / JSONL / Hugging Face ----------------------------------------------


def _pick(path: Path | str, columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise SemspaceError(f"{path}: no column {wanted!r} for the {what}; columns are {', '.join(columns)}")
        return wanted
    for candidate in candidates:
        if candidate in columns:
            return candidate
    raise SemspaceError(
        f"{path}: cannot tell which column holds the {what}; pass --{what}-col (columns: {', '.join(columns)})"
    )


def _file_name(key: str) -> str | None:
    """A key that looks like a path or a file name (``img/a.jpg``, ``a.jpg``; not ``2.0``) gives its base name."""
    if "/" in key or _FILE_NAME.search(key):
        return Path(key).name or None
    return None


def records_from_rows(
    path: Path | str,
    name: str,
    fmt: str,
    columns: list[str],
    rows: Callable[[list[str]], Iterable[tuple[Any, Any]]],
    n_rows: int,
    image_col: str | None = None,
    caption_col: str | None = None,
    label: Callable[[int], str] | None = None,
) -> Dataset:
    """Group table rows into images in order of first appearance.

    A row holds one caption (rows of the same image are grouped) or a list of captions (one row per
    image, so a repeated image is a duplicate). A caption may be a ``{raw, tokens}`` struct, as in
    the Hugging Face COCO datasets; its tokens are kept. Image values follow the id rule
    (:func:`image_key`). ``label(i)`` names row ``i`` in messages (default ``row i``; text files
    give their line).
    """
    image_col = _pick(path, columns, image_col, IMAGE_COLUMNS, "image")
    caption_col = _pick(path, columns, caption_col, CAPTION_COLUMNS, "caption")
    label = label or (lambda i: f"row {i}")
    grouped: dict[str, dict[str, Any]] = {}
    seen_values: dict[tuple[type, Any], tuple[str, int | None]] = {}  # an image value read before: already checked
    for i, (image, caption) in enumerate(
        _progress(rows([image_col, caption_col]), n_rows, f"read {Path(str(path)).name}")
    ):
        where = label(i)
        cached = seen_values.get((type(image), image)) if isinstance(image, (str, int, float)) else None
        if cached is None:
            cached = image_key(path, where, image_col, image)
            if isinstance(image, (str, int, float)):
                seen_values[(type(image), image)] = cached
        key, coco = cached
        where = f"{label(i)} ({key})"
        if caption is None:
            raise SemspaceError(f"{path}: {where}: missing caption in column {caption_col!r}")
        tokens = None
        if isinstance(caption, dict):
            if "raw" not in caption:
                raise SemspaceError(f"{path}: {where}: caption struct has no 'raw' field")
            tokens = caption.get("tokens")
            if tokens is not None and not isinstance(tokens, (list, tuple)):
                raise SemspaceError(f"{path}: {where}: caption struct field 'tokens' must be a list")
            caption = caption["raw"]
        if isinstance(caption, (list, tuple)):
            if key in grouped:
                raise SemspaceError(
                    f"{path}: {where}: duplicate image key {key!r} (first seen at {grouped[key]['row']})"
                )
            captions = _captions(path, where, list(caption))
            grouped[key] = {"row": label(i), "captions": captions, "tokens": None, "coco_id": coco}
            continue
        caption = _captions(path, where, caption)[0]
        entry = grouped.setdefault(key, {"row": label(i), "captions": [], "tokens": [], "coco_id": coco})
        if tokens is not None:
            tokens = _tokens(path, where, len(entry["captions"]), tokens)
        entry["captions"].append(caption)
        if entry["tokens"] is not None:
            entry["tokens"] = entry["tokens"] + [tokens] if tokens is not None else None
    images = []
    for key, entry in grouped.items():
        url = coco_fields(key)[1]
        images.append(
            ImageRecord(
                key=key,
                captions=entry["captions"],
                coco_id=entry["coco_id"],
                file_name=_file_name(key),
                url=url or (key if key.startswith(("http://", "https://")) else None),
                tokens=entry["tokens"] or None,
            )
        )
    return _dataset(name, path, fmt, images)


def _line_label(lines: list[int]) -> Callable[[int], str]:
    return lambda i: f"line {lines[i]}"


def read_table(path: Path, name: str, image_col: str | None = None, caption_col: str | None = None) -> Dataset:
    """Any CSV/TSV, Parquet or JSON-lines table with an image column and a caption column (the
    CSV/TSV dialect and the JSON lines rules: :mod:`ingest.files`)."""
    suffix = format_suffix(path)
    kind = TABLE_SUFFIXES.get(suffix)
    if kind is None:
        shown = suffix or path.suffix
        raise SemspaceError(f"{path}: unknown table format {shown!r}; use .csv, .tsv, .parquet or .jsonl")
    if kind == "csv":
        text = read_text(path)
        columns, records, lines = parse_csv(path, text, "\t" if suffix == ".tsv" else ",")

        def csv_rows(cols: list[str]) -> Iterator[tuple[Any, Any]]:
            a, b = columns.index(cols[0]), columns.index(cols[1])
            return ((record[a], record[b]) for record in records)

        return records_from_rows(
            path, name, kind, columns, csv_rows, len(records), image_col, caption_col, _line_label(lines)
        )
    if kind == "json":
        columns, objects, lines = parse_jsonl(path, read_text(path))

        def json_rows(cols: list[str]) -> Iterator[tuple[Any, Any]]:
            return ((record.get(cols[0]), record.get(cols[1])) for record in objects)

        return records_from_rows(
            path, name, kind, columns, json_rows, len(objects), image_col, caption_col, _line_label(lines)
        )
    return _read_parquet(path, name, image_col, caption_col)


def _read_parquet(path: Path, name: str, image_col: str | None, caption_col: str | None) -> Dataset:
    import duckdb

    from ingest.files import check_file

    check_file(path)
    with open(path, "rb") as handle:
        head = handle.read(4)
    con = duckdb.connect()
    try:
        if compression(head) is not None:  # a compressed Parquet file: DuckDB reads only plain ones
            import pyarrow.parquet as pq

            data, _ = read_bytes(path)
            con.register("source", pq.read_table(io.BytesIO(data)))
        else:
            literal = "'" + str(path).replace("'", "''") + "'"  # a view cannot take a prepared parameter
            con.execute(f"create view source as select * from read_parquet({literal})")
        described = con.execute("describe source").fetchall()
        columns = [row[0] for row in described]
        json_columns = {row[0] for row in described if str(row[1]).upper() == "JSON"}
        counted = con.execute("select count(*) from source").fetchone()
        n_rows = counted[0] if counted else 0
    except SemspaceError:
        raise
    except Exception as exc:  # duckdb and pyarrow raise many error classes for unreadable files
        raise SemspaceError(f"{path}: cannot read as parquet: {' '.join(str(exc).split())}") from exc

    def rows(cols: list[str]) -> Iterator[tuple[Any, Any]]:
        quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in cols)
        try:
            cursor = con.execute(f"select {quoted} from source")
            decode = [c in json_columns for c in cols]
            while batch := cursor.fetchmany(10_000):
                if any(decode):  # JSON values: DuckDB hands back their JSON text
                    batch = [
                        tuple(json.loads(v) if d and isinstance(v, str) else v for v, d in zip(row, decode))
                        for row in batch
                    ]
                yield from batch
        except duckdb.Error as exc:
            raise SemspaceError(f"{path}: cannot read as parquet: {exc}") from exc

    return records_from_rows(path, name, "parquet", columns, rows, n_rows, image_col, caption_col)


def read_hf(spec: str, name: str, image_col: str | None = None, caption_col: str | None = None) -> Dataset:
    """``hf:NAME[:SPLIT]``: a Hugging Face dataset by hub name, local ``save_to_disk`` folder or data folder."""
    import datasets

    body = spec[3:]
    dataset_name, _, split = body.partition(":")
    split = split or "test"
    local = Path(dataset_name)
    try:
        if local.is_dir() and ((local / "dataset_dict.json").exists() or (local / "state.json").exists()):
            loaded = datasets.load_from_disk(str(local))
            if isinstance(loaded, datasets.DatasetDict):
                if split not in loaded:
                    raise SemspaceError(f"{spec}: no split {split!r}; splits are {', '.join(loaded)}")
                loaded = loaded[split]
        else:
            loaded = datasets.load_dataset(dataset_name, split=split)
    except SemspaceError:
        raise
    except Exception as exc:
        raise SemspaceError(f"{spec}: cannot load the Hugging Face dataset: {exc}") from exc
    columns = list(loaded.column_names)
    if image_col is None:  # an Image feature (e.g. HuggingFaceM4/COCO's 'image') holds pixels, not a name
        names = [c for c in columns if not isinstance(loaded.features.get(c), datasets.Image)]
        image_col = _pick(spec, names, None, IMAGE_COLUMNS, "image")

    def rows(cols: list[str]) -> Iterator[tuple[Any, Any]]:
        table = loaded.select_columns(cols).with_format("arrow")
        for start in range(0, len(loaded), 10_000):
            batch = table[start : start + 10_000]
            yield from zip(batch.column(0).to_pylist(), batch.column(1).to_pylist())

    return records_from_rows(spec, name, "hf", columns, rows, len(loaded), image_col, caption_col)


def read_json_source(path: Path, name: str, split: str = "test") -> Dataset:
    """A JSON file in any of the three JSON layouts, told apart by their shape."""
    data = read_json(path)
    if isinstance(data, list):
        return read_blip(path, name, data)
    if isinstance(data, dict) and "annotations" in data:
        return read_coco(path, name, data)
    if isinstance(data, dict) and isinstance(data.get("images"), list):
        return read_karpathy(path, name, split, data)
    raise SemspaceError(
        f"{path}: unknown JSON layout; expected a BLIP list, a Karpathy dataset_*.json or a COCO captions_*.json"
    )
