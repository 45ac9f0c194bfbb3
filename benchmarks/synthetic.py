"""Synthetic caption corpora of any size, resampled from the real COCO captions.

`python -m benchmarks.synthetic --images N --seed S --out FILE` writes N images with their captions
as a file that `semspace ingest FILE` reads (``.jsonl``: one ``{"image": ..., "caption": [...]}``
object per line, the table layout; ``.json``: the ALBEF/BLIP list; either with ``.gz``).
From Python: ``synthetic_captions(n_images, seed)`` yields the same ``(image_name, [captions])``.

Method
------
* **Resampling.** Synthetic image i takes every caption of a real image drawn uniformly (with
  replacement) from the COCO Karpathy test split (`../shared/data/coco_karpathy_test.json`, 5000
  images, 25010 captions). So captions per image (5, sometimes 6), caption lengths and token-set
  sizes (mean 27.7 distinct tokens) are the real ones, in distribution.
* **Vocabulary growth (Heaps' law).** Resampling alone cannot exceed the 7254 real token types, so
  rare words are replaced by *variants*: a real token ranked below the `FREQUENT` (1000) most
  frequent ones (by document frequency; they are ~87 % of the (image, token) pairs and are
  never changed) may be written as ``<word>zv<j>`` (j = 1, 2, ...: ``giraffe`` -> ``giraffezv3``, the
  suffix inserted after the word's last letter or digit, so ``dog.`` -> ``dogzv3.``). Not
  ``word~17``: the project's tokenizer splits on ``~`` (``[^a-z0-9]+``), so that would be the two
  tokens ``word`` and ``17``, no new type. No real token ends in ``zv<digits>`` and no real
  caption contains ``zv<digit>``, so a variant never collides with a real token and deleting
  ``zv<j>`` gives the real caption back. All occurrences of a word in one image get the same
  variant, so every image keeps its real token-set size.
* **Which variant.** The generator walks the images in order with the vocabulary V(i) of the first
  i images and a target T(i): the real split's own prefix vocabulary for i <= 5000 (T(5000) =
  7254), and T(i) = K·i^β beyond, with β = 0.42 and K = 7254 / 5000^β (≈ 202.8), so T is
  continuous at 5000. β comes from two real anchors: 7254 types at 5000 images and the brief's
  "25-30k words" for COCO's 123,287 images (β = ln(27500/7254) / ln(123287/5000) ≈ 0.416; the
  test split's own local exponent falls from 0.58 at 100-500 images to 0.45-0.48 at 2500-5000).
  β = 0.5-0.6 would give 36-50k types at 123k, beyond the real 25-30k. For each rare word of an
  image: a word never written before is written as itself (a new type); else, while V < T(i) a
  new variant of it is minted (a new type); else a variant already written is reused, chosen
  Pólya-urn style (the variant of a uniformly drawn earlier occurrence of that word), so variants
  recur with skewed frequencies like real rare words. Hence V(N) tracks T(N), from the real data
  up to 5000 images and by Heaps' law above.
* **Deterministic and prefix-stable.** Two numpy streams from ``SeedSequence(seed)`` (the real
  images, the urn draws), consumed in chunks independent of N: the first m images of a corpus of
  N >= m images are the corpus of m images. Image names ``syn<i:07d>-coco<COCO id>`` (unique, no
  COCO id of their own for ingest: resampled images repeat COCO ids) name the real source image.
* **Fast.** Per-image templates (literal text around the rare-word slots) are built once; the
  generator is one Python loop over the rare words of each image; output is streamed.

Measured V(N) (`python -m benchmarks.synthetic --vocabulary 5000 20000 118287 1000000`: the
generator's own token types, which equal the distinct tokens of its text under the project's
tokenizer; checked on the text at 5k and 20k, and by tests/test_synthetic.py in DuckDB):

    N            V(N) seed 0   target T(N)   (seeds 1, 2)
    5,000              7,254         7,254   7,252, 7,255
    20,000            12,986        12,985   12,986, 12,986
    118,287           27,394        27,393
    123,287           27,874        27,874   (all of COCO: in the brief's 25-30k)
    1,000,000         67,145        67,144

The walk to 1M images took 11.5 s (tokens only, one core, including 1.4 s to prepare the real
split); writing 20k images as JSONL took 0.9 s after that preparation (~45 s per million, not
run at 1M here). Below 5000 images V(N) is the real split's prefix curve or slightly above it
(resampling draws repeated images, and a word's first occurrence is always itself): 2,352 vs 2,321
at 500 images (seed 1).
"""

from __future__ import annotations

import argparse
import functools
import gzip
import io
import json
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "coco_karpathy_test.json"

