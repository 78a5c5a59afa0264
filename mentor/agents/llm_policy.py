"""The LLM policy that online RL fine-tunes: a softmax over scored action strings, LoRA adapters, a value head.

As in GLAM and TWOSOME, the policy scores every admissible action string as a continuation of the
prompt (normalised log-likelihood: ``sum``, per-``token`` or per-``word``) and takes the softmax of
those scores; a small MLP on the hidden state of the last prompt token estimates the value. peft
LoRA adapters on a frozen base model are the only trained weights besides the value head.

**Frozen trunk, trained head.** LoRA sits only on the last ``trainable_layers`` decoder layers. The
embeddings and lower layers are frozen and carry no adapter, so their output for a given (prompt,
candidates) input never changes during training: :meth:`LLMPolicy.trunk` computes it once, when the
rollout acts, and every PPO epoch runs only the top layers from it (:meth:`LLMPolicy.head`). With
``trainable_layers=None`` every layer carries LoRA and the trunk is the embedding lookup.

**One sequence per sample.** A sample is laid out as its prompt tokens followed by every candidate's
tokens; each candidate continues at the prompt's end (position ids) and attends only to the prompt
and to its own earlier tokens (a 4D attention mask). One pass thus scores all candidates of all
prompts of a batch, with the same token ids and numbers as :func:`mentor.llm.scoring.score_batch`,
and with no KV cache, which lets the pass be split between trunk and head.

It needs a decoder-only Hugging Face model with the Llama layout (``model.embed_tokens``,
``model.layers``, ``model.norm``, ``model.rotary_emb``, ``lm_head``): Llama, SmolLM, Mistral, Qwen2.
"""

from __future__ import annotations

import contextlib
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from peft import LoraConfig, get_peft_model
from torch import nn

from mentor.errors import ConfigError
from mentor.llm.base import Normalize, check_candidates, check_normalize
from mentor.llm.scoring import encode_pairs, normalize_token_logprobs

__all__ = [
    "DEFAULT_LORA_TARGETS",
    "LLMPolicy",
    "PolicyOutput",
    "TreeBatch",
    "TreeSample",
    "TrunkCache",
    "collate_trees",
    "encode_trees",
    "pad_states",
]

#: Every linear layer of a Llama block.
DEFAULT_LORA_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TreeSample:
    """One prompt and its candidates as one token sequence: the prompt, then each candidate in turn."""

    token_ids: tuple[int, ...]
    """Prompt tokens followed by every candidate's tokens."""
    prompt_len: int
    """Tokens of the prompt."""
    candidate_lens: tuple[int, ...]
    """Tokens of each candidate, in order."""
    candidates: tuple[str, ...]
    """The candidate strings (``word`` normalisation counts their words)."""

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)


def encode_trees(tokenizer: Any, prompts: Sequence[str], candidates: Sequence[Sequence[str]]) -> list[TreeSample]:
    """Tokenize each prompt and its candidates (separately, no special tokens, as ``score_batch`` does).

    Raises:
        ValueError: the lists differ in length, a prompt has no candidates, or a candidate is empty.
    """
    if len(prompts) != len(candidates) or not prompts:
        raise ValueError(f"need one candidate list per prompt; got {len(prompts)} prompts, {len(candidates)} lists.")
    candidates = [check_candidates(c) for c in candidates]
    prompt_ids, candidate_ids = encode_pairs(tokenizer, prompts, candidates)
    return [
        TreeSample(
            token_ids=tuple(p + [t for c in cands for t in c]),
            prompt_len=len(p),
            candidate_lens=tuple(len(c) for c in cands),
            candidates=tuple(names),
        )
        for p, cands, names in zip(prompt_ids, candidate_ids, candidates)
    ]


@dataclass
class TreeBatch:
    """Tensors of a batch of :class:`TreeSample`, right-padded to ``T`` tokens; ``N`` candidates in all."""

    samples: list[TreeSample]
    input_ids: torch.Tensor
    """``[B, T]`` token ids (pad id 0)."""
    position_ids: torch.Tensor
    """``[B, T]``: the prompt counts from 0, each candidate continues at the prompt's length."""
    attend: torch.Tensor
    """``[B, 1, T, T]`` True where a query token may attend to a key token."""
    prompt_last: torch.Tensor
    """``[B]`` index of each sample's last prompt token."""
    logit_rows: torch.Tensor
    """``[M]`` flat indices into ``[B*T]`` of the tokens whose next-token logits are needed."""
    target_rows: torch.Tensor
    """``[N, L]`` index into ``logit_rows`` of the logits that predict each candidate token."""
    target_ids: torch.Tensor
    """``[N, L]`` candidate token ids (0 at padding)."""
    target_mask: torch.Tensor
    """``[N, L]`` True at real candidate tokens."""
    owner: torch.Tensor
    """``[N]`` sample of each candidate."""
    slot: torch.Tensor
    """``[N]`` index of each candidate within its sample."""

    @property
    def num_candidates(self) -> list[int]:
        return [len(s.candidate_lens) for s in self.samples]


