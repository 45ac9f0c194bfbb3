"""``python -m generate run|tokens``: the association chain into the warehouse, and its token sets."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from generate import chain
from generate.backends import BACKENDS, GenerationParams
from generate.backends.openai_compat import DEFAULT_BASE_URL
from generate.models import DEFAULT_MODEL, NAMED_MODELS
from semspace import db
from semspace.errors import SemspaceError

DEFAULTS = GenerationParams()


def parser(prog: str = "python -m generate") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="The research note's LLM association chain: for each caption, 5 rounds of "
        "'What do you associate with ...' fed back into the model, stored round by round in "
        "raw.associations (resumable), then the distinct tokens per image in raw.association_tokens.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser(
        "run",
        help="generate (or continue) an association run",
        description="Generate the chains of the selected captions; rerun the same command to continue a "
        "stopped run (nothing is generated twice). Ctrl-C keeps what is stored.",
    )
    r.add_argument("--dataset", default=chain.DEFAULT_DATASET, help="dataset in raw.captions (default: coco)")
    r.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"hub id, local folder, or a named local model ({', '.join(NAMED_MODELS)}); default {DEFAULT_MODEL}",
    )
    r.add_argument("--backend", choices=BACKENDS, default="transformers", help="default: transformers")
    r.add_argument("--rounds", type=int, default=chain.DEFAULT_ROUNDS, help="associations per caption (default 5)")
    r.add_argument("--batch-size", type=int, default=chain.DEFAULT_BATCH_SIZE, help="prompts per batch (default 16)")
    r.add_argument("--limit", type=int, help="only the first N images (of --images, if given)")
    r.add_argument("--images", help="only these image ids, e.g. 1,2,5-9 (0-based positions)")
    r.add_argument(
        "--run-id",
        help="the run's name (default: the model's short name, e.g. falcon-7b-instruct, "
        "plus a hash of non-default settings)",
    )
    g = r.add_argument_group("generation (defaults: falcon-7b-instruct's model card)")
    g.add_argument(
        "--max-new-tokens",
        type=int,
        help="fixed budget of new tokens per prompt (default: --max-length minus the prompt's tokens)",
    )
    g.add_argument(
        "--max-length",
        type=int,
        help=f"prompt + new tokens, per prompt (default {DEFAULTS.max_length}; "
        "off when --max-new-tokens is given alone)",
    )
    g.add_argument("--temperature", type=float, default=DEFAULTS.temperature, help="default 1.0 (0: greedy)")
    g.add_argument("--top-k", type=int, default=DEFAULTS.top_k, help="default 10 (0: off)")
    g.add_argument("--top-p", type=float, default=DEFAULTS.top_p, help="default 1.0")
    g.add_argument("--seed", type=int, default=DEFAULTS.seed, help="default 0")
    g.add_argument("--greedy", action="store_true", help="no sampling (do_sample=False)")
    chat_group = g.add_mutually_exclusive_group()
    chat_group.add_argument(
        "--chat",
        dest="chat",
        action="store_true",
        default=None,
        help="the prompt as the user message of the chat template / chat endpoint (default for smollm2)",
    )
    chat_group.add_argument("--no-chat", dest="chat", action="store_false", help="the raw prompt (default otherwise)")
    t = r.add_argument_group("transformers and vllm backends")
    t.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda, cuda:1 ...")
    t.add_argument(
        "--dtype",
        default="auto",
        choices=("auto", "bfloat16", "float16", "float32"),
        help="auto: bfloat16 on a GPU, float32 on CPU",
    )
    o = r.add_argument_group("openai backend (any OpenAI-compatible server)")
    o.add_argument("--base-url", default=DEFAULT_BASE_URL, help=f"default {DEFAULT_BASE_URL}")
    o.add_argument("--api-key", help="default: $OPENAI_API_KEY, if set")
    o.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    o.add_argument("--retries", type=int, default=5, help="tries after a 5xx/429/connection error (default 5)")
    o.add_argument("--timeout", type=float, default=120.0, help="seconds per request (default 120)")
    o.add_argument(
        "--tokenizer",
        help="the served model's tokenizer (folder or hub id): prompt lengths for "
        "--max-length and the tokens table (default: the model name, from the local hub cache)",
    )
    r.add_argument("--no-tokens", action="store_true", help="do not write raw.association_tokens at the end")
    r.add_argument("--db", help=f"warehouse file (default: $SEMSPACE_DB or {db.DEFAULT_DB})")
    r.add_argument("-v", "--verbose", action="store_true", help="log each stored batch")

    k = sub.add_parser(
        "tokens",
        help="(re)write raw.association_tokens of a run",
        description="Tokenize a run's chains per image with the model's own tokenizer.",
    )
    k.add_argument("--run-id", required=True)
    k.add_argument("--tokenizer", help="folder, hub id or named model (default: the run's model)")
    k.add_argument("--db", help=f"warehouse file (default: $SEMSPACE_DB or {db.DEFAULT_DB})")
    k.add_argument("-v", "--verbose", action="store_true")
    return p


def run_plan(args: argparse.Namespace) -> chain.RunPlan:
    """The :class:`~generate.chain.RunPlan` of a parsed ``run`` command (``--db``, ``-v`` are not
    part of it). Raises SemspaceError on a bad value, before anything is opened or loaded."""
    images = chain.parse_images(args.images) if args.images is not None else None
    params = _params(args)
    return chain.RunPlan(
        dataset=args.dataset,
        model=args.model,
        backend=args.backend,
        backend_options=_backend_options(args),
        params=params,
        chat=args.chat,
        rounds=args.rounds,
        batch_size=args.batch_size,
        images=images,
        limit=args.limit,
        run_id=args.run_id,
        tokenize=not args.no_tokens,
    )


def _params(args: argparse.Namespace) -> GenerationParams:
    max_length = args.max_length
    if max_length is None and args.max_new_tokens is None:
        max_length = DEFAULTS.max_length
    return GenerationParams(
        max_new_tokens=args.max_new_tokens,
        max_length=max_length,
        do_sample=not args.greedy,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
    )


def _backend_options(args: argparse.Namespace) -> dict[str, object]:
    if args.backend == "transformers":
        return {"device": args.device, "dtype": args.dtype}
    if args.backend == "vllm":
        return {"dtype": args.dtype}
    tokenizer = None
    if args.tokenizer or args.model:
        tokenizer = _optional_tokenizer(args.tokenizer or args.model, explicit=bool(args.tokenizer))
    return {
        "base_url": args.base_url,
        "api_key": args.api_key or os.environ.get("OPENAI_API_KEY"),
        "concurrency": args.concurrency,
        "retries": args.retries,
        "timeout": args.timeout,
        "tokenizer": tokenizer,
    }


def _optional_tokenizer(name: str, explicit: bool) -> object | None:
    """The openai backend's tokenizer: one named with --tokenizer must load; the model's own is tried
    from local files only, and its absence is only logged."""
    from generate.backends.hf import load_tokenizer
    from generate.models import resolve

    try:
        return load_tokenizer(resolve(name), local_only=not explicit)
    except SemspaceError as exc:
        if explicit:
            raise
        logging.getLogger("generate").info("no local tokenizer for %s (%s); budgets use --max-length as is", name, exc)
        return None


def main(argv: list[str] | None = None, prog: str = "python -m generate") -> int:
    args = parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    if not args.verbose:
        for noisy in ("httpx", "urllib3", "filelock", "huggingface_hub"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if args.command == "tokens":
            return _tokens(args)
        summary = chain.run(run_plan(args), database=args.db)
    except SemspaceError as exc:
        message = " ".join(str(exc).split())
        print(f"generate: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        message = getattr(exc, "message", "interrupted; what was stored is kept: rerun the same command to continue")
        print(f"generate: {message}", file=sys.stderr)
        return 130
    tokens = f"; tokens: {summary.tokens.n_tokens} over {summary.tokens.n_images} images" if summary.tokens else ""
    print(
        f"run {summary.run_id!r} on {summary.dataset!r}: {summary.n_images} images, {summary.n_captions} captions × "
        f"{summary.rounds} rounds; {summary.generated} associations generated in {summary.seconds:.1f} s, "
        f"{summary.stored} stored{tokens} ({db.db_path(args.db)})"
    )
    return 0


def _tokens(args: argparse.Namespace) -> int:
    from generate.tokens import load_run_tokenizer, tokenize_run

    if not db.db_path(args.db).exists():
        raise SemspaceError(f"{db.db_path(args.db)}: no warehouse here yet; run `python -m ingest` first")
    con = db.connect(args.db)
    try:
        tokenizer, label = load_run_tokenizer(con, args.run_id, args.tokenizer)
        summary = tokenize_run(con, args.run_id, tokenizer, tokenizer_label=label)
    finally:
        con.close()
    print(
        f"run {summary.run_id!r}: {summary.n_tokens} tokens over {summary.n_images} images"
        + (f" ({summary.n_skipped} images with unfinished chains left out)" if summary.n_skipped else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
