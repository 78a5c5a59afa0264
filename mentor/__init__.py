"""mentor: language-model planners, reward generators and critics over Stable-Baselines3 agents."""

from mentor.errors import MentorError

__version__ = "0.1.0"

__all__ = ["MentorError", "__version__"]
