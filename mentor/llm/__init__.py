"""mentor.llm."""
