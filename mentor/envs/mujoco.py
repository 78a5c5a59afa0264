"""MuJoCo locomotion (HalfCheetah, Hopper, Walker2d, Ant, Humanoid; Gymnasium v5) with a state-naming view.

:func:`read_locomotion_state` derives named quantities from the MuJoCo model itself (joint names,
root joint type, torso body), so reward code and critics read ``torso_height`` or
``joint_velocities["bthigh"]`` instead of observation indices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from mentor.envs.registry import MentorEnvSpec
from mentor.envs.text_view import TextObservation, TextView
from mentor.errors import InvalidActionError

__all__ = ["LOCOMOTION_TASKS", "LocomotionState", "MuJoCoTextView", "read_locomotion_state", "make_mujoco", "env_specs"]

#: Base Gymnasium id -> the task its built-in reward pursues.
LOCOMOTION_TASKS: dict[str, str] = {
    "HalfCheetah-v5": "run forward (in the +x direction) as fast as possible",
    "Hopper-v5": "hop forward as fast as possible without falling",
    "Walker2d-v5": "walk forward as fast as possible without falling",
    "Ant-v5": "run forward (in the +x direction) as fast as possible without flipping over",
    "Humanoid-v5": "walk forward as fast as possible without falling",
}

_FREE, _HINGE = 0, 3


@dataclass(frozen=True)
class LocomotionState:
    """Named state of a locomotion robot, read from MuJoCo's ``model``/``data``.

    Attributes:
        x_position: root x coordinate (m).
        torso_height: world z of the torso body (m).
        torso_angle: pitch of the torso (rad); for planar robots the ``rooty`` joint angle.
        torso_orientation: (roll, pitch, yaw) of the torso (rad).
        x_velocity, y_velocity, z_velocity: root linear velocity (m/s); y is 0 for planar robots.
        angular_velocity: torso pitch rate for planar robots, (wx, wy, wz) norm otherwise (rad/s).
        joint_positions, joint_velocities: actuated joint name -> angle (rad) / rate (rad/s).
        contact_forces: body name -> summed normal contact force (N), for bodies touching something.
    """

    x_position: float
    torso_height: float
    torso_angle: float
    torso_orientation: tuple[float, float, float]
    x_velocity: float
    y_velocity: float
    z_velocity: float
    angular_velocity: float
    joint_positions: dict[str, float]
    joint_velocities: dict[str, float]
    contact_forces: dict[str, float]


def _quat_to_euler(w: float, x: float, y: float, z: float) -> tuple[float, float, float]:
    roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x))))
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return roll, pitch, yaw


def read_locomotion_state(env: gym.Env) -> LocomotionState:
    """The named state of a (possibly wrapped) Gymnasium MuJoCo locomotion env."""
    model, data = env.unwrapped.model, env.unwrapped.data
    torso = model.body("torso").id
    free_root = model.jnt_type[0] == _FREE
    if free_root:
        orientation = _quat_to_euler(*data.xquat[torso])
        pitch = orientation[1]
        vx, vy, vz = (float(v) for v in data.qvel[0:3])
        angular = float(np.linalg.norm(data.qvel[3:6]))
    else:
        rooty = model.joint("rooty")
        pitch = float(data.qpos[rooty.qposadr[0]])
        orientation = (0.0, pitch, 0.0)
        vx, vy, vz = float(data.qvel[0]), 0.0, float(data.qvel[1])
        angular = float(data.qvel[rooty.dofadr[0]])
    positions, velocities = {}, {}
    for j in range(model.njnt):
        name = model.joint(j).name
        if model.jnt_type[j] != _HINGE or name.startswith("root"):
            continue
        positions[name] = float(data.qpos[model.jnt_qposadr[j]])
        velocities[name] = float(data.qvel[model.jnt_dofadr[j]])
    contacts: dict[str, float] = {}
    wrench = np.zeros(6)
    for i in range(data.ncon):
        contact = data.contact[i]
        mujoco.mj_contactForce(model, data, i, wrench)
        for geom in (contact.geom1, contact.geom2):
            body_id = model.geom_bodyid[geom]
            body = model.body(body_id).name or model.geom(geom).name or f"body_{body_id}"
            if body_id != 0:
                contacts[body] = contacts.get(body, 0.0) + float(abs(wrench[0]))
    return LocomotionState(
        x_position=float(data.qpos[0]),
        torso_height=float(data.xpos[torso][2]),
        torso_angle=float(pitch),
        torso_orientation=tuple(float(a) for a in orientation),
        x_velocity=vx,
        y_velocity=vy,
        z_velocity=vz,
        angular_velocity=angular,
        joint_positions=positions,
        joint_velocities=velocities,
        contact_forces=contacts,
    )


def _named(values: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:+.2f}" for k, v in values.items())


class MuJoCoTextView(TextView):
    """Names the state quantities of a locomotion robot; actions are continuous, so none are strings."""

    def __init__(self, env: gym.Env, task: str):
        super().__init__(env)
        self.task = task

    def admissible_actions(self) -> list[str]:
        return []

    def text_to_action(self, action: str) -> Any:
        space = self.action_space
        raise InvalidActionError(
            action,
            [],
            reason=f"this env takes continuous actions of shape {space.shape} "
            f"in [{space.low.min():g}, {space.high.max():g}], not strings",
        )

    def _describe(self) -> TextObservation:
        s = read_locomotion_state(self)
        lines = [
            f"torso height: {s.torso_height:.3f} m",
            f"torso angle (pitch): {s.torso_angle:+.3f} rad",
            f"x position: {s.x_position:+.3f} m",
            f"x velocity: {s.x_velocity:+.3f} m/s",
            f"z velocity: {s.z_velocity:+.3f} m/s",
            f"joint positions (rad): {_named(s.joint_positions)}",
            f"joint velocities (rad/s): {_named(s.joint_velocities)}",
        ]
        if s.y_velocity:
            lines.insert(4, f"y velocity: {s.y_velocity:+.3f} m/s")
        if s.contact_forces:
            lines.append("in contact: " + ", ".join(s.contact_forces))
        return TextObservation(
            mission=self.task,
            observation="\n".join(lines),
            actions=(),
            extras={"x_velocity": s.x_velocity, "torso_height": s.torso_height},
        )


def make_mujoco(base_id: str, **kwargs: Any) -> gym.Env:
    """Build the Gymnasium MuJoCo env ``base_id`` with its text view (no TimeLimit; the spec adds it)."""
    base = gym.spec(base_id)
    creator = gym.envs.registration.load_env_creator(base.entry_point)
    return MuJoCoTextView(creator(**{**base.kwargs, **kwargs}), LOCOMOTION_TASKS[base_id])


def env_specs() -> list[MentorEnvSpec]:
    return [
        MentorEnvSpec(
            id=f"mentor/{base_id}",
            entry_point="mentor.envs.mujoco:make_mujoco",
            family="mujoco",
            kwargs={"base_id": base_id},
            max_episode_steps=1000,
        )
        for base_id in LOCOMOTION_TASKS
    ]
