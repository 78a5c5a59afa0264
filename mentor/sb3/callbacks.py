"""SB3 callbacks that write a mentor run folder: episode outcomes, resumable checkpoints and snapshots."""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecNormalize
from tqdm import TqdmExperimentalWarning
from tqdm.rich import tqdm

from mentor.runs import RunDir

__all__ = [
    "LogEpisodeOutcomes",
    "SaveResumableCheckpoint",
    "SaveSnapshots",
    "snapshot_paths",
    "ShowTrainingProgress",
    "save_checkpoint",
    "save_atomically",
    "CHECKPOINT_STATE",
    "CHECKPOINT_FILES",
    "PREVIOUS_CHECKPOINT",
]

#: The file of a checkpoint folder that says it is complete: ``{"num_timesteps": ..., "elapsed_seconds": ...}``.
CHECKPOINT_STATE = "state.json"
#: The other files a checkpoint folder may hold.
CHECKPOINT_FILES = ("model.zip", "vecnormalize.pkl", "replay_buffer.pkl")
#: Subfolder of ``checkpoints/`` holding the checkpoint before the newest.
PREVIOUS_CHECKPOINT = "previous"


class LogEpisodeOutcomes(BaseCallback):
    """Append every finished training episode's ``info["episode_outcome"]`` to ``metrics.jsonl``.

    Each record carries ``step`` (env steps so far), so protocols such as the Crafter score can be
    computed over exactly the episodes inside a step budget, and ``time`` (seconds of training so far,
    counting ``elapsed`` seconds spent before this session, e.g. before a resume).
    """

    def __init__(self, run: RunDir, elapsed: float = 0.0, verbose: int = 0):
        super().__init__(verbose)
        self.run = run
        self._start = time.perf_counter() - elapsed

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


def save_atomically(write: Callable[[Path], object], path: Path) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, flush it to disk, then rename it onto ``path``.

    Readers (and a resume after a kill) see the old file or the new one, never half of one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")  # keeps the suffix SB3 insists on
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    with path.open("rb") as f:
        os.fsync(f.fileno())


def save_checkpoint(model: BaseAlgorithm, run: RunDir, elapsed: float | None = None) -> None:
    """Save everything needed to resume: model, optimiser (inside the zip), VecNormalize, replay buffer, step.

    The newest checkpoint lies in ``checkpoints/``; the one it replaces is kept in ``checkpoints/previous/``,
    to resume from if the newest turns out unreadable. A checkpoint folder counts only while it holds
    ``state.json``, which is written last and removed first, so a kill at any point leaves at least one
    whole checkpoint (after the first one) and never a half-written file under a checkpoint's name.

    Args:
        model: the model being trained.
        run: its run folder.
        elapsed: seconds of training so far, all sessions together (``None``: not recorded).
    """
    folder = run.checkpoints
    incoming = folder / ".incoming"
    shutil.rmtree(incoming, ignore_errors=True)
    incoming.mkdir(parents=True)
    model.save(incoming / "model.zip")
    env = model.get_env()
    if isinstance(env, VecNormalize):
        env.save(str(incoming / "vecnormalize.pkl"))
    if isinstance(model, OffPolicyAlgorithm):
        model.save_replay_buffer(incoming / "replay_buffer.pkl")
    for name in CHECKPOINT_FILES:
        if (incoming / name).exists():
            _fsync(incoming / name)
    state: dict[str, float] = {"num_timesteps": model.num_timesteps}
    if elapsed is not None:
        state["elapsed_seconds"] = elapsed
    save_atomically(lambda tmp: tmp.write_text(json.dumps(state)), incoming / CHECKPOINT_STATE)
    if (folder / CHECKPOINT_STATE).exists():
        _keep_as_previous(folder)
    _move_into(incoming, folder)


