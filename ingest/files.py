"""Getting a caption source's bytes and text: what the path is, compression, UTF-8, and the two
text table dialects (CSV/TSV, JSON lines) parsed here rather than by DuckDB's sniffer.

Every problem raises :class:`SemspaceError` naming the file and what is actually wrong with it
(a symbolic link loop is not "no such file"; gzip bytes are not "re-encode as UTF-8").

Compression is told by the file's first bytes, whatever its name: gzip (``1f 8b``) is read with
the standard library, zstd (``28 b5 2f fd``) with the ``zstandard`` module when it is installed
(otherwise a message says to install it or decompress the file). ``.gz``/``.zst`` suffixes are
skipped when the format is told by the suffix (``pairs.csv.gz`` is a CSV file). Other archive and
compression formats (zip, bzip2, xz) and UTF-16 text are named in the error instead of being read.

CSV/TSV dialect (RFC 4180, checked on the whole file, not guessed from its first rows):

- fields separated by ``,`` (``\\t`` for ``.tsv``), records by LF or CRLF;
- a field may be enclosed in double quotes; inside it a double quote is written ``""``, and
  separators and line breaks are part of the field; text after a closing quote (``"a"b``) and a
  quote that is never closed are errors, with the line where they occur;
- a double quote inside an unquoted field is kept as a character (``5" tall``), as most writers
  produce it; no other escape character (a backslash is a backslash);
- the first record is the header; every record has as many fields as the header (an error names
  the line and both counts); blank lines are skipped;
- UTF-8, with or without a byte-order mark; every value is text (no type inference: ``007`` stays
  ``007``); an empty field is a missing value.

JSON lines: one JSON object per line (LF or CRLF; blank lines skipped; U+2028 and other Unicode
line separators inside strings are not line breaks); an object with a key twice is an error.
"""

from __future__ import annotations

import csv
import errno
import gzip
import io
import json
import os
import stat
import zlib
from pathlib import Path
from typing import Any

from semspace.errors import SemspaceError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
COMPRESSED_SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
"""Suffixes skipped when the format is told by the suffix; the content decides the compression."""
_NOT_READ = {
    b"PK\x03\x04": "a zip archive; unzip it and pass the caption file inside",
    b"BZh": "bzip2-compressed; decompress it first (bunzip2): only gzip and zstd are read",
    b"\xfd7zXZ\x00": "xz-compressed; decompress it first (unxz): only gzip and zstd are read",
    b"PAR1": "a Parquet file; give it the .parquet suffix",
    b"\xff\xfe": "UTF-16 text (it starts with a UTF-16 byte-order mark); re-encode it as UTF-8",
    b"\xfe\xff": "UTF-16 text (it starts with a UTF-16 byte-order mark); re-encode it as UTF-8",
}


def format_suffix(path: Path) -> str:
    """The suffix that tells the format: ``.csv`` for ``pairs.csv`` and for ``pairs.csv.gz``."""
    suffix = path.suffix.lower()
    if suffix in COMPRESSED_SUFFIXES:
        return Path(path.stem).suffix.lower()
    return suffix


def plain_stem(path: Path) -> str:
    """The name without its compression and format suffixes: ``pairs`` for ``pairs.csv.gz``."""
    name = path.name
    if path.suffix.lower() in COMPRESSED_SUFFIXES:
        name = path.stem
    return Path(name).stem


def check_file(path: Path) -> None:
    """A regular file that exists, or an error saying what the path is instead."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise SemspaceError(
                f"{path}: a symbolic link to {os.readlink(path)!r}, which does not exist; "
                "point the link at the caption file, or pass the file itself"
            ) from None
        raise SemspaceError(f"{path}: no such file") from None
    except NotADirectoryError:
        raise SemspaceError(
            f"{path}: no such file (a part of the path before its last is a file, not a folder)"
        ) from None
    except PermissionError:
        raise SemspaceError(
            f"{path}: permission denied while looking up the file (a folder on its path cannot be searched); "
            "check the folders' permissions"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SemspaceError(
                f"{path}: a loop of symbolic links (too many levels of symbolic links); "
                "point the link at the caption file, or pass the file itself"
            ) from None
        raise SemspaceError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise SemspaceError(f"{path}: cannot read the file: is a directory; pass the caption file inside it")
    if not stat.S_ISREG(info.st_mode):
        raise SemspaceError(
            f"{path}: cannot read the file: not a regular file (a pipe, socket or device); save the captions to a file first"
        )


def compression(head: bytes) -> str | None:
    """``gzip``, ``zstd`` or ``None``, from a file's first bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return None


def _decompress(path: Path, data: bytes, kind: str) -> bytes:
    if kind == "gzip":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise SemspaceError(
                f"{path}: gzip-compressed, but the compressed data is corrupt or truncated ({exc}); "
                "download or compress the file again"
            ) from None
    try:
        import zstandard
    except ImportError:
        raise SemspaceError(
            f"{path}: zstd-compressed, and the Python module zstandard is not installed: "
            f"install it (pip install zstandard) or decompress the file first (zstd -d {path})"
        ) from None
    try:
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True) as reader:
            return reader.read()
    except zstandard.ZstdError as exc:
        raise SemspaceError(
            f"{path}: zstd-compressed, but the compressed data is corrupt or truncated ({exc}); "
            "download or compress the file again"
        ) from None


