"""The note's association chain, stored round by round into ``raw.associations``; resumable.

The chain, as the note runs it: for each caption, ``text`` starts as the caption; each round sends
``PROMPT_INSTRUCTION + text`` to the model, and the answer with the instruction removed becomes the
next ``text``. The note used ``pipeline("text-generation")``, whose answer is the prompt followed by
the new text, so "the answer with the instruction removed" is the old ``text`` followed by the new
text: the chain accumulates (``output_text = input_text + generated_text``), and after 5 rounds one
caption's text is the caption with its 5 associations joined — exactly what the note's Table 4
prints (each entry starts with its caption). With a chat template (``--chat``, and the named model
``smollm2``) the answer is a reply rather than a continuation, so a space is put between the two
when neither side has one.

Order of work: round-major. Round 1 for every selected caption (in batches), then round 2, and so
on. Why: every round's prompts exist before the round starts, so each round's captions are sorted
by the length of their text (longest first) and cut into batches of similar length: little padding,
and the longest batch runs first, so a batch too big for the GPU fails at once, not hours in. The
batches of a round are fixed by the stored texts alone (sort by length, then by image and caption),
and a batch is stored in one transaction, so a resumed run meets exactly the batches the stopped one
would have run, with the same seeds (per-chain order would finish images earlier, but only round-major
makes that guarantee while keeping length-sorted batches).

Resume: the stored rows are the state. A caption's chain continues from its last stored round (the
input of round r is the stored output of round r−1), batches already stored are skipped, and a
batch is either stored whole or not at all (a kill in the middle loses at most the batch in flight,
never half of it). Same :class:`RunPlan`, same ``run_id``: no duplicate (the primary key would
refuse one), no lost row.

Seeds: each batch's seed is derived from the run's seed, the round and the batch's captions
(:func:`batch_seed`), recorded per row as ``sample_seed``. Guaranteed: the same run (model, params,
seed, batch size, selection) on the same hardware and library versions gives the same texts, also
across an interruption and resume (on CPU bitwise; on a GPU as far as its kernels are deterministic).
Not guaranteed: the same text for one caption under another batch size or selection (with the
transformers backend, a prompt's random draws depend on its batch).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from generate import store
from generate.backends import BACKENDS, Backend, Generation, GenerationParams, make_backend
from generate.models import DEFAULT_MODEL, NAMED_MODELS, default_run_name
from generate.tokens import TokenSummary, tokenize_run
from semspace import db, names
from semspace.errors import SemspaceError

log = logging.getLogger(__name__)

PROMPT_INSTRUCTION = "What do you associate with the following sentences? Describe the answer in one sentence. :\n"
"""The note's instruction, verbatim; the text follows it directly."""
PROMPT_TEMPLATE_VERSION = "note-v1"
DEFAULT_DATASET = "coco"
DEFAULT_ROUNDS = 5
DEFAULT_BATCH_SIZE = 16
BATCH_DELAY_ENV = "SEMSPACE_GENERATE_BATCH_DELAY"
"""Seconds to sleep after each stored batch (for tests and demonstrations of interrupting a run)."""


def prompt(text: str) -> str:
    """The prompt of one round: the note's instruction followed by the chain's current text."""
    return PROMPT_INSTRUCTION + text


def next_text(text: str, generated: str, chat: bool = False) -> str:
    """The chain's next text: the answer with the instruction removed, i.e. ``text + generated``
    (see the module docstring); with a chat template, a space between them if neither has one."""
    if chat and text and generated and not text[-1].isspace() and not generated[0].isspace():
        return text + " " + generated
    return text + generated


def parse_images(spec: str) -> list[int]:
    """``"1,2,5-9"`` → ``[1, 2, 5, 6, 7, 8, 9]`` (sorted, distinct)."""
    ids: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part[1:]:
                lo_text, hi_text = part.split("-", 1) if not part.startswith("-") else (part, "")
                lo, hi = int(lo_text), int(hi_text)
                if lo > hi:
                    raise ValueError
                ids.update(range(lo, hi + 1))
            else:
                ids.add(int(part))
        except ValueError:
            raise SemspaceError(
                f"--images {spec!r}: {part!r} is not an image id or a range like 5-9 (ids are 0-based positions)"
            ) from None
    if not ids:
        raise SemspaceError(f"--images {spec!r} names no image")
    if min(ids) < 0:
        raise SemspaceError(f"--images {spec!r}: image ids are ≥ 0")
    return sorted(ids)