def collate_trees(samples: Sequence[TreeSample], device: torch.device | str = "cpu") -> TreeBatch:
    """Build the tensors of one forward pass over ``samples``."""
    width = max(s.num_tokens for s in samples)
    size = len(samples)
    input_ids = torch.zeros((size, width), dtype=torch.long)
    position_ids = torch.zeros((size, width), dtype=torch.long)
    attend = torch.eye(width, dtype=torch.bool).repeat(size, 1, 1)
    prompt_last = torch.empty(size, dtype=torch.long)
    rows: dict[int, int] = {}
    target_rows, target_ids, owner, slot = [], [], [], []
    for b, s in enumerate(samples):
        p = s.prompt_len
        input_ids[b, : s.num_tokens] = torch.tensor(s.token_ids)
        position_ids[b, :p] = torch.arange(p)
        attend[b, :p, :p] = torch.ones(p, p, dtype=torch.bool).tril()
        prompt_last[b] = p - 1
        start = p
        for c, length in enumerate(s.candidate_lens):
            span = slice(start, start + length)
            position_ids[b, span] = torch.arange(p, p + length)
            attend[b, span, :p] = True
            attend[b, span, span] = torch.ones(length, length, dtype=torch.bool).tril()
            predictors = [p - 1] + list(range(start, start + length - 1))
            target_rows.append([rows.setdefault(b * width + t, len(rows)) for t in predictors])
            target_ids.append(list(s.token_ids[span]))
            owner.append(b)
            slot.append(c)
            start += length
    longest = max(len(t) for t in target_ids)
    target_mask = torch.tensor([[j < len(t) for j in range(longest)] for t in target_ids], dtype=torch.bool)
    pad = [[0] * (longest - len(t)) for t in target_ids]
    return TreeBatch(
        samples=list(samples),
        input_ids=input_ids.to(device),
        position_ids=position_ids.to(device),
        attend=attend.unsqueeze(1).to(device),
        prompt_last=prompt_last.to(device),
        logit_rows=torch.tensor(list(rows), dtype=torch.long, device=device),
        target_rows=torch.tensor([r + z for r, z in zip(target_rows, pad)], dtype=torch.long, device=device),
        target_ids=torch.tensor([t + z for t, z in zip(target_ids, pad)], dtype=torch.long, device=device),
        target_mask=target_mask.to(device),
        owner=torch.tensor(owner, dtype=torch.long, device=device),
        slot=torch.tensor(slot, dtype=torch.long, device=device),
    )


@dataclass
class PolicyOutput:
    """The action distribution and value of each sample of a batch."""

    logits: torch.Tensor
    """``[B, C_max]`` normalised candidate scores, ``-inf`` beyond a sample's candidates."""
    values: torch.Tensor | None
    """``[B]`` value estimates, or ``None`` when not asked for."""

    def log_probs(self) -> torch.Tensor:
        """``[B, C_max]`` log-softmax of the logits (``-inf`` at padding)."""
        return torch.log_softmax(self.logits, dim=-1)

    def with_prior(self, priors: Sequence[torch.Tensor], weight: float) -> PolicyOutput:
        """This output with ``weight`` times each sample's log prior (one value per candidate) added to its logits."""
        if weight == 0:
            return self
        padded = torch.zeros(self.logits.shape, dtype=self.logits.dtype)
        for i, prior in enumerate(priors):
            padded[i, : len(prior)] = prior
        return PolicyOutput(self.logits + weight * padded.to(self.logits.device), self.values)


def _check_layout(model: Any) -> None:
    body = getattr(model, "model", None)
    missing = [
        name
        for name, owner in (
            ("model", model),
            ("lm_head", model),
            ("embed_tokens", body),
            ("layers", body),
            ("norm", body),
            ("rotary_emb", body),
        )
        if owner is None or not hasattr(owner, name)
    ]
    if missing:
        raise ConfigError(
            f"{type(model).__name__} lacks {', '.join(missing)}; the LLM policy needs a decoder-only model with the "
            "Llama layout (Llama, SmolLM, Mistral, Qwen2)."
        )


