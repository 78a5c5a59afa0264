"""Env throughput: steps/s per env family, Crafter (symbolic and pixels) vs stock, SB3 PPO through mentor's wrappers vs raw.

Prints a table and writes ``benchmarks/results/env_throughput.json`` with the in-run ratios
``crafter_fast_vs_stock`` (symbolic fast mode, no frames), ``crafter_pixels_fast_vs_stock``
(mentor/Crafter-v0's frames, byte-equal to stock crafter's) and ``wrapper_vs_raw_fps``. Stock is
``crafter.Env``, which renders a frame on every step.

    python benchmarks/env_throughput.py            # defaults sized for a 2-core machine
    python benchmarks/env_throughput.py --ppo-steps 50000 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import crafter
import gymnasium as gym
import numpy as np
import torch
from minigrid.wrappers import FlatObsWrapper
from rich.console import Console
from rich.table import Table
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv

import mentor.envs
from mentor.envs.crafter import CrafterEnv
from mentor.sb3.hyperparams import algo_kwargs, load_hyperparams

RESULTS = Path(__file__).parent / "results" / "env_throughput.json"


def random_steps_per_second(env: gym.Env, steps: int, seed: int = 0) -> float:
    env.reset(seed=seed)
    env.action_space.seed(seed)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def crafter_steps_per_second(make, steps: int, seed: int = 0) -> float:
    """Steps/s of a crafter-style env driven by a fixed random action sequence (resets excluded)."""
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 17, size=steps)
    env = make()
    env.reset()
    elapsed = 0.0
    for action in actions:
        start = time.perf_counter()
        out = env.step(int(action))
        elapsed += time.perf_counter() - start
        done = out[2] if len(out) == 4 else (out[2] or out[3])
        if done:
            env.reset()
    return steps / elapsed


def reset_seconds(make, repeats: int) -> float:
    env = make()
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        env.reset(seed=i) if isinstance(env, gym.Env) else env.reset()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ppo_fps(env_id: str, steps: int, seed: int) -> float:
    """Frames/s of SB3 PPO (configs/sb3/ppo.yml DoorKey settings, 8 envs, FlatObsWrapper), rollouts and updates."""
    hyperparams = load_hyperparams("ppo", "mentor/MiniGrid-DoorKey-5x5-v0")
    venv = make_vec_env(
        env_id, n_envs=hyperparams["n_envs"], seed=seed, wrapper_class=FlatObsWrapper, vec_env_cls=DummyVecEnv
    )
    model = PPO("MlpPolicy", venv, seed=seed, device="cpu", **algo_kwargs(hyperparams))
    start = time.perf_counter()
    model.learn(steps)
    return model.num_timesteps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000, help="random steps per env for steps/s")
    parser.add_argument("--crafter-steps", type=int, default=3000, help="steps per Crafter measurement")
    parser.add_argument("--ppo-steps", type=int, default=16384, help="PPO env steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats of each A/B pair")
    args = parser.parse_args()
    torch.set_num_threads(1)

    families = {
        "minigrid": "mentor/MiniGrid-DoorKey-5x5-v0",
        "babyai": "mentor/BabyAI-GoToLocal-v0",
        "crafter (pixels)": "mentor/Crafter-v0",
        "crafter (symbolic, fast)": "mentor/Crafter-Symbolic-v0",
        "mujoco": "mentor/HalfCheetah-v5",
        "textworld": "mentor/TextWorld-Easy-v0",
    }
    family_sps = {}
    for name, env_id in families.items():
        env = mentor.envs.make(env_id)
        family_sps[name] = random_steps_per_second(env, args.steps)
        env.close()

    stock, fast, pixels = [], [], []
    for r in range(args.repeats):
        stock.append(crafter_steps_per_second(lambda r=r: crafter.Env(seed=r), args.crafter_steps, seed=r))
        fast.append(crafter_steps_per_second(lambda: CrafterEnv(fast=True), args.crafter_steps, seed=r))
        pixels.append(crafter_steps_per_second(lambda: CrafterEnv(observation="pixels"), args.crafter_steps, seed=r))
    stock_reset = reset_seconds(lambda: crafter.Env(seed=0), args.repeats)
    fast_reset = reset_seconds(lambda: CrafterEnv(fast=True), args.repeats)

    raw, wrapped = [], []
    for r in range(args.repeats):
        raw.append(ppo_fps("MiniGrid-DoorKey-5x5-v0", args.ppo_steps, seed=r))
        wrapped.append(ppo_fps("mentor/MiniGrid-DoorKey-5x5-v0", args.ppo_steps, seed=r))

    result = {
        "crafter_fast_vs_stock": statistics.median(fast) / statistics.median(stock),
        "crafter_pixels_fast_vs_stock": statistics.median(pixels) / statistics.median(stock),
        "wrapper_vs_raw_fps": statistics.median(wrapped) / statistics.median(raw),
        "crafter_reset_stock_vs_fast": stock_reset / fast_reset,
        "crafter_stock_steps_per_s": statistics.median(stock),
        "crafter_fast_steps_per_s": statistics.median(fast),
        "crafter_pixels_steps_per_s": statistics.median(pixels),
        "crafter_stock_reset_s": stock_reset,
        "crafter_fast_reset_s": fast_reset,
        "ppo_raw_fps": statistics.median(raw),
        "ppo_mentor_fps": statistics.median(wrapped),
        "random_steps_per_s": family_sps,
        "settings": vars(args),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch_threads": 1},
    }
    table = Table(title="env throughput (same run; ratios are medians of alternating repeats)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, sps in family_sps.items():
        table.add_row(f"random steps/s: {name}", f"{sps:,.0f}")
    table.add_row("Crafter stock steps/s", f"{result['crafter_stock_steps_per_s']:,.0f}")
    table.add_row("Crafter fast steps/s", f"{result['crafter_fast_steps_per_s']:,.0f}")
    table.add_row("[bold]crafter_fast_vs_stock[/bold] (target >= 3)", f"{result['crafter_fast_vs_stock']:.2f}x")
    table.add_row("Crafter pixels steps/s (byte-equal frames)", f"{result['crafter_pixels_steps_per_s']:,.0f}")
    table.add_row(
        "[bold]crafter_pixels_fast_vs_stock[/bold] (target >= 3)", f"{result['crafter_pixels_fast_vs_stock']:.2f}x"
    )
    table.add_row("Crafter reset s: stock / fast", f"{stock_reset:.3f} / {fast_reset:.3f}")
    table.add_row("PPO frames/s: raw minigrid + FlatObs", f"{result['ppo_raw_fps']:,.0f}")
    table.add_row("PPO frames/s: mentor id + FlatObs", f"{result['ppo_mentor_fps']:,.0f}")
    table.add_row("[bold]wrapper_vs_raw_fps[/bold] (target >= 0.9)", f"{result['wrapper_vs_raw_fps']:.3f}")
    Console().print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
