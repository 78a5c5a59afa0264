"""Config dataclasses that round-trip through plain dicts (``config.yaml``, JSON), from their field declarations.

A config is a ``@dataclass`` that inherits :class:`DictConfig`:

- :meth:`DictConfig.to_dict` writes every field, tuples as lists, nested configs as dicts. Fields
  declared ``field(init=False)`` are derived in ``__post_init__``; they are written for the record.
- :meth:`DictConfig.from_dict` reads the init fields back and skips the derived ones; any other key
  is a :class:`~mentor.errors.ConfigError` that names the known keys.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class ToyConfig(DictConfig):
    ...     steps: int = 10
    >>> ToyConfig.from_dict({"steps": 5}).to_dict()
    {'steps': 5}
    >>> ToyConfig.from_dict({"stpes": 5})
    Traceback (most recent call last):
    ...
    mentor.errors.ConfigError: unknown ToyConfig key(s) stpes; known: steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Self

from mentor.errors import ConfigError

__all__ = ["DictConfig"]


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class DictConfig:
    """Mixin of a config dataclass: ``to_dict`` and ``from_dict`` derived from its fields."""

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain data: tuples as lists, nested dataclasses as dicts."""
        return _plain(dataclasses.asdict(self))  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The config that :meth:`to_dict` wrote, or one from YAML; derived fields are recomputed.

        Raises:
            ConfigError: a key is not a field of the config (the known keys are listed).
        """
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        known = {f.name for f in fields if f.init}
        derived = {f.name for f in fields if not f.init}
        unknown = sorted(set(data) - known - derived)
        if unknown:
            raise ConfigError(f"unknown {cls.__name__} key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}.")
        return cls(**{k: v for k, v in data.items() if k in known})
