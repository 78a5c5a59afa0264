import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import mentor.envs as me
from mentor.envs.text_view import TextObservation, TextView
from mentor.errors import ConfigError, InvalidActionError
from mentor.skills.library import RandomSkillPolicy, Skill
from mentor.skills.options import OptionsConfig, OptionsEnv
from mentor.skills.textworld import TextWorldSkillLibrary

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


def test_spaces_follow_the_catalogue_and_the_text_reaches_an_llm_through_describe_only():
    env = _env()
    obs, info = env.reset(seed=0)
    assert env.action_space.n == len(env.library.catalogue())
    assert env.observation_space.contains(obs)
    np.testing.assert_array_equal(obs, env.library.high_level_features(env._obs))
    assert info["available"] == ["pick up the green key", "explore", "go to the green key"]
    assert info["env_steps"] == 0 and "text" not in info
    text = me.describe(env)
    assert text.mission == "pick up the purple box"
    assert text.actions == tuple(env.admissible_actions())


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
    assert info["skill"] == skill.name and info["skill_kind"] == skill.kind
    assert not info["skill_success"] and info["timed_out"]
    assert info["skill_steps"] == skill.max_steps == policy.calls
    _, _, _, _, info = env.step_skill("explore")
    assert info["env_steps"] == skill.max_steps + info["skill_steps"]
    env.reset(seed=1)
    assert env.episode_env_steps == 0 and env.num_env_steps == skill.max_steps + info["skill_steps"]


def test_a_survival_interrupt_ends_the_running_skill_runs_the_urgent_one_and_counts_both():
    policy = FixedPolicy(TURN_LEFT)
    env = _env(policy, survival_interrupts=True)
    env.reset(seed=0)
    running, urgent = env.library.skill("pick up the green key"), env.library.skill("go to the green key")
    env.library.urgent = lambda: urgent if policy.calls >= 3 else None
    _, _, _, _, info = env.step_skill(running)
    assert info["skill"] == running.name and not info["skill_success"] and info["skill_steps"] == 3
    assert info["interrupt"]["skill"] == urgent.name and info["interrupt"]["steps"] >= 1
    assert info["env_steps"] == 3 + info["interrupt"]["steps"] == policy.calls
    assert info["options"] == 2
    quiet = _env(FixedPolicy(TURN_LEFT))
    quiet.reset(seed=0)
    quiet.library.urgent = lambda: urgent
    assert "interrupt" not in quiet.step_skill(running)[4]


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


def test_info_gives_each_offered_skill_its_affordance_only_when_asked():
    _, info = _env(FixedPolicy(TURN_LEFT, value=0.7)).reset(seed=0)
    assert "affordances" not in info
    env = _env(FixedPolicy(TURN_LEFT, value=0.7), affordance="value")
    _, info = env.reset(seed=0)
    offered = [s.name for s in env.planner_skills()]
    assert list(info["affordances"]) == offered
    assert info["affordances"] == dict(zip(offered, env.affordances(env.planner_skills())))
    with pytest.raises(ConfigError, match=r"affordance 'success_rate' needs a skill policy .*FixedPolicy has no"):
        _env(FixedPolicy(TURN_LEFT), affordance="success_rate")
    with pytest.raises(ConfigError, match=r"affordance 'values' is not one of value, success_rate, none"):
        OptionsConfig(affordance="values")


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
        ({"termination_critic": "oracle"}, "termination_critic 'oracle' is not one of detector, judge"),
        ({"judge_threshold": 1.0}, r"judge_threshold \(1.0\) must lie strictly between 0 and 1"),
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


# ---- or, with termination_critic="judge", by a trajectory judge after every step


def _judge_llm():
    """Leans "yes" only once the trajectory shows the open fridge (the no-step reference leans "no")."""
    from mentor.llm.testing import ScriptedLLM

    def scorer(prompt, answer):
        if answer == " yes":
            return 0.0 if "The fridge is open." in prompt else -5.0
        return -1.0

    return ScriptedLLM(scorer=scorer)


def test_the_judge_ends_predicate_less_skills_from_their_trajectory():
    from mentor.critics import TrajectoryJudge

    env, library = _text_game()
    detector = ScriptedDetector(True)
    config = OptionsConfig(termination_critic="judge", judge_threshold=0.9)
    llm = _judge_llm()
    options = OptionsEnv(env, FixedPolicy(None), config, library=library, success_detector=detector, llm=llm)
    options.reset()
    _, _, _, _, info = options.step_skill("look")
    assert not info["skill_success"] and info["timed_out"] and info["skill_steps"] == 1
    _, _, _, _, info = options.step_skill("open fridge")
    assert info["skill_success"] and info["skill_steps"] == 1
    assert isinstance(options.judge, TrajectoryJudge) and detector.calls == []
    assert llm.requests == [] and llm.usage.calls > 0  # the judge scores answers, it never generates
    _, probability = options.judge.is_complete("open fridge", ["", ("open fridge", "The fridge is open.")])
    assert probability > 0.9


class _SlowCommands(TextWorldSkillLibrary):
    """Commands that may take up to three steps (the judge ends them early)."""

    def available(self):
        return [Skill(s.name, s.kind, (), max_steps=3, has_predicate=False) for s in super().available()]


class ScriptedJudge:
    def __init__(self, probabilities):
        self.probabilities, self.calls = list(probabilities), []

    def is_complete(self, mission, trajectory):
        self.calls.append((mission, list(trajectory)))
        probability = self.probabilities.pop(0)
        return probability >= 0.5, probability


def test_the_judge_reads_the_trajectory_so_far_and_stops_the_skill_once_it_is_complete():
    env = _GameView(_Game())
    judge = ScriptedJudge([0.2, 0.8, 0.1, 0.1, 0.1])
    config = OptionsConfig(termination_critic="judge", judge_threshold=0.7)
    options = OptionsEnv(env, FixedPolicy(None), config, library=_SlowCommands(env), judge=judge)
    options.reset()
    _, _, _, _, info = options.step_skill("look")
    assert info["skill_success"] and info["skill_steps"] == 2 and not info["timed_out"]
    assert judge.calls[-1] == ("look", ["", ("look", ""), ("look", "")])
    _, _, _, _, info = options.step_skill("look")
    assert not info["skill_success"] and info["skill_steps"] == 3 and info["timed_out"]
    assert options.num_env_steps == 5 and len(judge.calls) == 5


def test_the_judge_is_not_asked_about_skills_with_a_predicate():
    judge = ScriptedJudge([])
    options = OptionsEnv(
        me.make(LEVEL), FixedPolicy(TURN_RIGHT), OptionsConfig(termination_critic="judge"), judge=judge
    )
    options.reset(seed=0)
    _, _, _, _, info = options.step_skill("go to the green key")
    assert info["skill_success"] and judge.calls == []


def test_the_judge_needs_a_judge_or_an_llm_before_any_step():
    env, library = _text_game()
    options = OptionsEnv(env, FixedPolicy(None), OptionsConfig(termination_critic="judge"), library=library)
    options.reset()
    with pytest.raises(ConfigError, match="has no success predicate; pass judge= or llm= to OptionsEnv"):
        options.step_skill("open fridge")
    assert options.num_env_steps == 0 and not env.unwrapped.opened


def test_random_skill_policy_is_seeded():
    a = RandomSkillPolicy(gym.spaces.Discrete(6), seed=3)
    b = RandomSkillPolicy(gym.spaces.Discrete(6), seed=3)
    features = np.zeros(3)
    assert [a.act(None, features) for _ in range(5)] == [b.act(None, features) for _ in range(5)]
    assert a.value(None, features) == 0.5
