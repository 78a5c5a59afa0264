"""The SB3 floor: the agent wrapper, zoo-style hyperparameters, callbacks, checkpoints and resume.

Everything that trains a Stable-Baselines3 model (flat agents, skills, reward candidates, ELLM, the
SB3 high level) trains through :class:`~mentor.sb3.agent.SB3Agent`.
"""

from mentor.sb3.agent import SB3Agent, SB3Config

__all__ = ["SB3Agent", "SB3Config"]