class LLMPolicy(nn.Module):
    """An LLM acting by scoring admissible action strings, with LoRA on its top layers and a value head.

    Args:
        model: a causal LM with the Llama layout; its weights are frozen and LoRA is added in place.
        tokenizer: its tokenizer.
        normalize: score of a candidate: ``sum``, per-``token`` mean or per-``word`` sum of log-probs.
        trainable_layers: LoRA goes on this many last decoder layers (``None``: all); the rest is the frozen trunk.
        lora_rank: rank of each LoRA update.
        lora_alpha: LoRA scaling numerator (the update is scaled by ``lora_alpha / lora_rank``).
        lora_dropout: dropout on the LoRA input.
        lora_target_modules: names of the linear layers that get adapters.
        value_hidden_size: width of the value MLP's hidden layer.
        seed: seed of the LoRA and value-head initialisation (the global RNG is left untouched).

    Raises:
        ConfigError: the model lacks the Llama layout, or ``trainable_layers`` exceeds its depth.

    Example:
        >>> from mentor.llm.testing import make_tiny_model, make_tiny_tokenizer
        >>> tok = make_tiny_tokenizer()
        >>> policy = LLMPolicy(make_tiny_model(tok), tok, trainable_layers=1)
        >>> out = policy.act_logits(["Goal: go to the red ball.\\nNext action:"], [[" turn left", " go forward"]])
        >>> out.logits.shape, out.values.shape
        (torch.Size([1, 2]), torch.Size([1]))
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        normalize: Normalize = "token",
        trainable_layers: int | None = 2,
        lora_rank: int = 8,
        lora_alpha: float = 16.0,
        lora_dropout: float = 0.0,
        lora_target_modules: Sequence[str] = DEFAULT_LORA_TARGETS,
        value_hidden_size: int = 256,
        seed: int = 0,
    ):
        super().__init__()
        check_normalize(normalize)
        _check_layout(model)
        num_layers = len(model.model.layers)
        if trainable_layers is not None and not 1 <= trainable_layers <= num_layers:
            raise ConfigError(f"trainable_layers ({trainable_layers}) must be between 1 and the model's {num_layers}.")
        self.normalize = normalize
        self.tokenizer = tokenizer
        self.num_trunk_layers = 0 if trainable_layers is None else num_layers - trainable_layers
        lora = LoraConfig(
            r=lora_rank,
            lora_alpha=lora_alpha,
            lora_dropout=lora_dropout,
            target_modules=list(lora_target_modules),
            layers_to_transform=list(range(self.num_trunk_layers, num_layers)),
            layers_pattern="layers",
            bias="none",
        )
        hidden = model.config.hidden_size
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            torch.manual_seed(seed)
            self.peft_model = get_peft_model(model, lora)
            self.value_head = nn.Sequential(
                nn.Linear(hidden, value_hidden_size), nn.Tanh(), nn.Linear(value_hidden_size, 1)
            )
        self.value_head.to(device=self.device)

    @property
    def lm(self) -> Any:
        """The causal LM with its LoRA layers (peft's base model)."""
        return self.peft_model.get_base_model()

    @property
    def device(self) -> torch.device:
        return next(self.peft_model.parameters()).device

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The LoRA and value-head parameters, the only ones that train."""
        return [p for p in self.parameters() if p.requires_grad]

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Copies of the trained parameters by name (LoRA and value head)."""
        return {name: p.detach().clone() for name, p in self.named_parameters() if p.requires_grad}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load what :meth:`trainable_state_dict` returned.

        Raises:
            ValueError: names differ from this policy's trained parameters.
        """
        params = {name: p for name, p in self.named_parameters() if p.requires_grad}
        if set(state) != set(params):
            missing, extra = sorted(set(params) - set(state)), sorted(set(state) - set(params))
            raise ValueError(f"trained-parameter names differ: missing {missing[:3]}, unexpected {extra[:3]}.")
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(state[name])

    @contextlib.contextmanager
    def reference(self) -> Iterator[None]:
        """Inside, the policy is the frozen base model (adapters off), e.g. for a KL penalty."""
        with self.peft_model.disable_adapter():
            yield

    def encode(self, prompts: Sequence[str], candidates: Sequence[Sequence[str]]) -> list[TreeSample]:
        """Token layout of each (prompt, candidates) sample; see :func:`encode_trees`."""
        return encode_trees(self.tokenizer, prompts, candidates)

    def _mask(self, batch: TreeBatch, dtype: torch.dtype) -> torch.Tensor:
        return torch.zeros(batch.attend.shape, dtype=dtype, device=batch.attend.device).masked_fill(
            ~batch.attend, torch.finfo(dtype).min
        )

    def _layers(self, hidden: torch.Tensor, batch: TreeBatch, layers: Sequence[nn.Module]) -> torch.Tensor:
        body = self.lm.model
        mask = self._mask(batch, hidden.dtype)
        rotary = body.rotary_emb(hidden, position_ids=batch.position_ids)
        for layer in layers:
            hidden = layer(hidden, attention_mask=mask, position_ids=batch.position_ids, position_embeddings=rotary)
        return hidden

    @torch.no_grad()
    def trunk(self, batch: TreeBatch) -> torch.Tensor:
        """``[B, T, H]`` output of the frozen embeddings and lower layers (the input of the trained layers)."""
        body = self.lm.model
        hidden = body.embed_tokens(batch.input_ids)
        return self._layers(hidden, batch, body.layers[: self.num_trunk_layers])

    def head(self, batch: TreeBatch, trunk_states: torch.Tensor, values: bool = True) -> PolicyOutput:
        """Run the trained layers on ``trunk_states``; differentiable when grad is enabled.

        Args:
            batch: the token layout.
            trunk_states: ``[B, T, H]`` from :meth:`trunk` (for the same samples, padded to the same ``T``).
            values: also compute the value of each sample.
        """
        body = self.lm.model
        hidden = body.norm(self._layers(trunk_states, batch, body.layers[self.num_trunk_layers :]))
        flat = hidden.reshape(-1, hidden.shape[-1])
        logits = self.lm.lm_head(flat[batch.logit_rows]).float()
        token_lp = logits[batch.target_rows, batch.target_ids] - logits.logsumexp(-1)[batch.target_rows]
        token_lp = token_lp.masked_fill(~batch.target_mask, 0.0)
        names = [c for s in batch.samples for c in s.candidates]
        scores = normalize_token_logprobs(token_lp, batch.target_mask, names, self.normalize)
        out = scores.new_full((len(batch.samples), max(batch.num_candidates)), float("-inf"))
        out = out.index_put((batch.owner, batch.slot), scores)
        value = None
        if values:
            last = hidden[torch.arange(len(batch.samples), device=hidden.device), batch.prompt_last]
            value = self.value_head(last.float()).squeeze(-1)
        return PolicyOutput(logits=out, values=value)

    def forward(self, batch: TreeBatch, values: bool = True) -> PolicyOutput:
        """The whole model on ``batch``: :meth:`trunk` then :meth:`head`."""
        return self.head(batch, self.trunk(batch), values)

    def act_logits(
        self, prompts: Sequence[str], candidates: Sequence[Sequence[str]], values: bool = True
    ) -> PolicyOutput:
        """Candidate scores (and values) for raw prompts; the convenience path for evaluation and tests."""
        return self(collate_trees(self.encode(prompts, candidates), self.device), values)


def pad_states(states: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-sample ``[T_i, H]`` trunk states as one right-padded ``[B, T, H]`` tensor (matches :func:`collate_trees`)."""
    return nn.utils.rnn.pad_sequence(list(states), batch_first=True)


class TrunkCache:
    """Trunk states of recent samples, least recently used dropped first.

    The trunk is frozen, so a sample's trunk states never change while the adapters train: a prompt
    seen again (frequent in grid worlds) costs only the trained layers. On CPU, misses are batched
    by token count, one pass per length and no padding, so that a sample's states do not depend on
    which samples shared its batch and a resumed run repeats bit for bit; on other devices all
    misses go in one padded pass.

    Args:
        policy: the policy whose trunk is cached.
        max_entries: samples kept; 0 caches nothing and runs every batch's trunk in one pass.
    """

    def __init__(self, policy: LLMPolicy, max_entries: int = 4096):
        if max_entries < 0:
            raise ValueError(f"max_entries ({max_entries}) must be 0 or more.")
        self.policy = policy
        self.max_entries = max_entries
        self._states: OrderedDict[TreeSample, torch.Tensor] = OrderedDict()
        self.hits = 0
        self.passes = 0

    def __len__(self) -> int:
        return len(self._states)

    def __call__(self, samples: Sequence[TreeSample]) -> list[torch.Tensor]:
        """``[T_i, H]`` trunk states of each sample."""
        device = self.policy.device
        if self.max_entries == 0:
            self.passes += 1
            states = self.policy.trunk(collate_trees(samples, device))
            return [states[i, : s.num_tokens] for i, s in enumerate(samples)]
        missing = list(dict.fromkeys(s for s in samples if s not in self._states))
        self.hits += len(samples) - len(missing)
        groups: dict[int, list[TreeSample]] = {}
        for sample in missing:
            groups.setdefault(sample.num_tokens if device.type == "cpu" else 0, []).append(sample)
        for group in groups.values():
            states = self.policy.trunk(collate_trees(group, device))
            self.passes += 1
            for i, sample in enumerate(group):
                self._states[sample] = states[i, : sample.num_tokens]
        out = []
        for s in samples:
            self._states.move_to_end(s)
            out.append(self._states[s])
        while len(self._states) > self.max_entries:
            self._states.popitem(last=False)
        return out
