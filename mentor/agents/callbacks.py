"""SB3 callbacks that write a mentor run folder: episode outcomes and resumable checkpoints."""

from __future__ import annotations

import json
import time

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from mentor.runs import RunDir, atomic_write_text

__all__ = ["LogEpisodeOutcomes", "SaveResumableCheckpoint", "save_checkpoint", "CHECKPOINT_STATE"]

CHECKPOINT_STATE = "state.json"


class LogEpisodeOutcomes(BaseCallback):
    """Append every finished training episode's ``info["episode_outcome"]`` to ``metrics.jsonl``.

    Each record carries ``step`` (env steps so far), so protocols such as the Crafter score can be
    computed over exactly the episodes inside a step budget.
    """

    def __init__(self, run: RunDir, verbose: int = 0):
        super().__init__(verbose)
        self.run = run
        self._start = time.perf_counter()

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", []):
            outcome = info.get("episode_outcome")
            if outcome is not None:
                self.run.append_metrics(
                    {
                        "kind": "episode",
                        "step": self.num_timesteps,
                        "time": time.perf_counter() - self._start,
                        **outcome,
                    }
                )
                self.logger.record_mean("rollout/success_rate", float(outcome["success"]))
                self.logger.record_mean("rollout/progression", outcome["progression"])
        return True


def save_checkpoint(model: BaseAlgorithm, run: RunDir) -> None:
    """Save everything needed to resume: model, optimiser (inside the zip), VecNormalize, replay buffer, step."""
    run.checkpoints.mkdir(parents=True, exist_ok=True)
    model.save(run.checkpoints / "model.tmp.zip")
    (run.checkpoints / "model.tmp.zip").replace(run.checkpoints / "model.zip")
    env = model.get_env()
    if isinstance(env, VecNormalize):
        env.save(str(run.checkpoints / "vecnormalize.pkl"))
    if isinstance(model, OffPolicyAlgorithm):
        model.save_replay_buffer(run.checkpoints / "replay_buffer.pkl")
    atomic_write_text(run.checkpoints / CHECKPOINT_STATE, json.dumps({"num_timesteps": model.num_timesteps}))


class SaveResumableCheckpoint(BaseCallback):
    """Every ``save_freq`` env steps (summed over envs), write a resumable checkpoint into the run folder."""

    def __init__(self, run: RunDir, save_freq: int, verbose: int = 0):
        super().__init__(verbose)
        if save_freq <= 0:
            raise ValueError(f"save_freq ({save_freq}) must be positive")
        self.run = run
        self.save_freq = save_freq
        self._last_save = 0

    def _init_callback(self) -> None:
        self._last_save = self.num_timesteps

    def _on_step(self) -> bool:
        if self.num_timesteps - self._last_save >= self.save_freq:
            save_checkpoint(self.model, self.run)
            self._last_save = self.num_timesteps
        return True
