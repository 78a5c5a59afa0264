import pytest

from mentor.errors import MissingDependencyError
from mentor.llm import make_llm
from mentor.llm.llamacpp_backend import is_llamacpp_available


@pytest.mark.skipif(is_llamacpp_available(), reason="llama-cpp-python is installed")
def test_missing_llamacpp_names_the_extra():
    with pytest.raises(
        MissingDependencyError,
        match=r"The llamacpp LLM backend needs the optional package 'llama-cpp-python': pip install 'mentor\[llamacpp\]'",
    ):
        make_llm("llamacpp:embedded", cache=False)


@pytest.mark.slow
@pytest.mark.skipif(not is_llamacpp_available(), reason="llama-cpp-python is not installed (extra [llamacpp])")
def test_llamacpp_generates_and_scores_the_embedded_gguf():
    llm = make_llm("llamacpp:embedded", cache=False)
    assert llm.generate("List three steps to make tea.", max_new_tokens=16)[0].strip()
    five, nine = llm.score("1, 2, 3, 4,", [" 5", " 9"])
    assert five > nine


@pytest.mark.slow
@pytest.mark.skipif(not is_llamacpp_available(), reason="llama-cpp-python is not installed (extra [llamacpp])")
def test_llamacpp_decodes_under_gbnf_grammars():
    from mentor.llm.constraints import Choice
    from mentor.planners.planner import plan_constraint

    llm = make_llm("llamacpp:embedded", cache=False)
    assert llm.generate("Which way?", max_new_tokens=8, constraint=Choice(["turn left", "go forward"]))[0] in (
        "turn left",
        "go forward",
    )
    plan = llm.generate("Plan.", max_new_tokens=64, constraint=plan_constraint(["explore", "open the door"], 3))[0]
    lines = plan.splitlines()
    assert lines and all(line[3:] in ("explore", "open the door") for line in lines)
