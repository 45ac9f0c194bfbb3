"""One reader per caption-source format; each returns a validated :class:`Dataset`.

Every problem raises :class:`SemspaceError` naming the file, the record and what is wrong, before
anything is written to the warehouse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ingest.records import Dataset, ImageRecord
from semspace.errors import SemspaceError

COCO_IMAGE_URL = "http://images.cocodataset.org/{folder}/{file_name}"
_COCO_FILE = re.compile(r"COCO_(?P<folder>(?:train|val|test)\d{4})_(?P<id>\d+)\.jpg$")

TABLE_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".jsonl": "json", ".ndjson": "json"}
IMAGE_COLUMNS = ("image", "image_key", "file_name", "filename", "filepath", "image_id", "cocoid", "coco_id", "url")
CAPTION_COLUMNS = ("caption", "captions", "sentences", "text", "raw")


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
    base = Path(file_name).name
    return int(match["id"]), COCO_IMAGE_URL.format(folder=match["folder"], file_name=base)


def read_text(path: Path) -> str:
    """The file's text, strictly UTF-8; errors name the file and the byte offset."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SemspaceError(f"{path}: cannot read the file: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SemspaceError(
            f"{path}: not valid UTF-8 at byte {exc.start} (line {line}): {data[exc.start:exc.start + 4]!r}; "
            "re-encode the file as UTF-8"
        ) from exc


def read_json(path: Path) -> Any:
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SemspaceError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc


def _captions(path: Path, where: str, value: Any) -> list[str]:
    """Validate a caption list: a non-empty list of non-empty strings."""
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
    return value


def _check_unique(path: Path, keys: Iterable[str]) -> None:
    seen: dict[str, int] = {}
    for position, key in enumerate(keys):
        if key in seen:
            raise SemspaceError(
                f"{path}: record {position}: duplicate image key {key!r} (first seen at record {seen[key]})"
            )
        seen[key] = position


def _dataset(name: str, path: Path | str, fmt: str, images: list[ImageRecord]) -> Dataset:
    if not images:
        raise SemspaceError(f"{path}: no images in the source")
    _check_unique(Path(str(path)), (image.key for image in images))
    return Dataset(name=name, source=str(path), format=fmt, images=images)


