"""``key=value`` overrides from the command line, values parsed as YAML."""

from __future__ import annotations

from typing import Any

import yaml

from mentor.errors import ConfigError

__all__ = ["parse_overrides"]


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``key=value`` pairs with YAML values (``n_steps=256``, ``actions=[turn left, go forward]``).

    Raises:
        ConfigError: an item has no ``=``.
    """
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value.")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out
