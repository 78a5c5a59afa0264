"""`Usage`: what an LLM has cost so far (calls, tokens, seconds, cache hits, parse repairs)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

__all__ = ["Usage"]


@dataclass
class Usage:
    """Counters of one LLM (or a sum of several); add them with ``+`` or :meth:`merge`.

    Example:
        >>> total = Usage(calls=2, prompt_tokens=10) + Usage(calls=1, completion_tokens=5)
        >>> total.calls, total.total_tokens
        (3, 15)
    """

    calls: int = 0
    """Public ``generate``/``score`` calls, including those answered by the cache."""
    prompt_tokens: int = 0
    """Tokens the model read (for ``score``: prompt plus candidate tokens); cache hits add none."""
    completion_tokens: int = 0
    """Tokens the model generated, over all ``n`` completions; cache hits add none."""
    seconds: float = 0.0
    """Wall-clock seconds spent inside ``generate``/``score``."""
    cache_hits: int = 0
    """Calls answered from the response cache."""
    parse_repairs: int = 0
    """Structured answers that failed to parse and were asked again."""
    parse_fallbacks: int = 0
    """Structured answers that still failed after the repair, so the caller's fallback was used."""
    constrained_calls: int = 0
    """``generate`` calls decoded under a constraint (choice, regex, grammar or JSON schema)."""

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def merge(self, other: Usage) -> Usage:
        """Add ``other``'s counters into this one, in place, and return ``self``."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def __add__(self, other: Usage) -> Usage:
        return Usage(**asdict(self)).merge(other)

    def to_dict(self, prefix: str = "") -> dict[str, float]:
        """The counters (and ``total_tokens``) as a flat dict; ``prefix="llm/"`` gives metric keys."""
        values = {**asdict(self), "total_tokens": self.total_tokens}
        return {f"{prefix}{k}": v for k, v in values.items()}

    def save(self, path: str | Path) -> Path:
        """Write the counters as JSON to ``path`` (a ``.json`` file, or a run folder) and return the file."""
        path = Path(path)
        if path.suffix != ".json":
            path = path / "llm_usage.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Usage:
        """Read counters written by :meth:`save`."""
        data = json.loads(Path(path).read_text())
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
