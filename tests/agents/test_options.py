import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import mentor.envs as me
from mentor.agents.options import OptionsConfig, OptionsEnv
from mentor.envs.text_view import TextObservation, TextView
from mentor.errors import ConfigError, InvalidActionError
from mentor.planners.skills import RandomSkillPolicy
from mentor.planners.textworld_skills import TextWorldSkillLibrary

LEVEL = "mentor/BabyAI-UnlockPickup-v0"
TURN_LEFT, TURN_RIGHT = 0, 1


class FixedPolicy:
    """Always the same action; a fixed value."""

    def __init__(self, action, value=0.5):
        self.action, self._value, self.calls = action, value, 0

    def act(self, skill, features):
        self.calls += 1
        return self.action

    def value(self, skill, features):
        return self._value


def _env(policy=None, **config):
    return OptionsEnv(me.make(LEVEL), policy or FixedPolicy(TURN_LEFT), OptionsConfig(**config))


def test_passes_the_gymnasium_env_checker():
    env = OptionsEnv(me.make(LEVEL), RandomSkillPolicy(gym.spaces.Discrete(6), seed=0), OptionsConfig(max_options=5))
    check_env(env, skip_render_check=True)


def test_spaces_follow_the_catalogue_and_the_observation_carries_the_text_view():
    env = _env()
    obs, info = env.reset(seed=0)
    assert env.action_space.n == len(env.library.catalogue())
    assert env.observation_space.contains(obs)
    assert obs["text"].startswith("Goal: pick up the purple box")
    assert info["available"] == ["pick up the green key", "explore", "go to the green key"]
    assert info["env_steps"] == 0 and info["text"].mission == "pick up the purple box"


def test_the_text_view_offers_skill_names_that_map_to_their_actions():
    env = _env(FixedPolicy(TURN_RIGHT))
    env.reset(seed=0)
    view = me.describe(env)
    assert view.mission == "pick up the purple box"
    assert view.actions == tuple(s.name for s in env.planner_skills())
    catalogue = env.library.catalogue()
    for name in view.actions:
        assert catalogue[me.text_to_action(env, name.upper())].name == name
    with pytest.raises(InvalidActionError, match="Admissible: "):
        me.text_to_action(env, "fly to the moon")


def test_a_skill_runs_until_its_predicate_holds():
    env = _env(FixedPolicy(TURN_RIGHT))
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step_skill("go to the green key")
    assert info["skill_success"] and info["skill_steps"] == 1 and not info["timed_out"]
    assert not terminated and not truncated
    assert info["env_steps"] == 1 and env.num_env_steps == 1


def test_a_skill_times_out_after_its_step_limit_and_steps_are_counted():
    policy = FixedPolicy(TURN_LEFT)
    env = _env(policy)
    env.reset(seed=0)
    skill = env.library.skill("pick up the green key")
    _, _, _, _, info = env.step(env.library.catalogue().index(skill))
    assert info["skill"] == skill.name
    assert not info["skill_success"] and info["timed_out"]
    assert info["skill_steps"] == skill.max_steps == policy.calls
    _, _, _, _, info = env.step_skill("explore")
    assert info["env_steps"] == skill.max_steps + info["skill_steps"]
    env.reset(seed=1)
    assert env.episode_env_steps == 0 and env.num_env_steps == skill.max_steps + info["skill_steps"]


def test_a_skill_that_cannot_start_takes_no_env_step():
    env = _env(not_started_reward=-0.1)
    env.reset(seed=0)
    _, reward, terminated, truncated, info = env.step_skill("open the red box")
    assert not info["skill_started"] and info["skill_steps"] == 0 and reward == -0.1
    assert env.num_env_steps == 0 and not terminated and not truncated


def test_the_episode_ends_inside_a_skill():
    env = _env(FixedPolicy(TURN_LEFT))
    env.reset(seed=0)
    max_steps = env.env.unwrapped.max_steps
    for _ in range(max_steps):
        _, _, terminated, truncated, info = env.step_skill("pick up the green key")
        if terminated or truncated:
            break
    assert truncated and info["env_steps"] == max_steps
    assert info["episode_outcome"]["length"] == max_steps and info["episode_outcome"]["success"] is False


