"""The transformers backend on a tiny random Falcon saved like a real model (the real loading path:
``from_pretrained(folder)``), and the vllm backend's adapter against a stand-in ``vllm`` module."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import duckdb
import pytest

import generate
from generate import GenerationParams
from generate.backends.hf import TransformersBackend
from generate.chain import RunPlan
from semspace.errors import SemspaceError
from tests.generate_helpers import shared_tiny_falcon

pytestmark = pytest.mark.usefixtures("ingest_env")

PROMPTS = [
    generate.prompt("A man rides a bike."),
    generate.prompt("Rain."),
    generate.prompt("A boy holds an umbrella in the rain next to a red bus."),
]


@pytest.fixture(scope="module")
def tiny_falcon(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_tiny_falcon(tmp_path_factory)


@pytest.fixture(scope="module")
def backend(tiny_falcon: Path) -> TransformersBackend:
    return TransformersBackend(str(tiny_falcon), device="cpu")


def test_loads_like_a_real_model(backend: TransformersBackend, tiny_falcon: Path) -> None:
    assert type(backend.model).__name__ == "FalconForCausalLM"
    assert backend.model.dtype.__repr__() == "torch.float32"  # float32 on CPU
    tok = backend.tokenizer
    assert tok.padding_side == "left" and tok.pad_token == "<|endoftext|>"  # Falcon has no pad token: eos
    assert backend.eos_ids == [11]
    assert backend.chat is False and backend.format(PROMPTS[0]) == PROMPTS[0]  # the raw prompt, as the note
    assert backend.model_source == str(tiny_falcon)


def test_batched_greedy_equals_one_prompt_at_a_time(backend: TransformersBackend) -> None:
    """Left padding and decoding only the new tokens: a batch gives what each prompt gives alone."""
    params = GenerationParams(max_new_tokens=6, max_length=None, do_sample=False)
    batched = backend.generate(PROMPTS, params)
    single = [backend.generate([p], params)[0] for p in PROMPTS]
    assert [g.text for g in batched] == [g.text for g in single]
    for g in batched:
        assert g.n_new_tokens <= 6 and g.finish_reason in ("stop", "length") and g.max_new_tokens == 6
        assert (g.finish_reason == "length") == (g.n_new_tokens == 6)
        assert "What do you associate" not in g.text  # never the prompt


def test_shared_prefix_cache_gives_the_same_tokens(tiny_falcon: Path) -> None:
    """The prompts' shared instruction is computed once and copied into each row: greedy and seeded
    sampled outputs are those of plain left-padded batches, token for token."""
    cached = TransformersBackend(str(tiny_falcon), device="cpu")
    plain = TransformersBackend(str(tiny_falcon), device="cpu", prefix_cache=False)
    rows = cached.tokenizer([cached.format(p) for p in PROMPTS], add_special_tokens=False)["input_ids"]
    instruction = cached.tokenizer(generate.prompt(""), add_special_tokens=False)["input_ids"]
    shared = cached.shared_prefix(rows)
    assert shared >= len(instruction) - 1 >= cached.MIN_SHARED_PREFIX  # the instruction, maybe less its last piece
    assert "cache" in cached._inputs(rows) or "past_key_values" in cached._inputs(rows)
    assert set(plain._inputs(rows)) == {"input_ids", "attention_mask"}
    for params in (
        GenerationParams(max_new_tokens=12, max_length=None, do_sample=False),
        GenerationParams(max_new_tokens=12, max_length=None, seed=7),
        GenerationParams(max_length=max(map(len, rows)) + 5),
    ):
        assert cached.generate(PROMPTS, params) == plain.generate(PROMPTS, params)
    first = cached._prefix
    cached.generate(PROMPTS[::-1], GenerationParams(max_new_tokens=2, max_length=None))
    assert cached._prefix is first  # the same prefix: its cache is reused, not recomputed
    # no shared prefix worth a pass: plain batches
    assert cached.shared_prefix([[1, 2, 3], [1, 2, 4]]) == 2 < cached.MIN_SHARED_PREFIX
    assert cached.shared_prefix([[5, 6], [5, 6, 7]]) == 1  # each row keeps a token of its own
    assert cached.shared_prefix([[5, 6, 7]]) == 0


def test_seeded_sampling_is_reproducible(backend: TransformersBackend) -> None:
    params = GenerationParams(max_new_tokens=8, max_length=None, seed=123)
    first = backend.generate(PROMPTS, params)
    again = backend.generate(PROMPTS, params)
    other = backend.generate(PROMPTS, GenerationParams(max_new_tokens=8, max_length=None, seed=124))
    assert first == again
    assert [g.text for g in first] != [g.text for g in other]


def test_max_length_is_a_budget_per_prompt(backend: TransformersBackend) -> None:
    """The model card's max_length counts the prompt: in one batch each prompt gets its own budget."""
    lengths = [len(backend.tokenizer(p)["input_ids"]) for p in PROMPTS]
    assert len(set(lengths)) == 3
    params = GenerationParams(max_length=max(lengths) + 3)
    answers = backend.generate(PROMPTS, params)
    for n, g in zip(lengths, answers):
        assert g.max_new_tokens == max(lengths) + 3 - n
        assert g.n_new_tokens <= g.max_new_tokens
        if g.finish_reason == "length":
            assert g.n_new_tokens == g.max_new_tokens