BETA = 0.42
"""Heaps' exponent of the synthetic vocabulary beyond the real split's size."""
REAL_IMAGES = 5000
REAL_VOCABULARY = 7254
K = REAL_VOCABULARY / REAL_IMAGES**BETA
"""Heaps' constant: K·5000^β = 7254, the real split's vocabulary."""
FREQUENT = 1000
"""The most frequent real tokens (by document frequency) that are never replaced by variants."""
MARK = "zv"
"""Variant marker: ``<word>zv<j>``. Lowercase alphanumerics only, so the tokenizer keeps it in the word."""
VARIANT = re.compile(MARK + r"[1-9][0-9]*")
"""A variant suffix inside a caption; deleting every match gives the real caption."""
CHUNK = 4096

# The project's tokenization (macros/tokenize.sql, ../shared/data/README.md): lowercase, delete
# ' / : . & =, split on every other run of non-alphanumerics, drop empty strings.
_DELETE = re.compile(r"['/:.&=]")
_SPLIT = re.compile(r"[^a-z0-9]+")
# A stretch of raw caption text that tokenizes to (at most) one token: letters, digits and the
# deleted characters. Its insertion point for a variant suffix is after its last letter or digit.
_SPAN = re.compile(r"[A-Za-z0-9'/:.&=]+")
_LAST_ALNUM = re.compile(r"[A-Za-z0-9][^A-Za-z0-9]*$")


def tokenize(caption: str) -> list[str]:
    """The project's tokens of one caption (int_captions_tokenized), in order, with repeats."""
    return [t for t in _SPLIT.split(_DELETE.sub("", caption.lower())) if t]


def token_set(captions: Sequence[str]) -> set[str]:
    """An image's token set: the union of its captions' tokens."""
    out: set[str] = set()
    for caption in captions:
        out.update(tokenize(caption))
    return out


def strip_variants(caption: str) -> str:
    """The real caption a synthetic one was made from (every ``zv<j>`` deleted)."""
    return VARIANT.sub("", caption)


def heaps_target(n_images: int) -> float:
    """T(N) beyond the real split: K·N^β (below 5000 images the target is the real prefix vocabulary)."""
    return K * n_images**BETA


# ------------------------------------------------------------------------------------------------
# the real corpus, prepared once


@dataclass
class _Image:
    coco_id: int
    captions: list[str]
    frequent: list[int]  # real token numbers (0 = most frequent) of the image's frequent tokens
    rare: list[int]  # real token numbers of its rare tokens, ascending: the variant slots
    # per caption: (literal pieces, slot of each gap) with len(pieces) == len(slots) + 1; None when
    # the caption has no rare token (it is written as is)
    templates: list[tuple[list[str], list[int]] | None]


@dataclass
class _Real:
    source: Path
    images: list[_Image]
    vocabulary: list[str]  # by document-frequency rank
    prefix_vocabulary: np.ndarray  # (n+1,) distinct tokens of the first i real images, file order


@functools.lru_cache(maxsize=4)
def _real(source: str) -> _Real:
    records = json.loads(Path(source).read_text(encoding="utf-8"))
    if not isinstance(records, list) or not records:
        raise ValueError(f"{source}: expected the ALBEF/BLIP JSON list of {{image, caption}} objects")
    sets = [token_set(r["caption"]) for r in records]
    df: dict[str, int] = {}
    prefix = np.zeros(len(records) + 1, dtype=np.int64)
    for i, tokens in enumerate(sets):
        for t in tokens:
            df[t] = df.get(t, 0) + 1
        prefix[i + 1] = len(df)
    vocabulary = sorted(df, key=lambda t: (-df[t], t))
    number = {t: n for n, t in enumerate(vocabulary)}
    if any(VARIANT.search(c) for r in records for c in r["caption"]):
        raise ValueError(f"{source}: a real caption contains '{MARK}<digit>'; the variant marker would be ambiguous")
    images = []
    for record, tokens in zip(records, sets):
        rare = sorted(number[t] for t in tokens if number[t] >= FREQUENT)
        slot_of = {vocabulary[n]: s for s, n in enumerate(rare)}
        # A token of a caption whose spans do not reproduce its tokens (non-ASCII text whose case
        # folding the span rule does not follow) is never varied in this image.
        frozen: set[int] = set()
        templates: list[tuple[list[str], list[int]] | None] = []
        for caption in record["caption"]:
            pieces, slots, last, span_tokens = [], [], 0, []
            for match in _SPAN.finditer(caption):
                token = _DELETE.sub("", match.group().lower())
                if not token:
                    continue
                span_tokens.append(token)
                if token in slot_of:
                    cut = match.start() + _LAST_ALNUM.search(match.group()).start() + 1
                    pieces.append(caption[last:cut])
                    slots.append(slot_of[token])
                    last = cut
            if span_tokens != tokenize(caption):
                frozen.update(slot_of[t] for t in tokenize(caption) if t in slot_of)
                templates.append(None)
                continue
            pieces.append(caption[last:])
            templates.append((pieces, slots) if slots else None)
        if frozen:  # drop the frozen slots everywhere in this image
            keep = [s for s in range(len(rare)) if s not in frozen]
            renumber = {s: k for k, s in enumerate(keep)}
            fixed = []
            for template in templates:
                if template is None:
                    fixed.append(None)
                    continue
                pieces, slots = template
                new_pieces, new_slots = [pieces[0]], []
                for gap, s in enumerate(slots):
                    if s in renumber:
                        new_slots.append(renumber[s])
                        new_pieces.append(pieces[gap + 1])
                    else:
                        new_pieces[-1] += pieces[gap + 1]
                fixed.append((new_pieces, new_slots) if new_slots else None)
            templates = fixed
            rare = [rare[s] for s in keep]
        images.append(
            _Image(
                coco_id=_coco_id(record["image"]),
                captions=list(record["caption"]),
                frequent=sorted(number[t] for t in tokens if number[t] < FREQUENT),
                rare=rare,
                templates=templates,
            )
        )
    return _Real(Path(source), images, vocabulary, prefix)


