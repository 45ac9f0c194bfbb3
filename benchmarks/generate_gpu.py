"""Association throughput at falcon-7b-instruct's real size on a GPU: the note's way against ours.

No weights can be downloaded, so the model is `FalconForCausalLM` built from the real
`config.json` (7.2B parameters) with random weights, in bfloat16 on the GPU, with the real
tokenizer. Random weights almost never emit end-of-text, so every generation runs its whole token
budget: the timings are an upper bound for the real model, whose answers stop after one sentence.

1. **one at a time** (the note's way): `pipeline("text-generation")` called once per prompt with
   the model card's settings (`max_length=200, do_sample=True, top_k=10`);
2. **batched** (`generate`'s transformers backend): the same prompts in batches of each
   `--batch-sizes`, left-padded, the same budget per prompt (`max_length` 200 → 200 − prompt tokens).

It prints generations per second, new tokens per second, the ratio, and the projected hours for the
note's 125,050 generations (5000 images × 5 or 6 captions × 5 rounds) against the note's "several
seconds per generation". Run where a GPU is: `python benchmarks/generate_gpu.py --config-dir DIR`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOTE_GENERATIONS = 125_050
CAPTIONS = [
    "A young girl eating a slice of pizza.",
    "A man riding a wave on top of a surfboard.",
    "Two dogs playing with a frisbee in a grassy park.",
    "A red double decker bus driving down a city street.",
    "A plate of food with broccoli, rice and chicken.",
    "A cat sleeping on the hood of a parked car.",
    "People standing on a train platform waiting for the train.",
    "A kitchen with wooden cabinets and a stainless steel refrigerator.",
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/generate_gpu.py", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--config-dir",
        default=str(ROOT.parent / "shared" / "data" / "falcon-7b-instruct"),
        help="folder with falcon-7b-instruct's config.json and tokenizer files",
    )
    p.add_argument("--single", type=int, default=3, help="prompts run one at a time (default 3)")
    p.add_argument("--batch-sizes", default="64,256", help="batch sizes of the batched runs (default 64,256)")
    p.add_argument("--batches", type=int, default=1, help="batches timed per batch size (default 1)")
    p.add_argument("--max-length", type=int, default=200, help="the model card's max_length (default 200)")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)

    import torch
    from transformers import AutoTokenizer, FalconConfig, FalconForCausalLM, pipeline

    from generate.backends.base import GenerationParams
    from generate.backends.hf import TransformersBackend
    from generate.chain import prompt

    if not torch.cuda.is_available():
        print("generate_gpu: no CUDA device", file=sys.stderr)
        return 1
    device = torch.cuda.get_device_name(0)
    config = FalconConfig.from_pretrained(args.config_dir)
    tokenizer = AutoTokenizer.from_pretrained(args.config_dir)
    start = time.perf_counter()
    torch.manual_seed(0)
    with torch.device("cuda"):
        torch.set_default_dtype(torch.bfloat16)
        model = FalconForCausalLM(config).eval()
        torch.set_default_dtype(torch.float32)
    n_params = sum(t.numel() for t in model.parameters())
    print(
        f"{device}: FalconForCausalLM {n_params / 1e9:.2f}B parameters, random weights, bfloat16, "
        f"built in {time.perf_counter() - start:.1f} s",
        flush=True,
    )

    prompts = [prompt(CAPTIONS[i % len(CAPTIONS)]) for i in range(max(map(int, args.batch_sizes.split(","))))]
    rows = []

    # 1. the note's way: one pipeline call per prompt
    generator = pipeline("text-generation", model=model, tokenizer=tokenizer, device=0)

    def card_budget(text: str) -> int:
        """The model card's max_length=200 as new tokens: transformers 5's pipeline sets its own
        max_new_tokens (256), which would otherwise win over max_length."""
        return max(1, args.max_length - len(tokenizer(text)["input_ids"]))

    generator(
        prompts[0],
        max_new_tokens=card_budget(prompts[0]),
        do_sample=True,
        top_k=10,
        eos_token_id=tokenizer.eos_token_id,
    )  # warm-up
    times, new_tokens = [], 0
    for text in prompts[: args.single]:
        torch.cuda.synchronize()
        t = time.perf_counter()
        out = generator(
            text,
            max_new_tokens=card_budget(text),
            do_sample=True,
            top_k=10,
            eos_token_id=tokenizer.eos_token_id,
            return_full_text=False,
        )
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
        new_tokens += len(tokenizer(out[0]["generated_text"])["input_ids"])
    single_rate = args.single / sum(times)
    rows.append(
        {
            "way": "one at a time (pipeline)",
            "batch": 1,
            "generations": args.single,
            "seconds": sum(times),
            "per_second": single_rate,
            "tokens_per_second": new_tokens / sum(times),
            "median_seconds_per_generation": statistics.median(times),
        }
    )
    print(
        f"one at a time: {statistics.median(times):.2f} s per generation (median of {args.single}), "
        f"{new_tokens / sum(times):.1f} new tokens/s",
        flush=True,
    )

    # 2. ours: the transformers backend, batched
    backend = TransformersBackend.from_loaded(model, tokenizer, device="cuda")
    params = GenerationParams(max_length=args.max_length, do_sample=True, top_k=10, seed=0)
    for batch in map(int, args.batch_sizes.split(",")):
        backend.generate(prompts[: min(batch, 8)], params)  # warm-up
        total_time, total_new, n = 0.0, 0, 0
        for _ in range(args.batches):
            torch.cuda.synchronize()
            t = time.perf_counter()
            results = backend.generate(prompts[:batch], params)
            torch.cuda.synchronize()
            total_time += time.perf_counter() - t
            total_new += sum(r.n_new_tokens for r in results)
            n += len(results)
        rows.append(
            {
                "way": "batched (generate backend)",
                "batch": batch,
                "generations": n,
                "seconds": total_time,
                "per_second": n / total_time,
                "tokens_per_second": total_new / total_time,
            }
        )
        print(
            f"batched {batch}: {n / total_time:.2f} generations/s, {total_new / total_time:.0f} new tokens/s, "
            f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB",
            flush=True,
        )

    print(f"\n## {device}, falcon-7b size (random weights, bf16), max_length {args.max_length}\n")
    print("| way | batch | generations | s | generations/s | new tokens/s | vs one at a time | hours for 125,050 |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        hours = NOTE_GENERATIONS / row["per_second"] / 3600
        row["projected_hours"] = hours
        print(
            f"| {row['way']} | {row['batch']} | {row['generations']} | {row['seconds']:.1f} | "
            f"{row['per_second']:.2f} | {row['tokens_per_second']:.0f} | {row['per_second'] / single_rate:.1f}× | "
            f"{hours:.1f} |"
        )
    print('\nThe note: "several seconds" per generation, one at a time: ~100+ hours for 125,050.')
    if args.json:
        Path(args.json).write_text(json.dumps({"device": device, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
