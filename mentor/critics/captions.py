"""Captions read off env state: what a transition achieved, and a short summary of a state.

Both follow ELLM (Du et al., 2023): a *transition caption* names what the agent just did, taken
from the ground truth of the env (Crafter's achievement counters), and a *state caption* lists what
the agent sees, carries and feels, coarse enough that it changes only when something meaningful does.

Example:
    >>> caption_crafter_transition({"collect_wood": 0, "collect_drink": 2}, {"collect_wood": 1, "collect_drink": 3})
    ['drink water', 'collect wood']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mentor.envs.crafter import CRAFTER_ACHIEVEMENTS, CRAFTER_ITEMS, CRAFTER_SEMANTIC_NAMES

__all__ = [
    "CRAFTER_ACHIEVEMENT_CAPTIONS",
    "CRAFTER_GROUND",
    "caption_crafter_state",
    "caption_crafter_transition",
    "join_words",
]

#: Achievement -> what the agent did, in words; the name with spaces, except where crafter's name is not English.
CRAFTER_ACHIEVEMENT_CAPTIONS: dict[str, str] = {
    name: {"collect_drink": "drink water"}.get(name, name.replace("_", " ")) for name in CRAFTER_ACHIEVEMENTS
}

#: Semantic kinds left out of state captions: the ground the player walks on, and itself.
CRAFTER_GROUND: frozenset[str] = frozenset({"outside", "player", "grass", "sand", "path"})

#: Vital -> the feeling a low value gives, and the value below which it is felt.
_FEELINGS: dict[str, str] = {"food": "hungry", "drink": "thirsty", "energy": "sleepy", "health": "hurt"}
_LOW_VITAL = 4


def join_words(words: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def caption_crafter_transition(before: Mapping[str, int], after: Mapping[str, int]) -> list[str]:
    """What a Crafter step achieved: one caption per achievement whose counter went up.

    Args:
        before: achievement counters before the step (``info["achievements"]``).
        after: achievement counters after it.

    Returns:
        Captions from :data:`CRAFTER_ACHIEVEMENT_CAPTIONS`, in crafter's achievement order; empty when
        nothing was achieved.
    """
    return [
        CRAFTER_ACHIEVEMENT_CAPTIONS[name] for name in CRAFTER_ACHIEVEMENTS if after.get(name, 0) > before.get(name, 0)
    ]


def caption_crafter_state(env: Any) -> str:
    """ELLM's state caption of a Crafter env: the kinds of things in view, the items carried, low vitals.

    Positions, counts and vital values are left out, so the caption changes only when something new
    comes into view, an item is gained or used up, or a vital becomes low.

    Args:
        env: a mentor Crafter env (any wrapping) after ``reset``.

    Example:
        "You see cow, tree and water. You have sapling and wood. You feel thirsty."
    """
    crafter = env.unwrapped
    kinds = sorted({CRAFTER_SEMANTIC_NAMES[int(k)] for k in np.unique(crafter.local_view())} - CRAFTER_GROUND)
    inventory = crafter.player.inventory
    items = sorted(name.replace("_", " ") for name in CRAFTER_ITEMS[4:] if inventory[name] > 0)
    feelings = [word for vital, word in _FEELINGS.items() if inventory[vital] < _LOW_VITAL]
    parts = [f"You see {join_words(kinds)}." if kinds else "You see nothing but open ground."]
    parts.append(f"You have {join_words(items)}." if items else "You have nothing.")
    if feelings:
        parts.append(f"You feel {join_words(feelings)}.")
    return " ".join(parts)