def _coco_id(name: str) -> int:
    found = re.search(r"(\d+)\.jpg$", name)
    return int(found.group(1)) if found else -1


def real_captions(source: str | Path = DEFAULT_SOURCE) -> dict[int, list[str]]:
    """COCO id -> the real captions of that image in ``source``."""
    return {image.coco_id: image.captions for image in _real(str(source)).images}


# ------------------------------------------------------------------------------------------------
# the generator


class _Uniform:
    """Uniform floats in [0, 1) from a Generator, drawn CHUNK at a time (consumption order only)."""

    def __init__(self, rng: np.random.Generator):
        self.rng, self.buffer, self.pos = rng, [], 0

    def __call__(self) -> float:
        if self.pos == len(self.buffer):
            self.buffer, self.pos = self.rng.random(CHUNK).tolist(), 0
        value = self.buffer[self.pos]
        self.pos += 1
        return value


def _walk(n_images: int, seed: int, source: str) -> Iterator[tuple[int, _Image, list[int] | None, int]]:
    """(i, real image, variant number per rare slot or None when all are the real words, V(i+1))."""
    real = _real(source)
    n_real = len(real.images)
    image_stream, urn_stream = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    uniform = _Uniform(urn_stream)
    seen = bytearray(len(real.vocabulary))
    unseen_frequent = min(FREQUENT, len(real.vocabulary))
    n_variants = [0] * len(real.vocabulary)
    history: dict[int, list[int]] = {}  # rare word -> variant number of each of its occurrences
    vocabulary = 0
    prefix = real.prefix_vocabulary.tolist()
    picks: list[int] = []
    for i in range(n_images):
        if i % CHUNK == 0:
            picks = image_stream.integers(0, n_real, CHUNK).tolist()
        image = real.images[picks[i % CHUNK]]
        count = i + 1
        target = prefix[count] if count < len(prefix) else K * count**BETA
        if unseen_frequent:
            for t in image.frequent:
                if not seen[t]:
                    seen[t] = 1
                    vocabulary += 1
                    unseen_frequent -= 1
        variants = None
        for slot, word in enumerate(image.rare):
            if not seen[word]:
                seen[word] = 1
                vocabulary += 1
                history[word] = [0]
                continue
            past = history[word]
            if vocabulary < target:
                n_variants[word] += 1
                j = n_variants[word]
                vocabulary += 1
            else:
                j = past[int(uniform() * len(past))]
            past.append(j)
            if j:
                if variants is None:
                    variants = [0] * len(image.rare)
                variants[slot] = j
        yield i, image, variants, vocabulary


def _captions(image: _Image, variants: list[int] | None) -> list[str]:
    if variants is None:
        return image.captions
    out = []
    for caption, template in zip(image.captions, image.templates):
        if template is None:
            out.append(caption)
            continue
        pieces, slots = template
        parts = [pieces[0]]
        for gap, slot in enumerate(slots):
            j = variants[slot]
            if j:
                parts.append(f"{MARK}{j}")
            parts.append(pieces[gap + 1])
        out.append("".join(parts))
    return out


def image_name(i: int, coco_id: int) -> str:
    return f"syn{i:07d}-coco{coco_id}"


