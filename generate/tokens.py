"""The token sets of an association run: ``raw.association_tokens(run_id, dataset, image_id, token,
n_chains)``.

As the note does it: per caption, the chain's text (the last round's ``output_text``, which holds the
caption and every round's association, since each round's output is its input plus the new text);
per image, all its captions' chain texts joined (with a space) into one long text; that text split
with the model's own tokenizer; the distinct tokens of each image kept.

A token is the text of one token id decoded on its own, with surrounding whitespace stripped
(``TOKENIZATION``); case is kept and whitespace-only tokens are dropped. Why:

- The note says only "split with the falcon-7b-instruct tokenizer; the tokens were roughly English
  words". Decoded ids read as words; the raw vocabulary strings would carry the byte-level marks
  (``Ġpizza``), and ``pizza`` at the start of a text would differ from ``pizza`` after a space.
- No lowercasing: the note mentions none, the Falcon tokenizer is cased, and on the chain texts the
  note prints for image 100 and its four Falcon neighbours (Table 4) the cased tokens give symmetric
  differences of 106–108 against the note's 108–112, lowercased ones 99–102 (those printed texts may
  be abridged, so this is a hint, not proof).
- Punctuation tokens stay (they are tokens of the tokenizer; the note filters nothing).

``n_chains`` counts the image's chains that hold the token; the set itself is the joined text's, as
above. A fast tokenizer's offsets give each token of the joined text to the chain whose span holds its
first character (a token that starts on the separating space belongs to the chain after it); a
tokenizer without offsets tokenizes each chain alone (every chain but the first with that leading
space), and a token of the joined text that no chain alone yields (a boundary effect) counts 1.

Only images whose every caption has a chain of the run's full length are tokenized (a stopped run's
partial chains are not mixed with complete ones); the run's earlier token rows are replaced in one
transaction.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb

from generate import store
from generate.backends.base import Tokenizer
from semspace.errors import SemspaceError

log = logging.getLogger(__name__)

TOKENIZATION = "decode-strip-v1"
"""Recorded in ``raw.association_runs.tokenization``: each id decoded alone, whitespace stripped, case kept."""


@dataclass(frozen=True)
class TokenSummary:
    run_id: str
    n_images: int
    n_tokens: int
    """Rows written: the sum of the per-image set sizes."""
    n_skipped: int
    """Images left out because some caption's chain is shorter than the run's rounds."""


def image_chains(
    con: duckdb.DuckDBPyConnection, run_id: str, dataset: str, rounds: int
) -> tuple[list[int], list[list[str]], int]:
    """``(image ids, each image's chain texts, images skipped)``: the chains' last texts, captions in
    order, for images whose every caption's chain reaches ``rounds``."""
    rows = con.execute(
        """
        with chains as (
            select image_id, caption_index, output_text
            from raw.associations
            where run_id = ? and dataset = ? and round = ?
        ),
        captions as (
            select c.image_id, c.caption_index, ch.output_text
            from raw.captions c left join chains ch using (image_id, caption_index)
            where c.dataset = ? and c.image_id in (select image_id from chains)
        )
        select image_id,
               list(output_text order by caption_index) as chains,
               count(output_text) = count(*) as complete
        from captions
        group by image_id
        order by image_id
        """,
        [run_id, dataset, rounds, dataset],
    ).fetchall()
    ids = [r[0] for r in rows if r[2]]
    chains = [list(r[1]) for r in rows if r[2]]
    found = con.execute(
        "select count(distinct image_id) from raw.associations where run_id = ? and dataset = ?", [run_id, dataset]
    ).fetchone()
    started = int(found[0]) if found else 0
    return ids, chains, started - len(ids)


def image_texts(
    con: duckdb.DuckDBPyConnection, run_id: str, dataset: str, rounds: int
) -> tuple[list[int], list[str], int]:
    """``(image ids, one text per image, images skipped)``: :func:`image_chains` joined with a space."""
    ids, chains, skipped = image_chains(con, run_id, dataset, rounds)
    return ids, [" ".join(c) for c in chains], skipped


def _decoder(tokenizer: Tokenizer) -> Callable[[int], str]:
    """One id's token (decoded alone, whitespace stripped; ``""``: dropped), cached per id."""
    vocab: dict[int, str] = {}

    def decode(i: int) -> str:
        token = vocab.get(i)
        if token is None:
            token = vocab[i] = tokenizer.decode([i], skip_special_tokens=False).strip()
        return token

    return decode


def token_strings(tokenizer: Tokenizer, texts: list[str]) -> list[list[str]]:
    """Each text's tokens (see the module's docstring), in order, repeats kept."""
    if not texts:
        return []
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    decode = _decoder(tokenizer)
    return [[t for t in map(decode, ids) if t] for ids in encoded]


def chain_counts(tokenizer: Tokenizer, chains: list[list[str]]) -> list[dict[str, int]]:
    """Per image (its chain texts): the distinct tokens of the chains joined with a space, in order of
    first appearance (exactly ``dict.fromkeys`` of :func:`token_strings` of the joined text), each
    with how many of the chains hold it (see the module's docstring)."""
    if not chains:
        return []
    texts = [" ".join(c) for c in chains]
    if getattr(tokenizer, "is_fast", False):
        fast: Any = tokenizer  # (offsets are a fast tokenizer's, not the Tokenizer protocol's)
        encoded = fast(texts, add_special_tokens=False, return_offsets_mapping=True)
        if "offset_mapping" in encoded:
            return _counts_by_offsets(tokenizer, chains, encoded["input_ids"], encoded["offset_mapping"])
    return _counts_by_chain(tokenizer, chains)


def _counts_by_offsets(
    tokenizer: Tokenizer, chains: list[list[str]], encoded: list[list[int]], offsets: list[list[tuple[int, int]]]
) -> list[dict[str, int]]:
    decode = _decoder(tokenizer)
    out = []
    for chain_texts, ids, spans in zip(chains, encoded, offsets, strict=True):
        if len(ids) != len(spans):
            raise SemspaceError(f"the tokenizer gave {len(ids)} ids but {len(spans)} offsets for one text")
        starts, end = [], 0  # where chain k's span begins in the joined text: its separator (k > 0)
        for k, text in enumerate(chain_texts):
            starts.append(max(end - 1, 0) if k else 0)
            end += len(text) + 1
        holders: dict[str, set[int]] = {}
        for i, (start, _) in zip(ids, spans):
            token = decode(i)
            if token:
                holders.setdefault(token, set()).add(bisect_right(starts, start) - 1)
        out.append({token: len(ks) for token, ks in holders.items()})
    return out


def _counts_by_chain(tokenizer: Tokenizer, chains: list[list[str]]) -> list[dict[str, int]]:
    texts: list[str] = []
    for chain_texts in chains:  # per image: the joined text, then each chain as it appears in it
        texts.append(" ".join(chain_texts))
        texts.extend(text if k == 0 else " " + text for k, text in enumerate(chain_texts))
    tokens = token_strings(tokenizer, texts)
    out, at = [], 0
    for chain_texts in chains:
        joined = tokens[at]
        alone = [set(t) for t in tokens[at + 1 : at + 1 + len(chain_texts)]]
        at += 1 + len(chain_texts)
        out.append({token: max(1, sum(token in s for s in alone)) for token in dict.fromkeys(joined)})
    return out


def tokenizer_name(tokenizer: Any) -> str:
    return str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__)


