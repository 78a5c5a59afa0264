"""Text2Reward's feedback sources: blocks of a file in order, and skipping the rounds a resumed run already has."""

from __future__ import annotations

from mentor.rewards.feedback import FileFeedback


def test_file_feedback_gives_blocks_in_order(tmp_path):
    path = tmp_path / "feedback.txt"
    path.write_text("run faster\n---\n\n---\nkeep the torso level\n")
    source = FileFeedback(path)
    assert [source("summary") for _ in range(3)] == ["run faster", "keep the torso level", None]


def test_file_feedback_skips_blocks():
    source = FileFeedback.from_text("a\n---\nb\n---\nc")
    source.skip(2)
    assert source("summary") == "c" and source("summary") is None
    source.skip(1)
    assert source("summary") is None
