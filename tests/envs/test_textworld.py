"""TextWorld family: cached reproducible games, walkthrough wins, text view, Gymnasium checks.

Two easy games (seeds 123 and 456, the seeds ``check_env`` resets with) are generated once into a
temporary ``$MENTOR_CACHE``; seed 123 is generated a second time elsewhere, in parallel, to check
that a seed always gives the same game.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import mentor.envs
from mentor.envs import textworld as tw
from mentor.envs.textworld import LEVELS, TextWorldConfig, TextWorldEnv, clean_game_text, ensure_games, game_path
from mentor.errors import ConfigError, InvalidActionError, UnknownComponentError

EASY = "mentor/TextWorld-Easy-v0"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("mentor-cache")
    second = tmp_path_factory.mktemp("second-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MENTOR_CACHE", str(root))
        again = threading.Thread(target=ensure_games, args=("easy", [123], second))
        again.start()
        ensure_games("easy", [123, 456])
        again.join()
        yield {"root": root / "textworld", "second": second}


def make_easy(**kwargs) -> gym.Env:
    return mentor.envs.make(EASY, game_seeds=(123,), **kwargs)


def test_levels_are_registered_with_growing_difficulty():
    assert mentor.envs.env_ids("textworld") == [
        "mentor/TextWorld-Easy-v0",
        "mentor/TextWorld-Hard-v0",
        "mentor/TextWorld-Medium-v0",
    ]
    limits = [gym.spec(f"mentor/TextWorld-{name}-v0").max_episode_steps for name in ("Easy", "Medium", "Hard")]
    assert limits == [50, 100, 200]
    easy, medium, hard = LEVELS.values()
    assert easy.recipe < medium.recipe < hard.recipe and easy.go < medium.go < hard.go
    assert easy.settings(7)["recipe_seed"] == 7 and hard.settings(7)["cook"]


def test_games_are_cached_and_reproducible_by_seed(cache):
    path = game_path("easy", 123)
    assert path == cache["root"] / "easy" / "seed-123.z8" and path.with_suffix(".json").is_file()
    stamp = path.stat().st_mtime_ns
    assert ensure_games("easy", [123]) == [path] and path.stat().st_mtime_ns == stamp
    again = game_path("easy", 123, cache["second"])
    assert again.read_bytes() == path.read_bytes()
    assert again.with_suffix(".json").read_bytes() == path.with_suffix(".json").read_bytes()
    first, second = TextWorldEnv(), TextWorldEnv(cache_dir=str(cache["second"]))
    obs, info = first.reset(seed=123)
    assert (obs, first.objective) == (second.reset(seed=123)[0], second.objective)
    assert info["game_seed"] == 123 and "Kitchen" in obs
    other = first.reset(seed=456)[0]
    assert other != obs
    assert not [p.name for p in path.parent.iterdir() if p.name.startswith(".")]


def test_walkthrough_reaches_the_max_score(cache):
    env = make_easy()
    _, info = env.reset(seed=123)
    walkthrough = env.unwrapped.walkthrough
    total, terminated = 0.0, False
    for command in walkthrough:
        assert not terminated
        _, reward, terminated, truncated, info = env.step(mentor.envs.text_to_action(env, command))
        total += reward
    assert terminated and not truncated and info["won"] and not info["lost"]
    assert total == info["score"] == info["max_score"] == 3
    assert info["episode_outcome"]["success"] and info["episode_outcome"]["progression"] == 100.0
    assert mentor.envs.describe(env).extras["progression"] == 100.0


def test_text_view_and_info(cache):
    env = make_easy()
    obs, info = env.reset(seed=123)
    assert info["admissible_commands"] and {"look", "inventory"} <= set(info["admissible_commands"])
    assert (
        info["feedback"] == obs and info["location"] == "Kitchen" and info["inventory"] == "You are carrying nothing."
    )
    assert (info["score"], info["max_score"], info["won"], info["lost"]) == (0, 3, False, False)
    view = mentor.envs.describe(env)
    assert view.mission == env.unwrapped.objective and view.mission.startswith("You are hungry!")
    assert view.feedback == obs and view.actions == tuple(info["admissible_commands"])
    assert view.observation.startswith("-= Kitchen =-") and view.observation.endswith("Score: 0/3.")
    assert view.extras == {
        "score": 0,
        "max_score": 3,
        "progression": 0.0,
        "moves": 0,
        "won": False,
        "lost": False,
        "location": "Kitchen",
    }
    assert mentor.envs.text_to_action(env, "  LOOK ") == "look"


def test_inadmissible_command_names_the_choices(cache):
    env = make_easy()
    env.reset(seed=123)
    with pytest.raises(
        InvalidActionError, match=r"'fly to the moon' is not admissible here\..*Admissible: 'close fridge'"
    ):
        mentor.envs.text_to_action(env, "fly to the moon")


def test_unknown_and_meta_commands_are_answered(cache):
    env = make_easy()
    env.reset(seed=123)
    obs, reward, terminated, truncated, info = env.step("xyzzy plugh")
    assert obs == "That's not a verb I recognise." and (reward, terminated, truncated) == (0.0, False, False)
    assert env.step("quit")[0] == "That command is not available in this game."
    assert env.step("look")[0].startswith("-= Kitchen =-")


def test_episode_truncates_at_the_step_limit(cache):
    env = make_easy()
    env.reset(seed=123)
    outcomes = [env.step("look")[2:4] for _ in range(50)]
    assert outcomes[-1] == (False, True) and set(outcomes[:-1]) == {(False, False)}


def test_reset_without_seed_draws_from_game_seeds(cache):
    env = TextWorldEnv(game_seeds=(123, 456))
    seeds = {env.reset()[1]["game_seed"] for _ in range(6)}
    assert seeds and seeds <= {123, 456}


def test_check_env(cache):
    env = make_easy()
    check_env(env.unwrapped)
    with pytest.warns(UserWarning, match="different from the unwrapped version"):
        check_env(env)


def test_render_ansi_returns_the_last_observation(cache):
    env = TextWorldEnv(render_mode="ansi")
    obs, _ = env.reset(seed=123)
    assert env.render() == obs
    assert TextWorldEnv().render() is None


def test_clean_game_text():
    raw = (
        "\n\n   ________  __\n  |        \\|  \\\n   \\$$$$$$$$| $$\n"
        "You are hungry!\n\n\n\n-= Kitchen =-\nA room.\n\n"
        ">                                       -= Kitchen =-0/1"
    )
    assert clean_game_text(raw) == "You are hungry!\n\n-= Kitchen =-\nA room."
    won = (
        "You eat the meal.\n\n   *** The End ***\n\n"
        "Would you like to RESTART, RESTORE a saved game, QUIT or UNDO the last command?\n>      -= Kitchen =-2/5"
    )
    assert clean_game_text(won) == "You eat the meal.\n\n   *** The End ***"
    assert clean_game_text(None) == "" and clean_game_text("Caf\u00e9\n> ") == "Caf?"


def test_interrupted_generation_leaves_no_game(tmp_path):
    path = tmp_path / "easy" / "seed-9.z8"
    with pytest.raises(KeyboardInterrupt), tw._atomic_game(path) as out:
        out.with_suffix(".json").write_text("{}")
        raise KeyboardInterrupt
    assert not path.exists() and not path.with_suffix(".json").exists()
    assert list(path.parent.iterdir()) == []
    path.with_suffix(".json").write_text("{}")
    assert not tw._is_cached(path)
    with tw._atomic_game(path) as out:
        out.write_bytes(b"z8")
        out.with_suffix(".json").write_text("{}")
    assert tw._is_cached(path) and path.read_bytes() == b"z8"
    assert sorted(p.name for p in path.parent.iterdir()) == ["seed-9.json", "seed-9.z8"]


def test_generation_failure_quotes_the_generator(tmp_path, monkeypatch):
    monkeypatch.setattr(
        tw, "_generator_command", lambda *a: [sys.executable, "-c", "raise SystemExit('inform7 exploded')"]
    )
    with pytest.raises(RuntimeError, match=r"generating easy games \[3\] failed \(exit 1\): inform7 exploded"):
        ensure_games("easy", [3], tmp_path)


def test_bad_seeds_and_levels():
    with pytest.raises(ValueError, match=r"game seed \(-1\) must be an integer in \[0, 2\*\*32\)"):
        ensure_games("easy", [-1])
    with pytest.raises(UnknownComponentError, match=r"Unknown TextWorld level 'expert'.*Available: easy, hard, medium"):
        game_path("expert", 1)
    with pytest.raises(ValueError, match=r"seed \(4294967296\) must be in \[0, 2\*\*32\)"):
        TextWorldEnv().reset(seed=2**32)


def test_state_before_reset_is_an_error():
    with pytest.raises(RuntimeError, match=r"no game before reset\(\); call reset\(\) first"):
        TextWorldEnv().step("look")
    with pytest.raises(RuntimeError, match=r"no game before reset\(\)"):
        _ = TextWorldEnv().objective


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": "expert"}, r"level \('expert'\) must be one of 'easy', 'medium', 'hard'"),
        ({"game_seeds": ()}, r"game_seeds \(\(\)\) must hold at least one seed"),
        ({"game_seeds": (1, -2)}, r"game_seeds \(-2\) must be integers in \[0, 2\*\*32\)"),
        ({"max_open_games": 0}, r"max_open_games \(0\) must be at least 1"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TextWorldConfig(**kwargs)


def test_bad_render_mode():
    with pytest.raises(ConfigError, match=r"render_mode \('human'\) must be None or 'ansi'"):
        TextWorldEnv(render_mode="human")


def test_import_does_not_load_textworld():
    code = "import sys, mentor.envs; print('textworld' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]


@pytest.mark.slow
@pytest.mark.parametrize("level", ["medium", "hard"])
def test_walkthrough_wins_harder_levels(level, tmp_path):
    env = TextWorldEnv(level=level, cache_dir=str(tmp_path))
    _, info = env.reset(seed=1)
    assert info["max_score"] > 3
    for command in env.walkthrough:
        _, _, terminated, _, info = env.step(command)
    assert terminated and info["won"] and info["score"] == info["max_score"]
    assert Path(game_path(level, 1, tmp_path)).is_file()