def batch_seed(seed: int, round_: int, keys: Iterable[tuple[int, int]]) -> int:
    """The seed of one batch: a hash of the run's seed, the round and the batch's (image, caption)s."""
    text = f"{seed}|{round_}|" + ";".join(f"{i}:{c}" for i, c in keys)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF


def default_run_id(
    model: str,
    dataset: str = DEFAULT_DATASET,
    backend: str = "transformers",
    params: GenerationParams | None = None,
    chat: bool | None = None,
    template_version: str = PROMPT_TEMPLATE_VERSION,
) -> str:
    """The model's short name (``falcon-7b-instruct``); a short hash of the backend, the settings and
    the template is added when any of them is not the default; the dataset is put first when it is
    not ``coco`` (a run belongs to one dataset)."""
    params = params or GenerationParams()
    named = NAMED_MODELS.get(model.lower())
    default_chat = named.chat if named else False
    name = default_run_name(named.name if named else model)
    chat = default_chat if chat is None else chat
    if (backend, params, chat, template_version) != (
        "transformers",
        GenerationParams(),
        default_chat,
        PROMPT_TEMPLATE_VERSION,
    ):
        digest = hashlib.sha1(f"{backend}|{params.to_json()}|chat={chat}|{template_version}".encode()).hexdigest()[:6]
        name = f"{name}-{digest}"
    return name if dataset == DEFAULT_DATASET else f"{dataset}-{name}"


@dataclass
class RunSummary:
    run_id: str
    dataset: str
    n_images: int
    n_captions: int
    rounds: int
    generated: int = 0
    """Associations generated and stored by this call."""
    stored: int = 0
    """Associations of the selected captions stored now (this call's and earlier ones')."""
    seconds: float = 0.0
    tokens: TokenSummary | None = None
    notes: list[str] = field(default_factory=list)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run: what was stored stays; ``message`` says how much and how to go on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class _Caption:
    image_id: int
    caption_index: int
    caption: str

    @property
    def key(self) -> tuple[int, int]:
        return (self.image_id, self.caption_index)


def _open(database: str | os.PathLike[str] | None) -> tuple[duckdb.DuckDBPyConnection, Path]:
    path = db.db_path(database)
    if not path.exists():
        raise SemspaceError(
            f"{path}: no warehouse here yet; load captions first with `python -m ingest` (or pass --db)"
        )
    return db.connect(path), path


def select_captions(
    con: duckdb.DuckDBPyConnection, path: Path, dataset: str, images: Sequence[int] | None, limit: int | None
) -> list[_Caption]:
    """The selected images' captions, by image then caption; errors name what is missing."""
    if not store.table_exists(con, "captions"):
        raise SemspaceError(f"{path}: the warehouse has no captions (raw.captions); run `python -m ingest` first")
    datasets = [r[0] for r in con.execute("select distinct dataset from raw.captions order by 1").fetchall()]
    if dataset not in datasets:
        have = ", ".join(repr(d) for d in datasets) or "none"
        raise SemspaceError(
            f"{path}: unknown dataset {dataset!r}; the warehouse has {have} "
            f"(load it with `python -m ingest SOURCE --dataset {dataset}`)"
        )
    all_ids = [
        r[0]
        for r in con.execute(
            "select distinct image_id from raw.captions where dataset = ? order by 1", [dataset]
        ).fetchall()
    ]
    chosen = all_ids
    if images is not None:
        known = set(all_ids)
        missing = [i for i in images if i not in known]
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (" …" if len(missing) > 10 else "")
            raise SemspaceError(
                f"--images: dataset {dataset!r} has no image {shown} (its image ids are {all_ids[0]}–{all_ids[-1]})"
            )
        chosen = list(images)
    if limit is not None:
        if limit < 1:
            raise SemspaceError(f"--limit must be at least 1, not {limit}")
        chosen = chosen[:limit]
    rows = con.execute(
        "select image_id, caption_index, caption from raw.captions "
        "where dataset = ? and image_id in (select unnest(?::integer[])) order by 1, 2",
        [dataset, chosen],
    ).fetchall()
    return [_Caption(*row) for row in rows]


