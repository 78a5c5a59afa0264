"""Human feedback for Text2Reward mode: typed at a prompt, or read from a file, one block per round.

A feedback source is called with a summary of the round (fitness, component statistics) and
returns the person's comment, or ``None`` to stop refining. A source that reads its answers in
order (:class:`FileFeedback`) also has ``skip(n)``: a resumed loop calls it for every round whose
feedback was already saved, so the next round gets the next block, not the first one again.

Example:
    >>> source = FileFeedback.from_text("run faster\\n---\\nkeep the torso level")
    >>> source("summary"), source("summary"), source("summary")
    ('run faster', 'keep the torso level', None)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["FeedbackSource", "FileFeedback", "PromptFeedback"]

#: ``source(round_summary) -> feedback text, or None to stop``.
FeedbackSource = Callable[[str], str | None]


class FileFeedback:
    """Feedback read from a text file: blocks separated by lines of ``---``, one per round.

    Args:
        path: the file.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._blocks = self._split(self.path.read_text())

    @classmethod
    def from_text(cls, text: str) -> FileFeedback:
        source = cls.__new__(cls)
        source.path = None
        source._blocks = cls._split(text)
        return source

    @staticmethod
    def _split(text: str) -> list[str]:
        blocks, current = [], []
        for line in text.splitlines():
            if line.strip() == "---":
                blocks.append("\n".join(current).strip())
                current = []
            else:
                current.append(line)
        blocks.append("\n".join(current).strip())
        return [b for b in blocks if b]

    def __call__(self, summary: str) -> str | None:
        return self._blocks.pop(0) if self._blocks else None

    def skip(self, n: int = 1) -> None:
        """Pass over the next ``n`` blocks (rounds answered before a resume)."""
        del self._blocks[:n]


class PromptFeedback:
    """Feedback typed by a person after reading the round's summary; an empty answer stops.

    Args:
        ask: reads one answer given a prompt (default :func:`input`).
        show: prints the summary (default :func:`print`).
    """

    def __init__(self, ask: Callable[[str], str] = input, show: Callable[[str], None] = print):
        self.ask, self.show = ask, show

    def __call__(self, summary: str) -> str | None:
        self.show(summary)
        answer = self.ask("Feedback on this policy (empty to stop): ").strip()
        return answer or None