def tokenize_run(
    con: duckdb.DuckDBPyConnection, run_id: str, tokenizer: Tokenizer, *, tokenizer_label: str | None = None
) -> TokenSummary:
    """Write the run's ``raw.association_tokens`` (replacing its earlier ones) in one transaction."""
    run = store.get_run(con, run_id)
    if run is None:
        raise _no_run(con, run_id)
    ids, chains, skipped = image_chains(con, run_id, run.dataset, run.rounds)
    if skipped:
        log.warning(
            "run %s: %d image(s) have chains shorter than %d rounds and get no tokens (rerun `python -m generate "
            "run` with the run's arguments to finish them)",
            run_id,
            skipped,
            run.rounds,
        )
    image_col, token_col, count_col = [], [], []
    for image_id, counts in zip(ids, chain_counts(tokenizer, chains)):
        for token, n in counts.items():
            image_col.append(image_id)
            token_col.append(token)
            count_col.append(n)
    store.replace_tokens(
        con,
        run_id,
        run.dataset,
        image_col,
        token_col,
        tokenizer_label or tokenizer_name(tokenizer),
        TOKENIZATION,
        n_chains=count_col,
    )
    return TokenSummary(run_id=run_id, n_images=len(ids), n_tokens=len(token_col), n_skipped=skipped)


def load_run_tokenizer(
    con: duckdb.DuckDBPyConnection, run_id: str, tokenizer: str | None = None, *, local_only: bool = False
) -> tuple[Any, str]:
    """``(tokenizer, label)``: ``tokenizer`` (a folder, hub id or named model) or else the run's model's
    own; ``local_only``: from a folder or the hub cache, never the network."""
    from generate.backends.hf import load_tokenizer
    from generate.models import resolve

    run = store.get_run(con, run_id)
    if run is None:
        raise _no_run(con, run_id)
    source = resolve(tokenizer or run.model)
    return load_tokenizer(source, local_only=local_only), source.description or source.path


def _no_run(con: duckdb.DuckDBPyConnection, run_id: str) -> SemspaceError:
    known = []
    if store.table_exists(con, "association_runs"):
        known = [r[0] for r in con.execute("select run_id from raw.association_runs order by 1").fetchall()]
    return SemspaceError(
        f"no association run {run_id!r} in this warehouse"
        + (f"; it has: {', '.join(known)}" if known else "; run `python -m generate run` first")
    )
