"""The note's LLM association chain into the warehouse: ``raw.associations`` (one row per caption ×
round), ``raw.association_runs`` (one row per run) and ``raw.association_tokens`` (the distinct
tokens of each image's chains). Resumable: a stopped run continues where it stopped.

>>> from generate import RunPlan, run
>>> run(RunPlan(dataset="coco", model="tiiuae/falcon-7b-instruct", limit=10))      # doctest: +SKIP
"""

from __future__ import annotations

from generate.backends import BACKENDS, Backend, Generation, GenerationParams, make_backend
from generate.chain import (
    PROMPT_INSTRUCTION,
    PROMPT_TEMPLATE_VERSION,
    Interrupted,
    RunPlan,
    RunSummary,
    default_run_id,
    next_text,
    parse_images,
    prompt,
    run,
)
from generate.models import DEFAULT_MODEL, NAMED_MODELS
from generate.tokens import TOKENIZATION, TokenSummary, load_run_tokenizer, tokenize_run

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "NAMED_MODELS",
    "PROMPT_INSTRUCTION",
    "PROMPT_TEMPLATE_VERSION",
    "TOKENIZATION",
    "Backend",
    "Generation",
    "GenerationParams",
    "Interrupted",
    "RunPlan",
    "RunSummary",
    "TokenSummary",
    "default_run_id",
    "load_run_tokenizer",
    "make_backend",
    "next_text",
    "parse_images",
    "prompt",
    "run",
    "tokenize_run",
]