def read_bytes(path: Path) -> tuple[bytes, str | None]:
    """The file's content, decompressed when its first bytes say gzip or zstd, and which of the two."""
    check_file(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SemspaceError(f"{path}: cannot read the file: {exc.strerror or exc}; check its permissions") from exc
    kind = compression(data[:4])
    if kind is not None:
        data = _decompress(path, data, kind)
    return data, kind


def read_text(path: Path) -> str:
    """The file's text: decompressed, strictly UTF-8 (a leading byte-order mark dropped); errors name
    the file, the byte offset and line, or what the bytes are instead of text."""
    data, kind = read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        for magic, what in _NOT_READ.items():
            if data.startswith(magic):
                inner = f"{kind}-compressed and then " if kind else ""
                raise SemspaceError(f"{path}: {inner}{what}") from exc
        line = data[: exc.start].count(b"\n") + 1
        where = f" of its {kind}-decompressed content" if kind else ""
        raise SemspaceError(
            f"{path}: not valid UTF-8 at byte {exc.start}{where} (line {line}): "
            f"{data[exc.start : exc.start + 4]!r}; re-encode the file as UTF-8"
        ) from exc
    return text[1:] if text.startswith("\ufeff") else text


# --- JSON ------------------------------------------------------------------------------------------


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"an object has the key {key!r} twice")
        seen[key] = value
    return seen


def loads(text: str) -> Any:
    """``json.loads`` that refuses an object with a repeated key (json keeps the last silently).
    Raises ``json.JSONDecodeError``, ``ValueError`` (repeated key; a number too long to convert)
    or ``RecursionError`` (nesting too deep)."""
    return _DECODER.decode(text)


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)


def _json_problem(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
    if isinstance(exc, RecursionError):
        return "invalid JSON: nested too deeply to read"
    if "integer string conversion" in str(exc):
        return "invalid JSON: a number with more than 4300 digits, more than Python reads (no caption source needs one)"
    return f"invalid JSON: {exc}"


def read_json(path: Path) -> Any:
    text = read_text(path)
    try:
        return loads(text)
    except (ValueError, RecursionError) as exc:
        raise SemspaceError(f"{path}: {_json_problem(exc)}") from None


def parse_jsonl(path: Path, text: str) -> tuple[list[str], list[dict[str, Any]], list[int]]:
    """Columns (every key, in order of first appearance), records and each record's line number."""
    columns: dict[str, None] = {}
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = loads(line)
        except (ValueError, RecursionError) as exc:
            if isinstance(exc, json.JSONDecodeError):
                problem = f"column {exc.colno}: Malformed JSON: {exc.msg}"
            else:
                problem = _json_problem(exc)
            raise SemspaceError(
                f"{path}: cannot read as json: line {number}, {problem}; each line must be one JSON object"
            ) from None
        if not isinstance(record, dict):
            raise SemspaceError(
                f"{path}: cannot read as json: line {number} is a JSON {type(record).__name__}, not an object; "
                "each line must be one JSON object"
            )
        for key in record:
            columns.setdefault(key, None)
        records.append(record)
        lines.append(number)
    return list(columns), records, lines


# --- CSV / TSV -------------------------------------------------------------------------------------


def parse_csv(path: Path, text: str, delimiter: str) -> tuple[list[str], list[list[str | None]], list[int]]:
    """Header, records (an empty field is ``None``) and each record's first line, in the module's dialect."""
    name = "tab" if delimiter == "\t" else repr(delimiter)
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quotechar='"',
        doublequote=True,
        escapechar=None,
        skipinitialspace=False,
        strict=True,
        quoting=csv.QUOTE_MINIMAL,
    )
    header: list[str] | None = None
    header_line = 0
    records: list[list[str | None]] = []
    lines: list[int] = []
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            message = str(exc)
            if "unexpected end of data" in message or "EOF" in message:
                raise SemspaceError(
                    f"{path}: line {start}: a quoted field that starts on this line is never closed (unterminated "
                    'quote); end it with ", and write a quote inside a quoted field as ""'
                ) from None
            if "expected after" in message:
                raise SemspaceError(
                    f"{path}: line {reader.line_num}: text after the closing quote of a quoted field; "
                    'write a quote inside a quoted field as "" (RFC 4180)'
                ) from None
            raise SemspaceError(f"{path}: line {start}: malformed CSV: {message}") from None
        if not fields:
            continue  # a blank line
        if header is None:
            header, header_line = fields, start
            seen: set[str] = set()
            for column in header:
                if column in seen:
                    raise SemspaceError(
                        f"{path}: line {start}: the header names the column {column!r} twice; "
                        "give every column its own name"
                    )
                seen.add(column)
            continue
        if len(fields) != len(header):
            raise SemspaceError(
                f"{path}: line {start}: {len(fields)} field{'' if len(fields) == 1 else 's'}, but the header "
                f"(line {header_line}) has {len(header)}; "
                f"enclose a field that contains the separator ({name}) or a line break in double quotes"
            )
        records.append([value if value != "" else None for value in fields])
        lines.append(start)
    if header is None:
        raise SemspaceError(f"{path}: empty file: no header row (a CSV/TSV file starts with its column names)")
    return header, records, lines