def _int_id(path: Path, where: str, field: str, value: Any) -> int:
    """An integer image id (COCO ``id``, Karpathy ``cocoid``), or an error naming the record."""
    try:
        if isinstance(value, (bool, float)):
            raise TypeError
        return int(value)
    except (TypeError, ValueError):
        raise SemspaceError(f"{path}: {where}: field {field!r} must be an integer id, got {value!r}") from None


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
        if not isinstance(image, str) or not image:
            raise SemspaceError(f"{path}: {where}: field 'image' must be a non-empty string")
        where = f"record {i} ({image})"
        coco_id, url = coco_fields(image)
        images.append(
            ImageRecord(key=image, captions=_captions(path, where, item["caption"]), coco_id=coco_id,
                        file_name=Path(image).name, url=url)
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
        file_name = str(item["filename"])
        where = f"record {i} ({file_name})"
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
        folder = item.get("filepath")
        key = f"{folder}/{file_name}" if folder else file_name
        if key in seen:
            raise SemspaceError(f"{path}: {where}: duplicate image key {key!r} (first seen at record {seen[key]})")
        seen[key] = i
        coco_id, url = coco_fields(key)
        if item.get("cocoid") is not None:
            coco_id = _int_id(path, where, "cocoid", item["cocoid"])
        images.append(
            ImageRecord(key=key, captions=captions, coco_id=coco_id, file_name=file_name, url=url,
                        tokens=[[str(t) for t in ts] for ts in tokens] if has_tokens else None)
        )
    if not images:
        raise SemspaceError(f"{path}: no images with split {split!r}")
    return _dataset(name, path, "karpathy", images)


# --- COCO captions_*.json -------------------------------------------------------------------------


def read_coco(path: Path, name: str, data: Any | None = None) -> Dataset:
    """COCO ``captions_*.json``: ``{"images": [...], "annotations": [{image_id, caption}]}``.

    Images keep the order of the ``images`` list; captions the order of ``annotations``.
    """
    data = read_json(path) if data is None else data
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise SemspaceError(f"{path}: expected an object with 'images' and 'annotations' lists (COCO captions)")
    by_image: dict[Any, list[str]] = {}
    for k, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            raise SemspaceError(f"{path}: annotation {k}: expected an object")
        for key in ("image_id", "caption"):
            if key not in ann:
                raise SemspaceError(f"{path}: annotation {k}: missing field {key!r}")
        if isinstance(ann["image_id"], (list, dict)):
            raise SemspaceError(f"{path}: annotation {k}: field 'image_id' must be an image id, got {ann['image_id']!r}")
        by_image.setdefault(ann["image_id"], []).append(ann["caption"])
    images = []
    seen: dict[str, int] = {}
    entries = data["images"]
    for i, item in enumerate(_progress(entries, len(entries), f"read {path.name}")):
        where = f"image {i}"
        if not isinstance(item, dict) or "id" not in item:
            raise SemspaceError(f"{path}: {where}: missing field 'id'")
        coco_id = item["id"]
        coco_int = _int_id(path, where, "id", coco_id)
        file_name = item.get("file_name")
        where = f"image {i} (id {coco_id})"
        if str(coco_id) in seen:
            raise SemspaceError(f"{path}: {where}: duplicate image id {coco_id!r} (first seen at image {seen[str(coco_id)]})")
        seen[str(coco_id)] = i
        captions = _captions(path, where, by_image.pop(coco_id, []))
        url = item.get("coco_url") or coco_fields(file_name)[1]
        images.append(
            ImageRecord(key=str(coco_id), captions=captions, coco_id=coco_int, file_name=file_name, url=url)
        )
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


def records_from_rows(
    path: Path | str,
    name: str,
    fmt: str,
    columns: list[str],
    rows: Callable[[list[str]], Iterable[tuple[Any, Any]]],
    n_rows: int,
    image_col: str | None = None,
    caption_col: str | None = None,
) -> Dataset:
    """Group table rows into images in order of first appearance.

    A row holds one caption (rows of the same image are grouped) or a list of captions (one row per
    image, so a repeated image is a duplicate). A caption may be a ``{raw, tokens}`` struct, as in
    the Hugging Face COCO datasets; its tokens are kept.
    """
    image_col = _pick(path, columns, image_col, IMAGE_COLUMNS, "image")
    caption_col = _pick(path, columns, caption_col, CAPTION_COLUMNS, "caption")
    grouped: dict[str, dict[str, Any]] = {}
    for i, (image, caption) in enumerate(_progress(rows([image_col, caption_col]), n_rows, f"read {Path(str(path)).name}")):
        where = f"row {i}"
        if image is None or (isinstance(image, str) and not image.strip()):
            raise SemspaceError(f"{path}: {where}: missing image in column {image_col!r}")
        if isinstance(image, (dict, list, tuple, bytes)):
            raise SemspaceError(
                f"{path}: {where}: column {image_col!r} holds {type(image).__name__} values (image data?), "
                "not image names or ids; pass --image-col"
            )
        key = str(image)
        where = f"row {i} ({key})"
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
                    f"{path}: {where}: duplicate image key {key!r} (first seen at row {grouped[key]['row']})"
                )
            captions = _captions(Path(str(path)), where, list(caption))
            grouped[key] = {"row": i, "captions": captions, "tokens": None}
            continue
        caption = _captions(Path(str(path)), where, caption)[0]
        entry = grouped.setdefault(key, {"row": i, "captions": [], "tokens": []})
        entry["captions"].append(caption)
        if entry["tokens"] is not None:
            entry["tokens"] = entry["tokens"] + [[str(t) for t in tokens]] if tokens is not None else None
    images = []
    for key, entry in grouped.items():
        coco_id, url = coco_fields(key)
        if coco_id is None and key.isdigit():
            coco_id = int(key)
        images.append(
            ImageRecord(key=key, captions=entry["captions"], coco_id=coco_id,
                        file_name=Path(key).name if ("/" in key or "." in key) else None,
                        url=url or (key if key.startswith(("http://", "https://")) else None),
                        tokens=entry["tokens"] or None)
        )
    return _dataset(name, path, fmt, images)


def read_table(path: Path, name: str, image_col: str | None = None, caption_col: str | None = None) -> Dataset:
    """Any CSV/TSV, Parquet or JSON-lines table with an image column and a caption column."""
    import duckdb

    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise SemspaceError(f"{path}: unknown table format {path.suffix!r}; use .csv, .tsv, .parquet or .jsonl")
    if not path.is_file():
        raise SemspaceError(f"{path}: cannot read the file: " + ("is a directory" if path.is_dir() else "no such file"))
    if kind != "parquet":
        read_text(path)  # strict UTF-8 check with a precise position
    con = duckdb.connect()
    reader = {"csv": "read_csv", "parquet": "read_parquet", "json": "read_json"}[kind]
    options = ", header = true, all_varchar = true" if kind == "csv" else (", format = 'newline_delimited'" if kind == "json" else "")
    try:
        literal = "'" + str(path).replace("'", "''") + "'"  # a view cannot take a prepared parameter
        con.execute(f"create view source as select * from {reader}({literal}{options})")
        described = con.execute("describe source").fetchall()
        columns = [row[0] for row in described]
        json_columns = {row[0] for row in described if str(row[1]).upper() == "JSON"}
        n_rows = con.execute("select count(*) from source").fetchone()[0]
    except Exception as exc:  # duckdb raises many error classes for unreadable files
        raise SemspaceError(f"{path}: cannot read as {kind}: {exc}") from exc

    def rows(cols: list[str]) -> Iterator[tuple[Any, Any]]:
        quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in cols)
        try:
            cursor = con.execute(f"select {quoted} from source")
            decode = [c in json_columns for c in cols]
            while batch := cursor.fetchmany(10_000):
                if any(decode):  # mixed-type JSON values: DuckDB hands back their JSON text
                    batch = [tuple(json.loads(v) if d and isinstance(v, str) else v for v, d in zip(row, decode))
                             for row in batch]
                yield from batch
        except duckdb.Error as exc:
            raise SemspaceError(f"{path}: cannot read as {kind}: {exc}") from exc

    return records_from_rows(path, name, kind, columns, rows, n_rows, image_col, caption_col)


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
            batch = table[start:start + 10_000]
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
