"""mentor.rewards."""
