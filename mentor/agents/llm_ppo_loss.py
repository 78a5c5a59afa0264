"""The clipped PPO objective over scored candidates, with value loss, entropy bonus and KL to the reference."""

from __future__ import annotations

import torch

from mentor.agents.llm_policy import PolicyOutput
from mentor.agents.llm_ppo_config import FinetuneConfig
from mentor.agents.llm_rollout_buffer import RolloutBuffer

__all__ = ["ppo_loss"]


def ppo_loss(
    out: PolicyOutput, buf: RolloutBuffer, index: list[int], config: FinetuneConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of the minibatch ``index`` of ``buf``, given the policy's output on it, and its statistics.

    Returns:
        The loss and ``policy_loss``, ``entropy``, ``value_loss`` (gae), ``kl_ref`` (with ``kl_coef``),
        ``approx_kl``, ``clip_fraction`` and ``loss``.
    """
    cfg = config
    device = out.logits.device
    log_probs = out.log_probs()
    actions = torch.tensor([buf.actions[i] for i in index], device=device)
    old = torch.tensor([buf.logprobs[i] for i in index], device=device)
    adv = buf.advantages[index].to(device)
    if cfg.normalize_advantage and cfg.uses_value and len(index) > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    new = log_probs.gather(-1, actions[:, None]).squeeze(-1)
    log_ratio = new - old
    ratio = log_ratio.exp()
    policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - cfg.clip_range, 1 + cfg.clip_range) * adv).mean()
    probs = log_probs.exp()
    valid = torch.isfinite(log_probs)
    entropy = -(probs * log_probs.masked_fill(~valid, 0.0)).sum(-1).mean()
    loss = policy_loss - cfg.ent_coef * entropy
    stats = {"policy_loss": policy_loss.item(), "entropy": entropy.item()}
    if cfg.uses_value:
        returns = buf.returns[index].to(device)
        values = out.values
        if cfg.clip_range_vf is not None:
            old_values = torch.tensor([buf.values[i] for i in index], device=device)
            values = old_values + (values - old_values).clamp(-cfg.clip_range_vf, cfg.clip_range_vf)
        value_loss = (returns - values).pow(2).mean()
        loss = loss + cfg.vf_coef * value_loss
        stats["value_loss"] = value_loss.item()
    if cfg.kl_coef > 0:
        width = log_probs.shape[1]
        ref = torch.stack(
            [
                torch.nn.functional.pad(buf.ref_logprobs[i], (0, width - len(buf.ref_logprobs[i])), value=-torch.inf)
                for i in index
            ]
        ).to(device)
        kl_ref = (probs * (log_probs - ref).masked_fill(~valid, 0.0)).sum(-1).mean()
        loss = loss + cfg.kl_coef * kl_ref
        stats["kl_ref"] = kl_ref.item()
    with torch.no_grad():
        stats["approx_kl"] = ((ratio - 1) - log_ratio).mean().item()
        stats["clip_fraction"] = ((ratio - 1).abs() > cfg.clip_range).float().mean().item()
    stats["loss"] = loss.item()
    return loss, stats
