"""The LLM policy: tree-layout scores equal score_batch's, the trunk/head split, LoRA placement, reference, state."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mentor.agents.llm_policy import LLMPolicy, TrunkCache, collate_trees, encode_trees
from mentor.errors import ConfigError
from mentor.llm.scoring import score_batch
from mentor.llm.testing import BABYAI_ACTIONS, BABYAI_PROMPT, make_tiny_model, make_tiny_tokenizer

PROMPTS = [BABYAI_PROMPT, "Goal: open the door.\nNext action:", "x"]
CANDIDATES = [list(BABYAI_ACTIONS), [" toggle", " go forward"], [" turn left the red ball", " a"]]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tokenizer():
    return make_tiny_tokenizer()


def make_policy(tokenizer, **kwargs) -> LLMPolicy:
    kwargs.setdefault("trainable_layers", 2)
    return LLMPolicy(make_tiny_model(tokenizer, num_layers=3), tokenizer, **kwargs)


@pytest.mark.parametrize("normalize", ["sum", "token", "word"])
@pytest.mark.parametrize("trainable_layers", [None, 1, 3])
def test_tree_scores_equal_naive_score_batch(tokenizer, normalize, trainable_layers):
    policy = make_policy(tokenizer, normalize=normalize, trainable_layers=trainable_layers)
    with torch.no_grad():
        ref = score_batch(
            make_tiny_model(tokenizer, num_layers=3), tokenizer, PROMPTS, CANDIDATES, normalize, method="naive"
        )
        out = policy.act_logits(PROMPTS, CANDIDATES)
    for b, scores in enumerate(ref.scores):
        torch.testing.assert_close(out.logits[b, : len(scores)], scores, atol=1e-5, rtol=1e-5)
        assert torch.isneginf(out.logits[b, len(scores) :]).all()
    assert out.values.shape == (len(PROMPTS),)


def test_value_reads_last_prompt_token_and_ignores_candidates(tokenizer):
    policy = make_policy(tokenizer)
    with torch.no_grad():
        a = policy.act_logits([PROMPTS[0]], [[" turn left"]]).values
        b = policy.act_logits([PROMPTS[0]], [[" go forward", " toggle", " drop"]]).values
        c = policy.act_logits([PROMPTS[1]], [[" turn left"]]).values
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_lora_only_on_the_trained_layers_and_gradients_stop_at_the_trunk(tokenizer):
    policy = make_policy(tokenizer, trainable_layers=1)
    lora_layers = {name.split("layers.")[1].split(".")[0] for name, _ in policy.named_parameters() if "lora_" in name}
    assert lora_layers == {"2"}
    assert policy.num_trunk_layers == 2
    batch = collate_trees(policy.encode(PROMPTS, CANDIDATES))
    trunk = policy.trunk(batch)
    assert not trunk.requires_grad
    out = policy.head(batch, trunk)
    (out.log_probs()[:, 0].sum() + out.values.sum()).backward()
    trained = [name for name, p in policy.named_parameters() if p.grad is not None]
    assert trained and all("lora_" in name or name.startswith("value_head.") for name in trained)
    assert any("lora_B" in name for name in trained)


def test_reference_is_the_base_model_after_the_adapters_change(tokenizer):
    policy = make_policy(tokenizer, trainable_layers=2)
    with torch.no_grad():
        before = policy.act_logits(PROMPTS, CANDIDATES).logits
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
        after = policy.act_logits(PROMPTS, CANDIDATES).logits
        with policy.reference():
            reference = policy.act_logits(PROMPTS, CANDIDATES).logits
    finite = torch.isfinite(before)
    assert not torch.allclose(before[finite], after[finite])
    torch.testing.assert_close(reference, before)


def test_trainable_state_round_trip(tokenizer):
    policy, other = make_policy(tokenizer, seed=1), make_policy(tokenizer, seed=2)
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.normal_()
    other.load_trainable_state_dict(policy.trainable_state_dict())
    with torch.no_grad():
        torch.testing.assert_close(
            other.act_logits(PROMPTS, CANDIDATES).logits, policy.act_logits(PROMPTS, CANDIDATES).logits
        )
    with pytest.raises(ValueError, match="trained-parameter names differ"):
        other.load_trainable_state_dict({"nope": torch.zeros(1)})


def test_trainable_layers_beyond_the_model_depth_is_rejected(tokenizer):
    with pytest.raises(ConfigError, match=r"trainable_layers \(4\) must be between 1 and the model's 3"):
        make_policy(tokenizer, trainable_layers=4)


def test_model_without_llama_layout_is_rejected(tokenizer):
    class NotALlama(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = nn.Module()
            self.lm_head = nn.Linear(2, 2)

    with pytest.raises(ConfigError, match="lacks embed_tokens, layers, norm, rotary_emb.*Llama layout"):
        LLMPolicy(NotALlama(), tokenizer)


def test_unknown_normalize_is_rejected(tokenizer):
    with pytest.raises(ValueError, match="normalize='mean' is not one of"):
        make_policy(tokenizer, normalize="mean")


def test_encode_trees_layout_and_errors(tokenizer):
    (sample,) = encode_trees(tokenizer, ["go to"], [[" a", " red ball"]])
    assert sample.num_tokens == sample.prompt_len + sum(sample.candidate_lens)
    assert sample.candidates == (" a", " red ball")
    with pytest.raises(ValueError, match="need one candidate list per prompt; got 1 prompts, 2 lists"):
        encode_trees(tokenizer, ["go to"], [[" a"], [" b"]])
    with pytest.raises(ValueError, match="at least one candidate"):
        encode_trees(tokenizer, ["go to"], [[]])


def test_trunk_cache_reuses_states_and_drops_the_least_recently_used(tokenizer):
    policy = make_policy(tokenizer)
    samples = policy.encode(PROMPTS, CANDIDATES)
    cache = TrunkCache(policy, max_entries=2)
    first = cache(samples[:2])
    assert (cache.hits, cache.passes, len(cache)) == (0, 2, 2)
    again = cache([samples[1], samples[0]])
    assert cache.hits == 2 and again[0] is first[1] and again[1] is first[0]
    cache([samples[2]])
    assert len(cache) == 2 and cache.passes == 3
    cache([samples[1]])
    assert cache.passes == 4
    batched = TrunkCache(policy, max_entries=0)(samples)
    for alone, together in zip(TrunkCache(policy)(samples), batched):
        torch.testing.assert_close(alone, together, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"max_entries \(-1\) must be 0 or more"):
        TrunkCache(policy, max_entries=-1)


def test_trunk_cache_batches_misses_of_equal_length_bit_for_bit(tokenizer):
    """One pass per token count, no padding: each state equals the sample's own one-sample pass exactly."""
    policy = make_policy(tokenizer)
    prompts = ["Goal: go to door 1.", "Goal: go to door 2.", "Goal: open the door.", "Goal: go to door 3.", "x"]
    samples = policy.encode(prompts, [[" turn left", " go forward"]] * len(prompts))
    lengths = {s.num_tokens for s in samples}
    assert len(lengths) < len(samples)
    cache = TrunkCache(policy)
    states = cache(samples)
    assert cache.passes == len(lengths)
    for sample, state in zip(samples, states):
        assert torch.equal(state, policy.trunk(collate_trees([sample]))[0])
