import pytest
from minigrid.core.grid import Grid
from minigrid.core.mission import MissionSpace
from minigrid.core.world_object import Ball, Door, Key
from minigrid.minigrid_env import MiniGridEnv

from mentor.envs import describe, make, text_to_action
from mentor.envs.minigrid import MINIGRID_ACTIONS, MiniGridTextView
from mentor.errors import InvalidActionError


class _Room(MiniGridEnv):
    """A 9x9 room with objects at fixed places; the agent at (3, 7) facing up (direction 3), 7x7 view."""

    def __init__(self, **kwargs):
        super().__init__(
            mission_space=MissionSpace(mission_func=lambda: "pick up the red ball"),
            grid_size=9,
            max_steps=50,
            see_through_walls=True,
            **kwargs,
        )

    def _gen_grid(self, width, height):
        self.grid = Grid(width, height)
        self.grid.wall_rect(0, 0, width, height)
        self.put_obj(Ball("red"), 1, 4)  # 2 left, 3 forward
        self.put_obj(Key("blue"), 4, 7)  # 1 right
        self.put_obj(Door("yellow", is_locked=True), 3, 5)  # 2 forward
        self.agent_pos, self.agent_dir = (3, 7), 3
        self.mission = "pick up the red ball"


def test_text_view_places_objects_relative_to_the_agent():
    env = MiniGridTextView(_Room())
    env.reset(seed=0)
    view = describe(env)
    lines = view.observation.splitlines()
    assert view.mission == "pick up the red ball"
    assert "You see a red ball 2 steps left and 3 steps forward" in lines
    assert "You see a blue key 1 step right" in lines
    assert "You see a locked yellow door 2 steps forward" in lines
    assert "You see a wall 3 steps left" in lines
    assert not any("steps right" in line and "wall" in line for line in lines)  # x=8 is outside the 7x7 view
    assert view.actions == MINIGRID_ACTIONS


def test_text_view_follows_the_agent_and_reports_carrying():
    env = MiniGridTextView(_Room())
    env.reset(seed=0)
    env.step(text_to_action(env, "turn right"))  # now facing right: the key is 1 step forward
    assert "You see a blue key 1 step forward" in describe(env).observation
    env.step(text_to_action(env, "pick up"))
    assert "You carry a blue key" in describe(env).observation


def test_doorkey_seed_is_reproducible():
    a, b = make("mentor/MiniGrid-DoorKey-5x5-v0"), make("mentor/MiniGrid-DoorKey-5x5-v0")
    a.reset(seed=3), b.reset(seed=3)
    assert describe(a) == describe(b)
    assert describe(a).mission == "use the key to open the door and then get to the goal"


def test_action_strings_map_to_minigrid_actions():
    env = make("mentor/BabyAI-GoToLocal-v0")
    env.reset(seed=0)
    assert [text_to_action(env, a) for a in MINIGRID_ACTIONS] == [0, 1, 2, 3, 4, 5]
    assert text_to_action(env, "  Go   Forward ") == 2


def test_inadmissible_action_names_the_choices():
    env = make("mentor/BabyAI-GoToLocal-v0")
    env.reset(seed=0)
    with pytest.raises(
        InvalidActionError,
        match=r"'go forwards' is not admissible here\. Closest: 'go forward'\. Admissible: 'turn left'",
    ):
        text_to_action(env, "go forwards")


def test_success_is_recorded_in_the_episode_outcome():
    env = make("mentor/MiniGrid-Empty-5x5-v0")
    env.reset(seed=0)
    # Empty-5x5: agent at (1, 1) facing right, goal at (3, 3).
    for action in ["go forward", "go forward", "turn right", "go forward", "go forward"]:
        _, reward, terminated, truncated, info = env.step(text_to_action(env, action))
    assert terminated and reward > 0
    assert info["episode_outcome"]["success"] is True
    assert info["episode_outcome"]["progression"] == 100.0
    assert info["episode_outcome"]["length"] == 5