def _keep_as_previous(folder: Path) -> None:
    """Make ``folder/previous`` a copy (hard links where possible) of the checkpoint in ``folder``."""
    staged = folder / ".previous"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir()
    for name in (*CHECKPOINT_FILES, CHECKPOINT_STATE):  # state.json last
        if (folder / name).exists():
            try:
                os.link(folder / name, staged / name)
            except OSError:  # no hard links on this file system
                shutil.copy2(folder / name, staged / name)
    previous = folder / PREVIOUS_CHECKPOINT
    if previous.exists():
        (previous / CHECKPOINT_STATE).unlink(missing_ok=True)
        shutil.rmtree(previous)
    staged.rename(previous)


def _move_into(incoming: Path, folder: Path) -> None:
    """Move the complete checkpoint in ``incoming`` into ``folder``, its ``state.json`` last."""
    (folder / CHECKPOINT_STATE).unlink(missing_ok=True)
    for name in CHECKPOINT_FILES:
        if (incoming / name).exists():
            os.replace(incoming / name, folder / name)
        else:
            (folder / name).unlink(missing_ok=True)
    os.replace(incoming / CHECKPOINT_STATE, folder / CHECKPOINT_STATE)
    incoming.rmdir()


class ShowTrainingProgress(BaseCallback):
    """A progress bar over the whole budget: on resume it starts at the steps already done, and it stops at the budget.

    (SB3's own bar counts only this session's steps, and past the budget when a rollout overshoots it.)
    """

    def __init__(self, total_timesteps: int, verbose: int = 0):
        super().__init__(verbose)
        self.total_timesteps = total_timesteps
        self.pbar: Any = None

    def _on_training_start(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TqdmExperimentalWarning)  # as SB3's own bar does
            self.pbar = tqdm(total=self.total_timesteps, initial=min(self.num_timesteps, self.total_timesteps))

    def _on_step(self) -> bool:
        self.pbar.update(min(self.num_timesteps, self.total_timesteps) - self.pbar.n)
        return True

    def _on_training_end(self) -> None:
        self.pbar.refresh()
        self.pbar.close()


class SaveResumableCheckpoint(BaseCallback):
    """Every ``save_freq`` env steps (summed over envs), write a resumable checkpoint into the run folder.

    The checkpoint records the seconds of training so far, counting ``elapsed`` seconds spent before this session.
    """

    def __init__(self, run: RunDir, save_freq: int, elapsed: float = 0.0, verbose: int = 0):
        super().__init__(verbose)
        if save_freq <= 0:
            raise ValueError(f"save_freq ({save_freq}) must be positive")
        self.run = run
        self.save_freq = save_freq
        self._last_save = 0
        self._start = time.perf_counter() - elapsed

    def _init_callback(self) -> None:
        self._last_save = self.num_timesteps

    def _on_step(self) -> bool:
        if self.num_timesteps - self._last_save >= self.save_freq:
            save_checkpoint(self.model, self.run, elapsed=time.perf_counter() - self._start)
            self._last_save = self.num_timesteps
        return True


def snapshot_paths(folder: Path, steps: int) -> tuple[Path, Path]:
    """The model and the VecNormalize statistics that :class:`SaveSnapshots` keeps at ``steps`` env steps."""
    return folder / f"model-{steps}.zip", folder / f"vecnormalize-{steps}.pkl"


class SaveSnapshots(BaseCallback):
    """Keep the model (and its VecNormalize statistics) as it was once training passes each of ``steps``.

    Snapshots are points of the learning curve, not checkpoints: they hold no optimiser state to
    resume from. :func:`snapshot_paths` names their files in ``folder``.
    """

    def __init__(self, folder: Path, steps: Sequence[int]):
        super().__init__()
        self.folder = folder
        self.pending = sorted(steps)

    def _init_callback(self) -> None:
        self.pending = [s for s in self.pending if s > self.num_timesteps]

    def _on_step(self) -> bool:
        while self.pending and self.num_timesteps >= self.pending[0]:
            model_path, norm_path = snapshot_paths(self.folder, self.pending.pop(0))
            self.folder.mkdir(parents=True, exist_ok=True)
            save_atomically(self.model.save, model_path)
            env = self.model.get_env()
            if isinstance(env, VecNormalize):
                save_atomically(lambda tmp, env=env: env.save(str(tmp)), norm_path)
        return True
