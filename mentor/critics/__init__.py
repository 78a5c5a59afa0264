"""mentor.critics."""