def _check_same_run(existing: store.RunRecord, wanted: store.RunRecord) -> None:
    fields = ("dataset", "model", "backend", "chat", "prompt_template_version", "params")
    diffs = [
        f"{name} {getattr(existing, name)!r} (now {getattr(wanted, name)!r})"
        for name in fields
        if getattr(existing, name) != getattr(wanted, name)
    ]
    if diffs:
        raise SemspaceError(
            f"run {existing.run_id!r} was started with other settings: {'; '.join(diffs)}. Resume it with its own "
            f"settings, or pass a new --run-id"
        )


@dataclass(frozen=True)
class RunPlan:
    """Everything one run needs, checked on construction: what to generate (dataset, selection,
    rounds), with which model and settings, and how (backend, batch size, tokens at the end).

    A plan is a value: the same plan on the same warehouse continues the same run (see the module
    docstring on resume). What exists only at run time (the warehouse path, a ready backend object,
    the progress bar) is passed to :func:`run` beside it. Every bad value raises
    :class:`~semspace.errors.SemspaceError` with one line naming the field by its command-line flag.
    """

    dataset: str = DEFAULT_DATASET
    """The dataset of ``raw.captions`` whose captions are chained (``--dataset``); a run belongs to one."""
    model: str = DEFAULT_MODEL
    """Hub id, local folder or a named local model (``--model``, e.g. ``smollm2``); stored under its
    named model's full name when it is one."""
    backend: str = "transformers"
    """The backend to build by name (``--backend``: one of :data:`generate.backends.BACKENDS`). When
    :func:`run` is handed a ready backend object instead, that object's ``name`` is what is stored."""
    backend_options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    """Keyword arguments for building the backend (device, dtype; base_url, api_key, concurrency ...;
    ``chat`` is added from :attr:`chat`). Unused with a ready backend or when nothing is left to
    generate. Kept out of ``repr`` (it may hold an API key). Copied on construction."""
    params: GenerationParams = field(default_factory=GenerationParams)
    """Sampling settings and the run's seed (the model card's by default); each batch gets a seed
    derived from ``params.seed``. Part of the run's identity: a resume must use the same."""
    chat: bool | None = None
    """The prompt as the user turn of the chat template / chat endpoint (``--chat``/``--no-chat``);
    ``None``: the ready backend's own ``chat``, else the named model's default (``smollm2``: on), else off."""
    rounds: int = DEFAULT_ROUNDS
    """Associations per caption (``--rounds``, ≥ 1). A larger number for a stored run extends its chains."""
    batch_size: int = DEFAULT_BATCH_SIZE
    """Prompts per backend call (``--batch-size``, ≥ 1). Fixes the batches and so their seeds: resume
    with the same value to get the same texts."""
    images: Sequence[int] | None = None
    """Only these image ids, in this order (``--images``; 0-based, ≥ 0, at least one); ``None``: all
    of the dataset's images. Stored as a tuple."""
    limit: int | None = None
    """Only the first N images (``--limit``, ≥ 1) of :attr:`images` or of the dataset; ``None``: no limit."""
    run_id: str | None = None
    """The run's name (``--run-id``); ``None``: :func:`default_run_id` of the model, dataset, backend,
    params and chat. Naming a stored run continues it (its settings must match)."""
    tokenize: bool = True
    """Write the run's ``raw.association_tokens`` at the end (``--no-tokens``: off)."""

    def __post_init__(self) -> None:
        if not isinstance(self.params, GenerationParams):
            raise SemspaceError(
                f"RunPlan.params must be a GenerationParams, not {type(self.params).__name__}; "
                "build one with generate.GenerationParams(...)"
            )
        names.check_name("--dataset", self.dataset, hint="name a dataset of raw.captions (default coco)")
        if not self.model.strip():
            raise SemspaceError(
                f"--model must not be empty: pass a hub id, a local folder or a named model ({', '.join(NAMED_MODELS)})"
            )
        if self.backend not in BACKENDS:
            raise SemspaceError(f"unknown backend {self.backend!r}: choose one of {', '.join(BACKENDS)}")
        if self.rounds < 1:
            raise SemspaceError(f"--rounds must be at least 1, not {self.rounds}")
        if self.batch_size < 1:
            raise SemspaceError(f"--batch-size must be at least 1, not {self.batch_size}")
        if self.limit is not None and self.limit < 1:
            raise SemspaceError(f"--limit must be at least 1, not {self.limit}")
        if self.images is not None:
            images = tuple(self.images)
            if not images:
                raise SemspaceError("--images names no image: pass at least one image id, or none for all images")
            if min(images) < 0:
                raise SemspaceError(f"--images: image ids are ≥ 0, not {min(images)}")
            object.__setattr__(self, "images", images)
        if self.run_id is not None:
            names.check_name("--run-id", self.run_id, hint="leave it out for the default name, or name the run")
        object.__setattr__(self, "backend_options", dict(self.backend_options))


