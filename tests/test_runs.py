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


def test_latest_matches_the_exact_name_not_a_suffix(tmp_path):
    RunDir.create("my-exp", tmp_path)
    assert RunDir.latest("exp", tmp_path) is None


def test_runs_created_in_the_same_second_by_two_processes_get_two_folders(tmp_path):
    import subprocess
    import sys

    code = "import sys; from mentor.runs import RunDir; print(RunDir.create('same', sys.argv[1]).path)"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    paths = [p.communicate()[0].strip() for p in procs]
    assert len(set(paths)) == 4 and all(p.returncode == 0 for p in procs)


def test_a_second_writer_process_is_refused(tmp_path):
    import subprocess
    import sys

    import pytest

    from mentor.errors import ConfigError

    run = RunDir.create("locked", tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from mentor.runs import RunDir; RunDir(__import__('pathlib').Path(sys.argv[1])).lock(); "
            "print('held', flush=True); time.sleep(60)",
            str(run.path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=r"is in use by another process"):
            run.lock()
    finally:
        holder.kill()
        holder.wait()
    run.lock()  # the OS released the killed holder's lock


def test_resume_run_names_the_fields_that_differ(tmp_path):
    import pytest

    from mentor.errors import ConfigError
    from mentor.runs import resume_run

    run = RunDir.create("exp", tmp_path)
    run.write_config({"env_id": "mentor/A", "algo": "ppo", "seed": 1})
    assert resume_run("exp", {"env_id": "mentor/A", "seed": 1}, tmp_path) == run
    with pytest.raises(ConfigError, match=r"algo \(saved 'ppo', given 'a2c'\); seed \(saved 1, given 0\)"):
        resume_run("exp", {"algo": "a2c", "seed": 0}, tmp_path)
