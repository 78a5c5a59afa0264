from mentor.runs import RunDir


def test_latest_finds_the_numbered_folder_create_makes_within_the_same_second(tmp_path):
    (tmp_path / "2026-01-01_120000-demo").mkdir()
    (tmp_path / "2026-01-01_120000-demo-2").mkdir()
    assert RunDir.latest("demo", tmp_path).path.name == "2026-01-01_120000-demo-2"


def test_latest_does_not_match_a_longer_name(tmp_path):
    RunDir.create("bench-minigrid-hard", tmp_path)
    assert RunDir.latest("bench-minigrid", tmp_path) is None
    run = RunDir.create("bench-minigrid", tmp_path)
    assert RunDir.latest("bench-minigrid", tmp_path) == run
