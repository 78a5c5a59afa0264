"""Log-likelihood of candidate continuations on a (model, tokenizer) pair, with a shared prefix.

Pure torch functions, differentiable when grad is enabled: the LLM policy fine-tuner backprops
through :func:`score_batch` (with LoRA) and reads the hidden state of the last prompt token for its
value head.

The shared-prefix method runs every prompt once (one left-padded batch), keeps its KV cache,
repeats the cache for each candidate of that prompt, and scores all candidates of all prompts in
one right-padded batch that continues the position ids. The naive method runs every
prompt+candidate sequence in full; it is the reference the fast path is tested against. Both
tokenize prompt and candidate separately and score the same token ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from mentor.llm.base import Normalize, check_candidates, check_normalize, num_words

__all__ = [
    "ScoreOutput",
    "encode_pairs",
    "normalize_token_logprobs",
    "score_batch",
    "score_candidates",
    "token_logprobs_naive",
    "token_logprobs_shared",
]

Method = Literal["shared", "naive"]


@dataclass
class ScoreOutput:
    """Scores of the candidates of a batch of prompts, flattened over (prompt, candidate) pairs."""

    scores: list[torch.Tensor]
    """Per prompt, the normalised log-likelihood of each of its candidates, shape ``[C_b]``."""
    token_logprobs: torch.Tensor
    """``[N, L]`` log-prob of each candidate token (0 at padding); row ``i`` is pair ``i``."""
    token_mask: torch.Tensor
    """``[N, L]`` True where ``token_logprobs`` holds a real token."""
    owner: torch.Tensor
    """``[N]`` index of the prompt each row belongs to."""
    prompt_hidden: torch.Tensor | None
    """``[B, H]`` final-layer hidden state at the last prompt token, if asked for."""
    num_tokens: int
    """Tokens the model read."""

    def padded(self, fill: float = float("-inf")) -> torch.Tensor:
        """Scores as one ``[B, C_max]`` tensor, ``fill`` where a prompt has fewer candidates."""
        width = max(s.numel() for s in self.scores)
        out = self.scores[0].new_full((len(self.scores), width), fill)
        for b, s in enumerate(self.scores):
            out[b, : s.numel()] = s
        return out


def encode_pairs(
    tokenizer: Any, prompts: Sequence[str], candidates: Sequence[Sequence[str]]
) -> tuple[list[list[int]], list[list[list[int]]]]:
    """Token ids of each prompt and of each candidate, tokenized separately, no special tokens.

    An empty prompt becomes the BOS (else EOS) token, so that the first candidate token has a context.

    Raises:
        ValueError: a candidate tokenizes to no tokens.
    """
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    prompt_ids = [ids or [start] for ids in tokenizer(list(prompts), add_special_tokens=False)["input_ids"]]
    flat = [c for cands in candidates for c in cands]
    flat_ids = tokenizer(flat, add_special_tokens=False)["input_ids"]
    for c, ids in zip(flat, flat_ids):
        if not ids:
            raise ValueError(f"candidate {c!r} tokenizes to no tokens.")
    candidate_ids, i = [], 0
    for cands in candidates:
        candidate_ids.append(flat_ids[i : i + len(cands)])
        i += len(cands)
    return prompt_ids, candidate_ids


def _device(model: Any) -> torch.device:
    return next(model.parameters()).device


def _pad_id(tokenizer: Any) -> int:
    for token_id in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if token_id is not None:
            return token_id
    return 0


def _right_pad(rows: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros((len(rows), width), dtype=torch.long, device=device)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids, mask


def _gather_logprobs(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    logits = logits.float()
    return logits.gather(-1, ids.unsqueeze(-1)).squeeze(-1) - logits.logsumexp(-1)


def token_logprobs_shared(
    model: Any,
    prompt_ids: list[list[int]],
    candidate_ids: list[list[list[int]]],
    pad_id: int,
    return_prompt_hidden: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Candidate token log-probs with one pass over the prompts and one over all candidates.

    The candidate pass is skipped when every candidate is one token long.

    Args:
        model: a causal LM (``transformers`` or a ``peft`` wrapper of one) that takes
            ``past_key_values``, ``position_ids`` and ``logits_to_keep``.
        prompt_ids: token ids of each prompt (non-empty).
        candidate_ids: for each prompt, the token ids of each of its candidates (non-empty).
        pad_id: id used for padding (masked out).
        return_prompt_hidden: also return the final-layer hidden state at each last prompt token.

    Returns:
        ``(token_logprobs [N, L], token_mask [N, L], owner [N], prompt_hidden [B, H] or None)``,
        rows ordered prompt by prompt, candidate by candidate.
    """
    device = _device(model)
    width = max(len(p) for p in prompt_ids)
    prompts = torch.full((len(prompt_ids), width), pad_id, dtype=torch.long, device=device)
    prompt_mask = torch.zeros_like(prompts)
    for b, p in enumerate(prompt_ids):
        prompts[b, width - len(p) :] = torch.tensor(p, dtype=torch.long)
        prompt_mask[b, width - len(p) :] = 1
    out = model(
        input_ids=prompts,
        attention_mask=prompt_mask,
        position_ids=(prompt_mask.cumsum(-1) - 1).clamp(min=0),
        use_cache=True,
        output_hidden_states=return_prompt_hidden,
        logits_to_keep=1,
    )
    hidden = out.hidden_states[-1][:, -1] if return_prompt_hidden else None

    owner = torch.tensor([b for b, cands in enumerate(candidate_ids) for _ in cands], device=device)
    cands, cand_mask = _right_pad([c for per_prompt in candidate_ids for c in per_prompt], pad_id, device)
    logits = out.logits[:, -1][owner].unsqueeze(1)
    width = cands.shape[1]
    if width > 1:
        cache = out.past_key_values
        cache.batch_select_indices(owner)
        cont = model(
            input_ids=cands,
            attention_mask=torch.cat([prompt_mask[owner], cand_mask], dim=-1),
            position_ids=prompt_mask.sum(-1)[owner].unsqueeze(-1) + torch.arange(width, device=device),
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=torch.arange(width - 1, device=device),
        )
        logits = torch.cat([logits, cont.logits], dim=1)
    mask = cand_mask.bool()
    return _gather_logprobs(logits, cands).masked_fill(~mask, 0.0), mask, owner, hidden