def run(
    plan: RunPlan,
    *,
    database: str | os.PathLike[str] | None = None,
    backend: Backend | None = None,
    progress: bool | None = None,
) -> RunSummary:
    """Generate the association chains of ``plan``'s captions into ``raw.associations``.

    ``database``: the warehouse file (default: ``$SEMSPACE_DB`` or the project's). ``backend``: a
    ready :class:`Backend` to use instead of building ``plan.backend`` (the caller's to close;
    built ones are built only after the warehouse and the selection were checked, and closed here).
    Continues a stopped run with the same ``run_id``. Writes nothing when the plan, the warehouse,
    the model or the server is wrong. At the end, writes the run's ``raw.association_tokens``
    (``plan.tokenize=False``: not). ``progress``: the tqdm bar (``None``: only on a terminal).
    """
    started = time.monotonic()
    params = plan.params
    rounds = plan.rounds
    dataset = plan.dataset
    model = plan.model
    backend_name = backend.name if backend is not None else plan.backend
    named = NAMED_MODELS.get(model.lower())
    chat = plan.chat
    if chat is None and backend is not None:
        chat = getattr(backend, "chat", None)
    if chat is None:
        chat = named.chat if named else False
    run_id = plan.run_id or default_run_id(model, dataset, backend_name, params, chat)
    if plan.run_id is None:
        names.check_name(
            f"the default run id of model {model!r} on dataset {dataset!r},", run_id, hint="pass --run-id NAME"
        )

    con, path = _open(database)
    built: Backend | None = None
    try:
        captions = select_captions(con, path, dataset, plan.images, plan.limit)
        wanted = store.RunRecord(
            run_id=run_id,
            dataset=dataset,
            model=named.name if named else model,
            model_source=None,
            backend=backend_name,
            chat=chat,
            prompt_template_version=PROMPT_TEMPLATE_VERSION,
            prompt_template=PROMPT_INSTRUCTION + "{text}",
            params=params.as_dict(),
            rounds=rounds,
        )
        store.check_run_id(con, run_id)
        existing = store.get_run(con, run_id)
        if existing is not None:
            _check_same_run(existing, wanted)
        last = store.last_rounds(con, run_id, dataset)
        summary = RunSummary(
            run_id=run_id,
            dataset=dataset,
            n_images=len({c.image_id for c in captions}),
            n_captions=len(captions),
            rounds=rounds,
        )
        pending = sum(max(0, rounds - last.get(c.key, 0)) for c in captions)
        done_before = len(captions) * rounds - pending
        log.info(
            "run %s: %d images, %d captions × %d rounds on %s; %d associations stored, %d to generate",
            run_id,
            summary.n_images,
            len(captions),
            rounds,
            dataset,
            done_before,
            pending,
        )
        if pending:
            if backend is None:
                options = dict(plan.backend_options)
                options.setdefault("chat", chat)
                built = make_backend(plan.backend, model, **options)
                active: Backend = built
            else:
                active = backend
            new_run = None
            if existing is None:
                new_run = store.RunRecord(**{**wanted.__dict__, "model_source": getattr(active, "model_source", None)})
            raise_rounds = (run_id, rounds) if existing is not None and existing.rounds < rounds else None
            summary.generated = _generate(
                con,
                active,
                captions,
                last,
                wanted,
                params,
                plan.batch_size,
                new_run,
                raise_rounds,
                progress,
                done_before,
            )
        summary.stored = done_before + summary.generated
        if plan.tokenize and summary.stored:
            source = built if built is not None else backend
            summary.tokens = _tokens(con, run_id, source, summary)
        summary.seconds = time.monotonic() - started
        return summary
    finally:
        if built is not None:
            built.close()
        con.close()


