import pytest

from mentor.llm.testing import BABYAI_ACTIONS, ScriptedLLM, make_tiny_model, make_tiny_tokenizer


def test_scripted_llm_replies_in_order_then_repeats():
    llm = ScriptedLLM(["a", "b"])
    assert [llm.generate("q")[0] for _ in range(3)] == ["a", "b", "b"]
    assert llm.requests[0] == [{"role": "user", "content": "q"}]
    assert llm.info()["backend"] == "scripted"


def test_scripted_llm_callable_and_scorer():
    llm = ScriptedLLM(
        lambda messages: messages[-1]["content"].upper(), scorer=lambda p, c: 1.0 if c == " go forward" else -1.0
    )
    assert llm.generate("go") == ["GO"]
    assert llm.score("x", BABYAI_ACTIONS).index(1.0) == 2


def test_scripted_llm_needs_a_reply():
    with pytest.raises(ValueError, match=r"ScriptedLLM needs at least one reply"):
        ScriptedLLM([])


def test_tiny_tokenizer_and_model():
    tok = make_tiny_tokenizer()
    ids = tok("go to the red ball", add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == "go to the red ball" and len(ids) < len("go to the red ball")
    assert tok.eos_token == tok.pad_token == "<|im_end|>" and tok.chat_template
    a, b = make_tiny_model(tok, seed=1), make_tiny_model(tok, seed=1)
    assert all((p == q).all() for p, q in zip(a.parameters(), b.parameters()))
    assert a.config.vocab_size == len(tok) and not a.training
