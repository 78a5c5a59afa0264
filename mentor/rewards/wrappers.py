"""Where a candidate reward meets a training env.

Two ways, each wrapper doing one job:

- :class:`ReplaceReward` (a gymnasium wrapper): calls the reward on every step of one env, one
  sandbox round trip per step;
- :class:`RecordRewardTransition` (gymnasium) puts each step's ``(state, action, next_state)``
  into ``info``, and :class:`ReplaceVecReward` (an SB3 ``VecEnvWrapper``) evaluates the whole
  vector's transitions in one batch, one sandbox round trip per vector step. Training uses this
  pair: with ``n_envs`` environments it makes ``n_envs`` times fewer round trips.

Both put the step's components into ``info["reward_components"]`` and, at the end of an episode,
the episode sums into ``info["episode_outcome"]["reward"]`` as ``{"total": float, "components":
{name: float}}``, so the training callbacks log them with the outcome.

Neither records its constructor arguments (gymnasium's ``RecordConstructorArgs`` deep-copies them,
and a sandbox is a live process).

Example:
    >>> import mentor.envs
    >>> env = mentor.envs.make("mentor/MiniGrid-DoorKey-5x5-v0")
    >>> env = ReplaceReward(env, lambda s, a, n: (-0.01, {"time": -0.01}))
    >>> _ = env.reset(seed=0)
    >>> env.step(2)[1]
    -0.01
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from mentor.rewards.rollouts import plain_action
from mentor.rewards.state import state_reader

__all__ = ["RewardFunction", "ReplaceReward", "RecordRewardTransition", "ReplaceVecReward"]

#: ``compute_reward(state, action, next_state) -> (total, components)``, e.g. a :class:`~mentor.rewards.sandbox.RewardSandbox`.
RewardFunction = Callable[[Any, Any, Any], tuple[float, dict[str, float]]]

TRANSITION_KEY = "reward_transition"


class _EpisodeSums:
    def __init__(self) -> None:
        self.total, self.components = 0.0, {}

    def add(self, total: float, components: dict[str, float]) -> None:
        self.total += total
        for name, value in components.items():
            self.components[name] = self.components.get(name, 0.0) + value

    def report(self, info: dict[str, Any]) -> None:
        if "episode_outcome" in info:
            info["episode_outcome"]["reward"] = {"total": self.total, "components": dict(self.components)}
        self.__init__()


class ReplaceReward(gym.Wrapper):
    """Replace the env's reward with a reward function's total, calling it on every step.

    ``info["env_reward"]`` keeps the reward the env gave.

    Args:
        env: a mentor env (made with ``mentor.envs.make``).
        reward_fn: the reward; a :class:`~mentor.rewards.sandbox.RewardSandbox` for generated code.
    """

    def __init__(self, env: gym.Env, reward_fn: RewardFunction):
        super().__init__(env)
        self.reward_fn = reward_fn
        self._reader = state_reader(env)
        self._state: Any = None
        self._sums = _EpisodeSums()

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._state = self._reader.read(self.env)
        self._sums = _EpisodeSums()
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, env_reward, terminated, truncated, info = self.env.step(action)
        next_state = self._reader.read(self.env)
        total, components = self.reward_fn(self._state, plain_action(action), next_state)
        self._state = next_state
        self._sums.add(total, components)
        info["reward_components"] = components
        info["env_reward"] = float(env_reward)
        if terminated or truncated:
            self._sums.report(info)
        return obs, total, terminated, truncated, info


class RecordRewardTransition(gym.Wrapper):
    """Put each step's ``(state, action, next_state)`` into ``info["reward_transition"]`` (for :class:`ReplaceVecReward`).

    The state after the step is read before a vectorised env resets, so terminal transitions are kept.

    Args:
        env: a mentor env (made with ``mentor.envs.make``).
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self._reader = state_reader(env)
        self._state: Any = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._state = self._reader.read(self.env)
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        next_state = self._reader.read(self.env)
        info[TRANSITION_KEY] = (self._state, plain_action(action), next_state)
        self._state = next_state
        return obs, reward, terminated, truncated, info


class ReplaceVecReward(VecEnvWrapper):
    """Replace a vectorised env's rewards with a reward function's totals, one batch per vector step.

    Every sub-env must carry :class:`RecordRewardTransition`. ``reward_fn`` needs an
    ``evaluate(transitions) -> [(total, components), ...]`` method (as a sandbox has); a plain
    callable is called once per transition.

    Args:
        venv: the vectorised env.
        reward_fn: the reward.
    """

    def __init__(self, venv: VecEnv, reward_fn: RewardFunction):
        super().__init__(venv)
        self.reward_fn = reward_fn
        self._sums = [_EpisodeSums() for _ in range(venv.num_envs)]

    def reset(self) -> Any:
        self._sums = [_EpisodeSums() for _ in range(self.num_envs)]
        return self.venv.reset()

    def _evaluate(self, transitions: Sequence[tuple[Any, Any, Any]]) -> list[tuple[float, dict[str, float]]]:
        evaluate = getattr(self.reward_fn, "evaluate", None)
        if evaluate is not None:
            return evaluate(transitions)
        return [self.reward_fn(*t) for t in transitions]

    def step_wait(self) -> Any:
        obs, env_rewards, dones, infos = self.venv.step_wait()
        results = self._evaluate([info.pop(TRANSITION_KEY) for info in infos])
        rewards = np.array([total for total, _ in results], dtype=np.float32)
        for i, (info, (total, components)) in enumerate(zip(infos, results)):
            info["reward_components"] = components
            info["env_reward"] = float(env_rewards[i])
            self._sums[i].add(total, components)
            if dones[i]:
                self._sums[i].report(info)
        return obs, rewards, dones, infos
