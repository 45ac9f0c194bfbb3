"""Backends behind one small interface (:class:`Backend`): ``transformers`` (default), ``openai``
(any OpenAI-compatible server) and ``vllm`` (optional). Each is imported only when chosen."""

from __future__ import annotations

from typing import Any

from generate.backends.base import (
    FINISH_LENGTH,
    FINISH_STOP,
    Backend,
    Generation,
    GenerationParams,
    Tokenizer,
)
from semspace.errors import SemspaceError

BACKENDS = ("transformers", "openai", "vllm")

__all__ = [
    "BACKENDS",
    "FINISH_LENGTH",
    "FINISH_STOP",
    "Backend",
    "Generation",
    "GenerationParams",
    "Tokenizer",
    "make_backend",
]


def make_backend(name: str, model: str, **options: Any) -> Backend:
    """Build backend ``name`` for ``model``; ``options`` are the backend's keyword arguments
    (``None`` values are dropped, so the backends' own defaults apply)."""
    options = {k: v for k, v in options.items() if v is not None}
    if name == "transformers":
        from generate.backends.hf import TransformersBackend

        return TransformersBackend(model, **options)
    if name == "openai":
        from generate.backends.openai_compat import OpenAIBackend

        return OpenAIBackend(model, **options)
    if name == "vllm":
        from generate.backends.vllm_backend import VLLMBackend

        return VLLMBackend(model, **options)
    raise SemspaceError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