def synthetic_captions(
    n_images: int, seed: int = 0, source: str | Path = DEFAULT_SOURCE
) -> Iterator[tuple[str, list[str]]]:
    """``(image_name, [captions])`` of the synthetic corpus of ``n_images`` images (a generator)."""
    if n_images < 0:
        raise ValueError("n_images must be >= 0")
    for i, image, variants, _ in _walk(n_images, seed, str(source)):
        yield image_name(i, image.coco_id), _captions(image, variants)


def vocabulary_sizes(checkpoints: Sequence[int], seed: int = 0, source: str | Path = DEFAULT_SOURCE) -> dict[int, int]:
    """V(N) (distinct tokens of the first N images) at each of ``checkpoints``, without writing text."""
    wanted = sorted(set(checkpoints))
    out: dict[int, int] = {}
    if not wanted:
        return out
    for i, _, _, vocabulary in _walk(wanted[-1], seed, str(source)):
        if i + 1 in wanted:
            out[i + 1] = vocabulary
    return out


def target_vocabulary(n_images: int, source: str | Path = DEFAULT_SOURCE) -> float:
    """T(N): the real prefix vocabulary up to the real split's size, K·N^β beyond."""
    prefix = _real(str(source)).prefix_vocabulary
    return float(prefix[n_images]) if n_images < len(prefix) else heaps_target(n_images)


# ------------------------------------------------------------------------------------------------
# writing


def _open(path: Path) -> io.TextIOBase:
    if path.suffix.lower() == ".gz":
        return io.TextIOWrapper(gzip.open(path, "wb", compresslevel=3), encoding="utf-8", newline="\n")
    return open(path, "w", encoding="utf-8", newline="\n")


def layout(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    kind = suffixes[-1] if suffixes else ""
    if kind in (".jsonl", ".ndjson"):
        return "jsonl"
    if kind == ".json":
        return "json"
    raise ValueError(f"{path}: give the output a .jsonl or .json suffix (optionally .gz)")


def write(path: str | Path, n_images: int, seed: int = 0, source: str | Path = DEFAULT_SOURCE) -> dict[str, int]:
    """Stream the corpus to ``path`` (layout by suffix); returns images, captions, vocabulary."""
    path = Path(path)
    kind = layout(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_captions = vocabulary = 0
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
    with _open(path) as out:
        if kind == "json":
            out.write("[\n")
        for i, image, variants, types in _walk(n_images, seed, str(source)):
            vocabulary = types
            captions = _captions(image, variants)
            n_captions += len(captions)
            line = dumps({"image": image_name(i, image.coco_id), "caption": captions})
            if kind == "json":
                out.write(line if i == 0 else ",\n" + line)
            else:
                out.write(line + "\n")
        if kind == "json":
            out.write("\n]\n")
    return {"images": n_images, "captions": n_captions, "vocabulary": vocabulary}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.synthetic",
        description="Write a synthetic caption corpus resampled from the real COCO captions, with a "
        "vocabulary that grows by Heaps' law (see the module docstring). `semspace ingest FILE` reads it.",
    )
    p.add_argument("--images", type=int, help="number of images")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", help="output file: .jsonl (one image per line) or .json (BLIP list), optionally .gz")
    p.add_argument("--source", default=str(DEFAULT_SOURCE), help=f"the real captions (default {DEFAULT_SOURCE})")
    p.add_argument(
        "--vocabulary",
        type=int,
        nargs="+",
        metavar="N",
        help="instead of writing: print V(N) (the generator's token types) against the target T(N) at each N",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.vocabulary:
        start = time.perf_counter()
        sizes = vocabulary_sizes(args.vocabulary, args.seed, args.source)
        seconds = time.perf_counter() - start
        print("| images | V(N) | target T(N) | K·N^β |")
        print("|---:|---:|---:|---:|")
        for n, v in sizes.items():
            print(f"| {n:,} | {v:,} | {target_vocabulary(n, args.source):,.0f} | {heaps_target(n):,.0f} |")
        print(f"\n(seed {args.seed}, β = {BETA}, K = {K:.2f}; {seconds:.1f} s)")
        return 0
    if args.images is None or args.out is None:
        parser().error("--images and --out are required (or --vocabulary N ...)")
    if args.images < 1:
        parser().error("--images must be >= 1")
    try:
        layout(Path(args.out))
    except ValueError as exc:
        parser().error(str(exc))
    start = time.perf_counter()
    stats = write(args.out, args.images, args.seed, args.source)
    print(
        f"{args.out}: {stats['images']:,} images, {stats['captions']:,} captions, "
        f"{stats['vocabulary']:,} token types (seed {args.seed}) in {time.perf_counter() - start:.1f} s; "
        f"load it with `semspace ingest {args.out}`",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
