"""mentor.agents."""
