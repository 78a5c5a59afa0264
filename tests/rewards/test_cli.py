"""``mentor reward``, mounted on a local typer app, with a scripted LLM and the fake trainer."""

from __future__ import annotations

import json
import re

import pytest
import typer
from typer.testing import CliRunner

import mentor.rewards.loop as loop_module
from mentor.cli.reward import resolve_task, reward_command
from mentor.errors import ConfigError, UnknownComponentError
from mentor.llm.testing import ScriptedLLM
from mentor.runs import RunDir

ANSWER = (
    "```python\n# fitness: 0.4\ndef compute_reward(state, action, next_state):\n    return -0.01, {'time': -0.01}\n```"
)
FAST = ["--steps", "64", "--final-seeds", "1", "--eval-episodes", "1", "--executor", "sequential", "--prerank", "off"]


@pytest.fixture
def app(monkeypatch, fake_trainer):
    llm = ScriptedLLM([ANSWER])
    monkeypatch.setattr(loop_module, "make_llm", lambda spec: llm)
    application = typer.Typer()
    application.command("reward")(reward_command)
    application.command("other")(lambda: None)
    return application


def test_the_user_facing_job(app, fake_trainer):
    result = CliRunner().invoke(
        app,
        [
            "reward",
            "make the half cheetah run backwards",
            "--env",
            "mentor/HalfCheetah-v5",
            "--iterations",
            "1",
            "--samples",
            "2",
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Task 'halfcheetah_backward'" in result.output and "human-normalised score: 0.4" in result.output
    run = RunDir.latest("reward-halfcheetah_backward")
    assert json.loads((run.path / "results.json").read_text())["best_candidate_fitness"] == 0.4
    assert "final/seed-0" in fake_trainer.labels


def test_text2reward_with_a_feedback_file_and_resume(app, tmp_path, fake_trainer):
    feedback = tmp_path / "feedback.txt"
    feedback.write_text("go faster\n")
    args = [
        "reward",
        "--task",
        "doorkey",
        "--mode",
        "text2reward",
        "--iterations",
        "2",
        "--feedback",
        str(feedback),
        *FAST,
    ]
    assert CliRunner().invoke(app, args).exit_code == 0
    run = RunDir.latest("reward-doorkey")
    assert (run.path / "iter-00/human_feedback.txt").read_text().strip() == "go faster"
    fake_trainer.labels.clear()
    result = CliRunner().invoke(app, ["reward", "--task", "doorkey", "--resume"])
    assert result.exit_code == 0 and "Resuming" in result.output and run.name in result.output.replace("\n", "")
    assert fake_trainer.labels == []


def test_bad_feedback_and_missing_resume(app):
    result = CliRunner().invoke(app, ["reward", "--task", "doorkey", "--feedback", "nowhere.txt"])
    assert isinstance(result.exception, ConfigError) and "must be 'prompt' or an existing file" in str(result.exception)
    result = CliRunner().invoke(app, ["reward", "--task", "doorkey", "--resume"])
    assert isinstance(result.exception, ConfigError) and "--resume found no run named 'reward-doorkey'" in str(
        result.exception
    )


def test_resolve_task(tmp_path):
    assert resolve_task("make the hopper hop forward", "mentor/Hopper-v5", None, None, None).name == "hopper_hop"
    custom = resolve_task("make the cheetah flip", "mentor/HalfCheetah-v5", None, "forward_distance", None)
    assert custom.name == "make-the-cheetah-flip" and custom.human_reward is None
    human = tmp_path / "human.py"
    human.write_text("def compute_reward(state, action, next_state):\n    return 0.0, {}\n")
    assert resolve_task("flip", "mentor/HalfCheetah-v5", None, "forward_distance", human).human_reward.startswith("def")
    with pytest.raises(ConfigError, match=r"give a task description and --env"):
        resolve_task("run", None, None, None, None)
    with pytest.raises(
        ConfigError,
        match=r"no configured task on mentor/HalfCheetah-v5 matches 'make the cheetah flip', so say how to judge it: --fitness one of",
    ):
        resolve_task("make the cheetah flip", "mentor/HalfCheetah-v5", None, None, None)


def test_executor_address_and_algo_options(app, monkeypatch, fake_trainer):
    import mentor.executors

    seen = []

    def fake_make_executor(config):
        seen.append(config)
        return mentor.executors.make_executor("sequential")

    monkeypatch.setattr(loop_module, "make_executor", fake_make_executor)
    args = ["reward", "--task", "hopper_hop", "--iterations", "1", "--samples", "1", "--temperature", "0.5", *FAST]
    args[args.index("sequential")] = "ray"
    result = CliRunner().invoke(app, [*args, "--address", "ray://head:10001", "--workers", "3", "--algo", "a2c"])
    assert result.exit_code == 0, result.output
    assert (seen[0].kind, seen[0].address, seen[0].num_workers) == ("ray", "ray://head:10001", 3)
    saved = RunDir.latest("reward-hopper_hop").read_config()
    assert saved["loop"]["executor"]["address"] == "ray://head:10001" and saved["task"]["algo"] == "a2c"

    result = CliRunner().invoke(app, ["reward", "--name", "no-algo", *args[1:]])
    assert result.exit_code == 0, result.output
    assert RunDir.latest("no-algo").read_config()["task"]["algo"] == "sac"  # the MuJoCo default


@pytest.mark.parametrize(
    ("extra", "error", "message"),
    [
        (["--address", "auto"], ConfigError, r"--address \('auto'\) is a Ray cluster address; it needs --executor ray"),
        (["--algo", "sac"], ConfigError, r"algo 'sac' handles continuous actions, but mentor/MiniGrid"),
        (["--algo", "ppo2"], UnknownComponentError, r"Unknown SB3 algorithm 'ppo2'. Did you mean 'ppo'"),
        (["--resume", "--algo", "ppo"], ConfigError, r"--resume continues a run with its saved algorithm"),
    ],
)
def test_bad_executor_and_algo_options(app, extra, error, message):
    result = CliRunner().invoke(app, ["reward", "--task", "doorkey", *FAST, *extra])
    assert isinstance(result.exception, error) and re.search(message, str(result.exception)), result.output


#: Two hostile answers: the public numpy chain that escaped the old sandbox, and an object.__subclasses__() walk.
_ESCAPES = {
    "numpy-chain": "import numpy as np\n"
    "def compute_reward(state, action, next_state):\n"
    "    modules = np.random.mtrand.operator.attrgetter('__self__.modules')(np.random.mtrand.operator.attrgetter)\n"
    "    modules['os'].mknod('{path}')\n"
    "    return 1.0, {{'x': 1.0}}\n",
    "subclasses-walk": "def compute_reward(state, action, next_state):\n"
    "    for c in ().__class__.__bases__[0].__subclasses__():\n"
    "        if c.__name__ == '_wrap_close':\n"
    "            c.__init__.__globals__['mknod']('{path}')\n"
    "    return 1.0, {{'x': 1.0}}\n",
}


@pytest.fixture
def hostile_server(tmp_path):
    """A real OpenAI-compatible HTTP server on 127.0.0.1 whose every chat answer is hostile reward code."""
    import http.server
    import threading

    target = tmp_path / "open" / "escaped"
    target.parent.mkdir()
    target.parent.chmod(0o777)
    answers, requests = [], []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            code = answers[0].format(path=target)
            body = json.dumps(
                {
                    "id": "c",
                    "object": "chat.completion",
                    "created": 0,
                    "model": "m",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": f"```python\n{code}```"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"openai:http://127.0.0.1:{server.server_address[1]}/v1#m", answers, target, requests
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("gate", [True, False], ids=["gate", "no-gate"])
@pytest.mark.parametrize("escape", list(_ESCAPES))
def test_hostile_code_from_a_served_llm_is_invalid_and_touches_nothing(
    hostile_server, monkeypatch, fake_trainer, gate, escape
):
    import mentor.rewards.sandbox as sandbox_module

    spec, answers, target, _ = hostile_server
    answers.append(_ESCAPES[escape])
    if not gate:
        monkeypatch.setattr(sandbox_module, "check_reward_code", lambda code: None)
    monkeypatch.setenv("MENTOR_LLM_CACHE", "0")
    application = typer.Typer()
    application.command("reward")(reward_command)
    application.command("other")(lambda: None)
    args = ["reward", "--task", "doorkey", "--llm", spec, "--iterations", "1", "--samples", "2", *FAST]
    result = CliRunner().invoke(application, [*args, "--temperature", "0.5", "--no-baselines"])
    assert result.exit_code == 0, result.output
    assert "valid code: 0% of 2 candidates" in result.output
    assert not target.exists()
    stages = {
        c["stage"]
        for c in json.loads((RunDir.latest("reward-doorkey").path / "results.json").read_text())["candidates"]
    }
    assert stages == {"gate" if gate else "validation"}


def test_a_served_llm_gets_the_reward_grammar_in_its_structured_outputs_field(
    hostile_server, fake_trainer, monkeypatch
):
    spec, answers, _, requests = hostile_server
    answers.append("def compute_reward(state, action, next_state):\n    c0 = float(next_state.is_open)\n")
    monkeypatch.setenv("MENTOR_LLM_CACHE", "0")
    args = ["reward", "--task", "doorkey", "--llm", spec, "--iterations", "1", "--samples", "2", *FAST]
    application = typer.Typer()
    application.command("reward")(reward_command)
    application.command("other")(lambda: None)
    result = CliRunner().invoke(
        application, [*args, "--temperature", "0.5", "--no-baselines", "--structured-outputs", "vllm"]
    )
    assert result.exit_code == 0, result.output
    grammar = requests[0]["structured_outputs"]["grammar"]
    assert grammar.startswith("start:") and "gexpr1" in grammar and "next_state.agent_position[0]" in grammar