def token_logprobs_naive(
    model: Any,
    prompt_ids: list[list[int]],
    candidate_ids: list[list[list[int]]],
    pad_id: int,
    return_prompt_hidden: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Reference for :func:`token_logprobs_shared`: one right-padded batch of full prompt+candidate sequences.

    Same arguments and returns as :func:`token_logprobs_shared`.
    """
    device = _device(model)
    pairs = [(b, c) for b, per_prompt in enumerate(candidate_ids) for c in per_prompt]
    ids, mask = _right_pad([prompt_ids[b] + c for b, c in pairs], pad_id, device)
    out = model(input_ids=ids, attention_mask=mask, output_hidden_states=return_prompt_hidden)
    width = max(len(c) for _, c in pairs)
    rows = []
    for i, (b, c) in enumerate(pairs):
        p = len(prompt_ids[b])
        row = _gather_logprobs(out.logits[i, p - 1 : p + len(c) - 1], ids[i, p : p + len(c)])
        rows.append(torch.nn.functional.pad(row, (0, width - len(c))))
    token_lp = torch.stack(rows)
    token_mask = torch.arange(width, device=device) < torch.tensor([len(c) for _, c in pairs], device=device)[:, None]
    owner = torch.tensor([b for b, _ in pairs], device=device)
    hidden = None
    if return_prompt_hidden:
        first = {b: i for i, (b, _) in reversed(list(enumerate(pairs)))}
        hidden = torch.stack([out.hidden_states[-1][first[b], len(prompt_ids[b]) - 1] for b in range(len(prompt_ids))])
    return token_lp, token_mask, owner, hidden


def normalize_token_logprobs(
    token_logprobs: torch.Tensor, token_mask: torch.Tensor, candidates: Sequence[str], normalize: Normalize
) -> torch.Tensor:
    """``[N]`` sum, per-token mean or per-word sum of each row's token log-probs."""
    total = token_logprobs.sum(-1)
    if normalize == "sum":
        return total
    if normalize == "token":
        return total / token_mask.sum(-1).clamp(min=1)
    words = torch.tensor([num_words(c) for c in candidates], dtype=total.dtype, device=total.device)
    return total / words


def score_batch(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    candidates: Sequence[Sequence[str]],
    normalize: Normalize = "sum",
    return_prompt_hidden: bool = False,
    method: Method = "shared",
) -> ScoreOutput:
    """Score the candidates of several prompts: one pass over the prompts, one over all candidates.

    Args:
        model: a causal LM, or a ``peft`` wrapper of one.
        tokenizer: its tokenizer.
        prompts: raw prompt texts (no chat template is applied).
        candidates: for each prompt, its candidate continuations (each non-empty).
        normalize: ``sum``, per-``token`` mean, or per-``word`` sum of token log-probs.
        return_prompt_hidden: also return the ``[B, H]`` hidden state of each last prompt token.
        method: ``shared`` (KV cache of the prompt reused) or ``naive`` (full sequences; the reference).

    Returns:
        A :class:`ScoreOutput`; its tensors carry gradients when grad is enabled.

    Raises:
        ValueError: lengths disagree, ``normalize`` or ``method`` is unknown, or a candidate is empty.

    Example:
        >>> from mentor.llm.testing import make_tiny_model, make_tiny_tokenizer
        >>> tok = make_tiny_tokenizer(); model = make_tiny_model(tok)
        >>> out = score_batch(model, tok, ["go to the red ball."], [[" turn left", " go forward"]])
        >>> out.padded().shape
        torch.Size([1, 2])
    """
    check_normalize(normalize)
    if method not in ("shared", "naive"):
        raise ValueError(f"method={method!r} is not one of shared, naive.")
    if len(prompts) != len(candidates) or not prompts:
        raise ValueError(f"need one candidate list per prompt; got {len(prompts)} prompts, {len(candidates)} lists.")
    candidates = [check_candidates(c) for c in candidates]
    prompt_ids, candidate_ids = encode_pairs(tokenizer, prompts, candidates)
    run = token_logprobs_shared if method == "shared" else token_logprobs_naive
    pad_id = _pad_id(tokenizer)
    token_lp, token_mask, owner, hidden = run(model, prompt_ids, candidate_ids, pad_id, return_prompt_hidden)
    flat = [c for cands in candidates for c in cands]
    scores = normalize_token_logprobs(token_lp, token_mask, flat, normalize)
    prompts_read = owner.tolist() if method == "naive" else range(len(prompt_ids))
    num_tokens = sum(len(prompt_ids[b]) for b in prompts_read) + int(token_mask.sum())
    return ScoreOutput(
        scores=list(scores.split([len(c) for c in candidates])),
        token_logprobs=token_lp,
        token_mask=token_mask,
        owner=owner,
        prompt_hidden=hidden,
        num_tokens=num_tokens,
    )


def score_candidates(
    model: Any, tokenizer: Any, prompt: str, candidates: Sequence[str], normalize: Normalize = "sum"
) -> torch.Tensor:
    """``[C]`` scores of one prompt's candidates (shared prefix); see :func:`score_batch`."""
    return score_batch(model, tokenizer, [prompt], [candidates], normalize).scores[0]
