import gymnasium as gym
import pytest

from mentor.envs.wrappers import RecordEpisodeOutcome


class _OneStep(gym.Env):
    """Ends after one step with the given info; stands in for an env family's last step."""

    observation_space = gym.spaces.Discrete(1)
    action_space = gym.spaces.Discrete(1)

    def __init__(self, reward: float, info: dict):
        self.reward, self.info = reward, info

    def reset(self, *, seed=None, options=None):
        return 0, {}

    def step(self, action):
        return 0, self.reward, True, False, dict(self.info)


@pytest.mark.parametrize(
    ("family", "reward", "info", "success", "progression"),
    [
        ("minigrid", 0.8, {}, True, 100.0),
        ("minigrid", 0.0, {}, False, 0.0),
        # BALROG: Crafter progression is the share of the 22 achievements unlocked (here 3 of 22).
        (
            "crafter",
            1.0,
            {"achievements": {"collect_wood": 2, "place_table": 1, "wake_up": 1, "eat_cow": 0}},
            False,
            300 / 22,
        ),
        ("textworld", 1.0, {"score": 2, "max_score": 8, "won": False}, False, 25.0),
        ("textworld", 1.0, {"score": 8, "max_score": 8, "won": True}, True, 100.0),
    ],
)
def test_outcome_success_and_balrog_progression(family, reward, info, success, progression):
    env = RecordEpisodeOutcome(_OneStep(reward, info), family)
    env.reset()
    outcome = env.step(0)[4]["episode_outcome"]
    assert outcome["success"] is success
    assert outcome["progression"] == pytest.approx(progression)
    assert outcome["return"] == reward and outcome["length"] == 1
