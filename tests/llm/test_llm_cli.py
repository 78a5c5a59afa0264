import pytest
from typer.testing import CliRunner

from mentor.llm.cli import app

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
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())


def test_bad_normalize_is_refused_by_the_parser():
    result = runner.invoke(app, [*TINY, "score", "x", "-c", " a", "--normalize", "mean"])
    assert result.exit_code == 2
