"""Zoo-style hyperparameter files (``configs/sb3/<algo>.yml``): lookup, validation and conversion.

The format is rl-baselines3-zoo's, so its files carry over: per-env mappings with the special keys
``n_envs``, ``n_timesteps``, ``policy``, ``env_wrapper``, ``normalize`` and ``policy_kwargs``; every
other key is a keyword argument of the algorithm and is checked against its constructor.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch.nn as nn
import yaml
from stable_baselines3 import A2C, DQN, PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm

from mentor.errors import ConfigError, UnknownComponentError, closest_matches
from mentor.paths import configs_root

__all__ = [
    "ALGOS",
    "SPECIAL_KEYS",
    "algo_class",
    "load_hyperparams",
    "validate_hyperparams",
    "algo_kwargs",
    "make_env_wrapper",
]

ALGOS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "a2c": A2C, "dqn": DQN, "sac": SAC}
SPECIAL_KEYS = ("n_envs", "n_timesteps", "policy", "env_wrapper", "normalize", "policy_kwargs")
_SET_BY_MENTOR = {"self", "env", "policy", "verbose", "tensorboard_log", "seed", "device", "_init_setup_model"}
_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "gelu": nn.GELU}


def algo_class(algo: str) -> type[BaseAlgorithm]:
    """The SB3 class of ``algo`` (``ppo``, ``a2c``, ``dqn``, ``sac``)."""
    if algo not in ALGOS:
        raise UnknownComponentError("SB3 algorithm", algo, ALGOS)
    return ALGOS[algo]


def load_hyperparams(algo: str, env_id: str, path: Path | str | None = None) -> dict[str, Any]:
    """The zoo entry for ``env_id`` in ``configs/sb3/<algo>.yml`` (exact id first, then fnmatch patterns).

    Raises:
        ConfigError: the file has no entry for ``env_id``.
    """
    algo_class(algo)
    path = Path(path) if path is not None else configs_root() / "sb3" / f"{algo}.yml"
    entries: dict[str, dict[str, Any]] = yaml.safe_load(path.read_text()) or {}
    if env_id in entries:
        return dict(entries[env_id])
    for pattern, values in entries.items():
        if fnmatch.fnmatchcase(env_id, pattern):
            return dict(values)
    raise ConfigError(
        f"{path} has no {algo} hyperparameters for {env_id!r}; add an entry (keys there: {', '.join(entries)})."
    )


def validate_hyperparams(algo: str, hyperparams: dict[str, Any]) -> None:
    """Reject any key that is neither a zoo special key nor a constructor argument of the algorithm.

    Raises:
        ConfigError: naming the misspelled key and its closest valid name.
    """
    parameters = inspect.signature(algo_class(algo).__init__).parameters
    allowed = set(SPECIAL_KEYS) | (set(parameters) - _SET_BY_MENTOR)
    for key, value in hyperparams.items():
        if key not in allowed:
            close = closest_matches(key, allowed, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"Unknown {algo} hyperparameter {key!r}.{hint} Allowed: {', '.join(sorted(allowed))}.")
        default = {"n_envs": 1, "n_timesteps": 1}.get(key, parameters[key].default if key in parameters else None)
        _check_value(algo, key, value, default)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_value(algo: str, key: str, value: Any, default: Any) -> None:
    """Reject a value whose type cannot be what the algorithm's constructor expects (its default's type)."""
    if key == "train_freq" and isinstance(value, (list, tuple)):  # (frequency, "step" | "episode")
        return
    if isinstance(default, bool):
        ok, allowed = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, allowed = _is_number(value) and float(value).is_integer(), "an integer"
    elif isinstance(default, float):
        schedule = isinstance(value, str) and value.startswith("lin_") and _is_float(value[len("lin_") :])
        ok, allowed = _is_number(value) or schedule, "a number or a 'lin_<number>' schedule"
    else:
        return
    if not ok:
        raise ConfigError(f"{algo} hyperparameter {key} ({value!r}) must be {allowed}.")


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _schedule(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("lin_"):
        initial = float(value[len("lin_") :])
        return lambda progress_remaining: progress_remaining * initial
    return value


def _policy_kwargs(value: dict[str, Any] | None) -> dict[str, Any]:
    kwargs = dict(value or {})
    if isinstance(kwargs.get("activation_fn"), str):
        name = kwargs["activation_fn"].lower()
        if name not in _ACTIVATIONS:
            raise UnknownComponentError("activation_fn", name, _ACTIVATIONS)
        kwargs["activation_fn"] = _ACTIVATIONS[name]
    return kwargs


def algo_kwargs(hyperparams: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments for the algorithm's constructor: special keys removed, schedules built."""
    kwargs = {k: _schedule(v) for k, v in hyperparams.items() if k not in SPECIAL_KEYS}
    kwargs["policy_kwargs"] = _policy_kwargs(hyperparams.get("policy_kwargs"))
    return kwargs


def _import(path: str) -> Callable[..., gym.Env]:
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"env_wrapper {path!r} cannot be imported ({e}); use 'package.module.ClassName'.") from e


def make_env_wrapper(spec: str | list[Any] | None) -> Callable[[gym.Env], gym.Env] | None:
    """Turn a zoo ``env_wrapper`` entry (a dotted path, or a list of paths / ``{path: kwargs}``) into a callable."""
    if not spec:
        return None
    items = spec if isinstance(spec, list) else [spec]
    wrappers: list[tuple[Callable[..., gym.Env], dict[str, Any]]] = []
    for item in items:
        if isinstance(item, str):
            wrappers.append((_import(item), {}))
        elif isinstance(item, dict) and len(item) == 1:
            ((path, kwargs),) = item.items()
            wrappers.append((_import(path), dict(kwargs or {})))
        else:
            raise ConfigError(
                f"env_wrapper entry {item!r} must be a dotted path or a one-key mapping {{path: kwargs}}."
            )

    def wrap(env: gym.Env) -> gym.Env:
        for wrapper, kwargs in wrappers:
            env = wrapper(env, **kwargs)
        return env

    return wrap