def test_max_options_truncates_with_an_outcome():
    env = _env(FixedPolicy(TURN_RIGHT), max_options=2)
    env.reset(seed=0)
    _, _, _, truncated, info = env.step_skill("go to the green key")
    assert not truncated and "episode_outcome" not in info
    _, _, _, truncated, info = env.step_skill("open the red box")
    assert truncated and info["episode_outcome"]["length"] == 1 and info["options"] == 2


def test_affordances_are_the_policy_values_and_zero_where_a_skill_cannot_start():
    env = _env(FixedPolicy(TURN_LEFT, value=0.7))
    env.reset(seed=0)
    skills = [env.library.skill("pick up the green key"), env.library.skill("open the red box")]
    assert env.affordances(skills) == [0.7, 0.0]


def test_step_rejects_actions_outside_the_space():
    env = _env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action \(999\) must be an integer in \[0, 56\]"):
        env.step(999)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"max_options": 0}, r"max_options \(0\)"),
        ({"max_available": 0}, r"max_available \(0\)"),
        ({"max_text_length": 4}, r"max_text_length \(4\)"),
    ],
)
def test_options_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        OptionsConfig(**kwargs)


# ---- skills without a predicate are judged by a success detector


class ScriptedDetector:
    def __init__(self, verdict):
        self.verdict, self.calls = verdict, []

    def detect(self, subgoal, before, after):
        self.calls.append((subgoal, before, after))
        return self.verdict, 0.9


class _Game(gym.Env):
    observation_space = gym.spaces.Text(64)
    action_space = gym.spaces.Text(64)

    def reset(self, *, seed=None, options=None):
        self.opened = False
        return "kitchen", {"score": 0, "max_score": 2}

    def step(self, action):
        self.opened = self.opened or action == "open fridge"
        return "kitchen", float(action == "open fridge"), False, False, {"score": int(self.opened), "max_score": 2}


class _GameView(TextView):
    def admissible_actions(self):
        return ["look", "close fridge"] if self.env.unwrapped.opened else ["look", "open fridge"]

    def _text_to_action(self, action):
        return action

    def _describe(self):
        return TextObservation("open the fridge", "The fridge is open." if self.env.unwrapped.opened else "", ())


def _text_game():
    env = _GameView(_Game())
    return env, TextWorldSkillLibrary(env)


def test_predicate_less_skills_are_judged_by_the_detector():
    env, library = _text_game()
    detector = ScriptedDetector(True)
    options = OptionsEnv(env, FixedPolicy(None), library=library, success_detector=detector)
    obs, info = options.reset()
    assert options.action_space.n == 64 and info["available"] == ["look", "open fridge"]
    _, reward, _, _, info = options.step(1)
    assert info["skill"] == "open fridge" and info["skill_success"] and info["skill_steps"] == 1
    assert reward == 1.0
    ((subgoal, before, after),) = detector.calls
    assert subgoal == "open fridge" and "The fridge is open." in after and "The fridge is open." not in before
    _, _, _, _, info = options.step(5)
    assert not info["skill_started"]


def test_predicate_less_skills_need_a_detector_or_an_llm():
    env, library = _text_game()
    options = OptionsEnv(env, FixedPolicy(None), library=library)
    options.reset()
    with pytest.raises(ConfigError, match="has no success predicate; pass success_detector= or llm="):
        options.step_skill("open fridge")


def test_the_default_detector_is_mentor_critics_success_detector():
    critics = pytest.importorskip("mentor.critics")
    if not hasattr(critics, "SuccessDetector"):
        pytest.skip("mentor.critics has no SuccessDetector yet")
    from mentor.llm.testing import ScriptedLLM

    env, library = _text_game()
    options = OptionsEnv(env, FixedPolicy(None), library=library, llm=ScriptedLLM(["yes"]))
    options.reset()
    _, _, _, _, info = options.step_skill("open fridge")
    assert isinstance(options.success_detector, critics.SuccessDetector)
    assert isinstance(info["skill_success"], bool)


def test_random_skill_policy_is_seeded():
    a = RandomSkillPolicy(gym.spaces.Discrete(6), seed=3)
    b = RandomSkillPolicy(gym.spaces.Discrete(6), seed=3)
    features = np.zeros(3)
    assert [a.act(None, features) for _ in range(5)] == [b.act(None, features) for _ in range(5)]
    assert a.value(None, features) == 0.5
