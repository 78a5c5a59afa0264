"""What the command line brings in: ``key=value`` overrides (values parsed as YAML) and YAML files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mentor.errors import ConfigError

__all__ = ["parse_overrides", "read_yaml"]


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``key=value`` pairs with YAML values (``n_steps=256``, ``actions=[turn left, go forward]``).

    Raises:
        ConfigError: an item has no ``=``, or its value is not YAML.
    """
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value.")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise ConfigError(f"the value of override {item!r} is not YAML ({_problem(e)}); quote it.") from None
    return out


def read_yaml(path: Path | str, what: str) -> Any:
    """The YAML document in ``path`` (``None`` if empty).

    Raises:
        ConfigError: the file does not exist or is not YAML (naming the line), ``what`` saying which file.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {str(path)!r} does not exist.")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{what} {str(path)!r} is not valid YAML: {_problem(e)}.") from None


def _problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else problem