def _generate(
    con: duckdb.DuckDBPyConnection,
    backend: Backend,
    captions: list[_Caption],
    last: dict[tuple[int, int], int],
    run: store.RunRecord,
    params: GenerationParams,
    batch_size: int,
    new_run: store.RunRecord | None,
    raise_rounds: tuple[str, int] | None,
    progress: bool | None,
    done_before: int,
) -> int:
    """Round-major generation; returns the number of associations stored."""
    from tqdm import tqdm

    delay = float(os.environ.get(BATCH_DELAY_ENV) or 0)
    chat = run.chat
    total = sum(max(0, run.rounds - last.get(c.key, 0)) for c in captions)
    stored = 0
    bar = tqdm(
        total=total,
        unit="assoc",
        desc=run.run_id,
        disable=(not progress) if progress is not None else None,
        dynamic_ncols=True,
        smoothing=0.1,
    )
    try:
        for round_ in range(1, run.rounds + 1):
            todo = [c for c in captions if last.get(c.key, 0) < round_]
            if not todo:
                continue
            if round_ == 1:
                inputs = {c.key: c.caption for c in captions}
            else:
                inputs = store.round_outputs(con, run.run_id, run.dataset, round_ - 1)
            order = sorted(captions, key=lambda c: (-len(inputs[c.key]), c.key))
            batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
            log.info("round %d of %d: %d associations to generate", round_, run.rounds, len(todo))
            bar.set_postfix_str(f"round {round_}/{run.rounds}")
            for number, batch in enumerate(batches, 1):
                members = [c for c in batch if last.get(c.key, 0) < round_]
                if not members:
                    continue
                seed = batch_seed(params.seed, round_, [c.key for c in members])
                texts = [inputs[c.key] for c in members]
                answers = backend.generate([prompt(t) for t in texts], _with_seed(params, seed))
                if len(answers) != len(members):
                    raise SemspaceError(f"backend {backend.name} answered {len(answers)} of {len(members)} prompts")
                rows = [
                    _row(run, params, seed, round_, c, text, answer, chat)
                    for c, text, answer in zip(members, texts, answers)
                ]
                store.insert_associations(con, rows, new_run=new_run, set_rounds=raise_rounds)
                new_run = raise_rounds = None
                for c in members:
                    last[c.key] = round_
                stored += len(rows)
                bar.update(len(rows))
                log.debug(
                    "committed round %d batch %d of %d: %d associations (%d of %d stored)",
                    round_,
                    number,
                    len(batches),
                    len(rows),
                    done_before + stored,
                    done_before + total,
                )
                if delay:
                    time.sleep(delay)
    except KeyboardInterrupt:
        bar.close()
        raise Interrupted(
            f"interrupted: run {run.run_id!r} has {done_before + stored} of {done_before + total} associations "
            f"stored ({stored} by this call); rerun the same command to continue"
        ) from None
    bar.close()
    return stored


def _with_seed(params: GenerationParams, seed: int) -> GenerationParams:
    from dataclasses import replace

    return replace(params, seed=seed)


def _row(
    run: store.RunRecord,
    params: GenerationParams,
    seed: int,
    round_: int,
    caption: _Caption,
    text: str,
    answer: Generation,
    chat: bool,
) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "dataset": run.dataset,
        "image_id": caption.image_id,
        "caption_index": caption.caption_index,
        "round": round_,
        "model": run.model,
        "prompt_template_version": run.prompt_template_version,
        "input_text": text,
        "generated_text": answer.text,
        "output_text": next_text(text, answer.text, chat),
        "n_new_tokens": answer.n_new_tokens,
        "finish_reason": answer.finish_reason,
        "max_new_tokens": answer.max_new_tokens,
        "do_sample": params.sampling,
        "temperature": params.temperature,
        "top_k": params.top_k,
        "top_p": params.top_p,
        "seed": params.seed,
        "sample_seed": seed,
    }


def _tokens(
    con: duckdb.DuckDBPyConnection, run_id: str, backend: Backend | None, summary: RunSummary
) -> TokenSummary | None:
    """Tokens at the end of a run, with the backend's tokenizer, else the run's model's (from a local
    folder or the hub cache only). One that cannot be had is a warning, not a failure."""
    tokenizer = getattr(backend, "tokenizer", None)
    label = getattr(backend, "model_source", None)
    if tokenizer is None:
        from generate.tokens import load_run_tokenizer

        try:
            tokenizer, label = load_run_tokenizer(con, run_id, local_only=True)
        except SemspaceError as exc:
            note = (
                f"no tokens written: {exc}; write them later with "
                f"`python -m generate tokens --run-id {run_id} --tokenizer PATH_OR_HUB_ID`"
            )
            log.warning("%s", note)
            summary.notes.append(note)
            return None
    return tokenize_run(con, run_id, tokenizer, tokenizer_label=label)
