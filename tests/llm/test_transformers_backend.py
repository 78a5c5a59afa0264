import pytest
import torch

from mentor.errors import ConfigError
from mentor.llm import make_llm
from mentor.llm.transformers_backend import TransformersLLM, resolve_device


def test_local_folder_model_matches_the_model_it_was_saved_from(tmp_path, tiny_model, tiny_tokenizer):
    tiny_model.save_pretrained(tmp_path / "m")
    tiny_tokenizer.save_pretrained(tmp_path / "m")
    llm = make_llm(f"transformers:{tmp_path / 'm'}", cache=False)
    assert isinstance(llm, TransformersLLM)
    reference = make_llm("transformers:tiny", cache=False)
    assert llm.score("1, 2, 3,", [" 4", " 9"]) == pytest.approx(reference.score("1, 2, 3,", [" 4", " 9"]), abs=1e-5)
    assert llm.generate("hi", max_new_tokens=4) == reference.generate("hi", max_new_tokens=4)
    assert str(tmp_path / "m") in llm.model_id


def test_folder_without_model_is_rejected(tmp_path):
    with pytest.raises(
        ConfigError, match=r"is not a local Hugging Face model folder \(no config.json\); use 'embedded', 'tiny'"
    ):
        make_llm(f"transformers:{tmp_path}", cache=False)


def test_bfloat16_dtype_and_device():
    llm = make_llm("transformers:tiny", cache=False, dtype="bfloat16", device="cpu")
    assert next(llm.model.parameters()).dtype == torch.bfloat16 and llm.device == torch.device("cpu")
    assert all(s < 0 for s in llm.score("x", [" drop", " toggle"]))
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available")
def test_cuda_without_cuda_is_a_config_error():
    with pytest.raises(ConfigError, match=r"device 'cuda:0' was asked for but CUDA is not available"):
        make_llm("transformers:tiny", cache=False, device="cuda:0")


def test_model_setter_switches_the_cache_off(tiny_llm):
    assert tiny_llm.cache_enabled
    tiny_llm.model = tiny_llm.model
    assert not tiny_llm.cache_enabled and tiny_llm.info()["cache_enabled"] is False


def test_model_without_chat_template_joins_messages(tiny_llm):
    tiny_llm.tokenizer.chat_template = None  # each tiny LLM builds its own tokenizer
    assert tiny_llm.render_chat([{"role": "system", "content": "a"}, {"role": "user", "content": "b"}]) == "a\nb"
    assert len(tiny_llm.generate("b", max_new_tokens=2)) == 1
