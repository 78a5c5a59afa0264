import functools
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mentor.cli.llm
from mentor.cli import main
from mentor.cli.llm import app
from mentor.llm import make_llm

runner = CliRunner()
TINY = ["--llm", "transformers:tiny", "--no-cache"]


def test_info_shows_backend_model_and_parameters():
    result = runner.invoke(app, [*TINY, "info"])
    assert result.exit_code == 0, result.output
    assert "transformers" in result.output and "num_parameters" in result.output and "31,200" in result.output


def test_score_prints_a_ranked_table():
    result = runner.invoke(app, [*TINY, "score", "1, 2, 3, 4,", "-c", " 5", "-c", " 9", "--normalize", "token"])
    assert result.exit_code == 0, result.output
    assert "log-likelihood (token)" in result.output
    assert result.output.count("' 5'") == 1 and result.output.count("' 9'") == 1


def test_chat_prints_one_reply():
    result = runner.invoke(app, [*TINY, "chat", "hello", "--max-new-tokens", "3"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("bogus", "is not of the form 'backend:target'"),
        ("tfm:x", "Unknown LLM backend 'tfm'. Did you mean 'transformers'?"),
    ],
)
def test_bad_spec_exits_with_one_clear_line(spec, message):
    result = runner.invoke(app, ["--llm", spec, "info"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [result.stderr.strip()] and message in result.stderr


def test_bad_normalize_is_refused_by_the_parser():
    result = runner.invoke(app, [*TINY, "score", "x", "-c", " a", "--normalize", "mean"])
    assert result.exit_code == 2


def _dead_url():
    """The URL of a local port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def _run_main(monkeypatch, capsys, *args):
    """``mentor llm ARGS`` through ``mentor.cli.main``: its exit status, stdout and stderr."""
    monkeypatch.setattr(sys, "argv", ["mentor", "llm", *args])
    with pytest.raises(SystemExit) as info:
        main()
    out, err = capsys.readouterr()
    return info.value.code, out, err


def _assert_one_error_line(err, message):
    assert err.splitlines() == [err.strip()], err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--llm", "bogus", "info"], "LLM spec 'bogus' is not of the form 'backend:target'; allowed forms:"),
        (["--llm", "tfm:x", "chat", "hi"], "Unknown LLM backend 'tfm'. Did you mean 'transformers'?"),
        (["--llm", "openai:http://h:1/v1", "info"], "needs a server URL and a model name"),
        (["--llm", "transformers:/no/such/folder", "info"], "'/no/such/folder' is not a local Hugging Face model"),
        ([*TINY, "score", "x", "-c", " a", "-c", ""], "every candidate must be a non-empty string; got ''"),
    ],
)
def test_bad_input_exits_2_with_one_error_line(monkeypatch, capsys, args, message):
    code, out, err = _run_main(monkeypatch, capsys, *args)
    assert code == 2 and out == ""
    _assert_one_error_line(err, message)


@pytest.mark.parametrize("command", [["info"], ["chat", "hi"], ["score", "x", "-c", " a"]])
def test_bad_input_exits_2_from_the_llm_app_alone(command):
    result = runner.invoke(app, ["--llm", "bogus", *command])
    assert result.exit_code == 2 and result.stdout == ""
    _assert_one_error_line(result.stderr, "LLM spec 'bogus' is not of the form")


def test_dead_server_exits_1_with_one_error_line(monkeypatch, capsys):
    monkeypatch.setattr(mentor.cli.llm, "make_llm", functools.partial(make_llm, max_retries=0))
    url = _dead_url()
    code, out, err = _run_main(monkeypatch, capsys, "--llm", f"openai:{url}#m", "--no-cache", "score", "x", "-c", " a")
    assert code == 1 and out == ""
    _assert_one_error_line(
        err, f"LLM server {url} failed 2 attempt(s) (timeout 60.0 s each): APIConnectionError"
    )  # probe + request


def test_mentor_command_exits_1_on_a_dead_server(tmp_path):
    url = _dead_url()
    result = subprocess.run(
        [str(Path(sys.executable).with_name("mentor")), "llm", "--llm", f"openai:{url}#m", "chat", "hi"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MENTOR_CACHE": str(tmp_path)},
    )
    assert result.returncode == 1 and result.stdout == ""
    _assert_one_error_line(result.stderr, f"LLM server {url} failed 4 attempt(s)")
