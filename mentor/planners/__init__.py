"""mentor.planners."""