def test_run_with_the_tiny_falcon(good_warehouse: Path, tiny_falcon: Path) -> None:
    summary = generate.run(
        RunPlan(
            dataset="alpha",
            model=str(tiny_falcon),
            rounds=2,
            batch_size=4,
            params=GenerationParams(max_new_tokens=5, max_length=None),
            backend_options={"device": "cpu"},
        ),
        database=good_warehouse,
    )
    assert (summary.generated, summary.stored) == (12, 12)
    con = duckdb.connect(str(good_warehouse), read_only=True)
    try:
        got = con.execute(
            "select image_id, caption_index, round, input_text, generated_text, output_text, n_new_tokens, "
            "finish_reason from raw.associations order by 1, 2, 3"
        ).fetchall()
        caption = dict(
            ((i, k), c)
            for i, k, c in con.execute(
                "select image_id, caption_index, caption from raw.captions where dataset = 'alpha'"
            ).fetchall()
        )
        (source,) = con.execute("select model_source from raw.association_runs").fetchone()
        n_tokens = con.execute("select count(*) from raw.association_tokens").fetchone()[0]
    finally:
        con.close()
    assert source == str(tiny_falcon)
    previous = {}
    for image_id, k, rnd, inp, gen, out, n, reason in got:
        assert inp == (caption[(image_id, k)] if rnd == 1 else previous[(image_id, k)])
        assert out == inp + gen and 1 <= n <= 5 and reason in ("stop", "length")
        previous[(image_id, k)] = out
    assert n_tokens == summary.tokens.n_tokens > 0


def test_topk_sampler_draws_from_transformers_distribution() -> None:
    """TopKSampler's candidates and probabilities are those of transformers' warpers (temperature,
    top-k, top-p, then softmax); its draws follow them."""
    import torch
    from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    from generate.backends.hf import TopKSampler

    torch.manual_seed(0)
    scores = torch.randn(6, 500) * 3
    for temperature, top_k, top_p in [(1.0, 10, 1.0), (0.7, 10, 0.8), (1.3, 50, 0.5), (1.0, 3, 0.3)]:
        warped = scores.clone()
        for warper in (TemperatureLogitsWarper(temperature), TopKLogitsWarper(top_k), TopPLogitsWarper(top_p)):
            warped = warper(None, warped)
        expected = warped.softmax(dim=-1)
        index, probs = TopKSampler(temperature, top_k, top_p).candidates(scores)
        got = torch.zeros_like(expected).scatter_(-1, index, probs)
        assert torch.allclose(got, expected, atol=1e-6)
    sampler = TopKSampler(1.0, 4, 1.0)
    row = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0, 3.0]])
    counts = torch.zeros(6)
    for _ in range(4000):
        out = sampler(None, row)
        assert torch.isfinite(out).sum() == 1
        counts += torch.isfinite(out[0]).float()
    expected = torch.tensor([2.0, 1.0, 0.5, float("-inf"), float("-inf"), 3.0]).softmax(-1)  # the 4 best
    assert counts[3] == counts[4] == 0 and torch.allclose(counts / 4000, expected, atol=0.03)


def test_both_samplers_generate(backend: TransformersBackend) -> None:
    params = GenerationParams(max_new_tokens=5, max_length=None, seed=5)
    backend.sampler = "hf"
    try:
        hf = backend.generate(PROMPTS, params)
    finally:
        backend.sampler = "topk"
    assert all(g.n_new_tokens <= 5 for g in hf)


# --- vllm: optional, imported only when chosen ----------------------------------------------------


def test_vllm_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm → ImportError
    with pytest.raises(SemspaceError, match=r"the vllm backend needs the vllm package.*pip install vllm"):
        generate.make_backend("vllm", "tiiuae/falcon-7b-instruct")


def test_vllm_adapter_with_a_stand_in_module(monkeypatch: pytest.MonkeyPatch, backend: TransformersBackend) -> None:
    """The adapter's contract with vllm.LLM / SamplingParams, checked against a stand-in module."""
    seen: dict[str, object] = {}

    class SamplingParams:
        def __init__(self, **kwargs: object) -> None:
            self.__dict__.update(kwargs)

    class LLM:
        def __init__(self, model: str, dtype: str) -> None:
            seen["init"] = (model, dtype)

        def get_tokenizer(self):
            return backend.tokenizer

        def generate(self, prompts, sampling, use_tqdm=False):
            seen["sampling"] = sampling
            out = []
            for p, _sampling in zip(prompts, sampling):
                completion = types.SimpleNamespace(text=f" echo {len(p)}", token_ids=[1, 2, 11], finish_reason="stop")
                out.append(types.SimpleNamespace(outputs=[completion]))
            return out

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams))
    vb = generate.make_backend("vllm", "some/model")
    answers = vb.generate(PROMPTS[:2], GenerationParams(seed=7))
    assert seen["init"] == ("some/model", "bfloat16")
    assert [a.text for a in answers] == [f" echo {len(p)}" for p in PROMPTS[:2]]
    assert [a.n_new_tokens for a in answers] == [3, 3] and answers[0].finish_reason == "stop"
    sps = seen["sampling"]
    lengths = [len(backend.tokenizer(p)["input_ids"]) for p in PROMPTS[:2]]
    assert [sp.max_tokens for sp in sps] == [200 - n for n in lengths]
    assert [sp.seed for sp in sps] == [7, 8] and sps[0].top_k == 10 and sps[0].temperature == 1.0
