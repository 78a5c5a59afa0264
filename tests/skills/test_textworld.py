"""The TextWorld library over a stand-in text env (real TextWorld games are tested in tests/envs)."""

import gymnasium as gym
import numpy as np

from mentor.envs.text_view import TextObservation, TextView
from mentor.skills.textworld import TextWorldSkillLibrary


class _Game(gym.Env):
    observation_space = gym.spaces.Text(64)
    action_space = gym.spaces.Text(64)

    def reset(self, *, seed=None, options=None):
        self.opened = False
        return "kitchen", {"score": 0, "max_score": 2}

    def step(self, action):
        self.opened = self.opened or action == "open fridge"
        return "kitchen", float(self.opened), False, False, {"score": int(self.opened), "max_score": 2}


class _GameView(TextView):
    def admissible_actions(self):
        return ["look", "close fridge"] if self.env.unwrapped.opened else ["look", "open fridge"]

    def _text_to_action(self, action):
        return action

    def _describe(self):
        return TextObservation("open the fridge", "The fridge is open." if self.env.unwrapped.opened else "", ())


def test_commands_are_one_step_skills_without_predicate():
    env = _GameView(_Game())
    obs, info = env.reset()
    library = TextWorldSkillLibrary(env)
    library.reset(obs, info)
    assert library.catalogue() is None
    skills = library.available()
    assert [s.name for s in skills] == ["look", "open fridge"]
    assert all(s.max_steps == 1 and not s.has_predicate and s.kind == "command" for s in skills)
    ctx = library.begin(library.skill("open fridge"))
    assert library.scripted_action(ctx) == "open fridge"
    assert library.succeeded(ctx, info) is None
    assert library.features(ctx, obs).shape == library.observation_space.shape
    obs, _, _, _, info = env.step("open fridge")
    library.update(obs, info)
    assert library.begin(library.skill("look")) is not None
    np.testing.assert_allclose(library.high_level_features(obs), [0.5, 0.0, 0.0])
    assert library.planner_examples[0].plan[0] == "open fridge" and library.planner_rules == ""
