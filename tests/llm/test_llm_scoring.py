import math

import pytest
import torch

from mentor.llm import make_llm
from mentor.llm.scoring import encode_pairs, score_batch, score_candidates
from mentor.llm.testing import BABYAI_ACTIONS, BABYAI_PROMPT

ACTIONS = list(BABYAI_ACTIONS)
PROMPTS = [BABYAI_PROMPT, "1, 2, 3, 4,", "x"]
CANDIDATES = [ACTIONS, [" 5", " 9"], [" drop", " a wall 3 steps forward", " toggle"]]
TOL = 1e-4


def _naive_one(model, tokenizer, prompt, candidate):
    """Log-prob of one candidate from a single full-sequence forward pass on the same token ids."""
    (prompt_ids,), ((cand_ids,),) = encode_pairs(tokenizer, [prompt], [[candidate]])
    ids = torch.tensor([prompt_ids + cand_ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    return [logp[len(prompt_ids) - 1 + j, t].item() for j, t in enumerate(cand_ids)]


@pytest.mark.parametrize("normalize", ["sum", "token", "word"])
def test_shared_prefix_equals_naive(tiny_model, tiny_tokenizer, normalize):
    with torch.no_grad():
        shared = score_batch(tiny_model, tiny_tokenizer, PROMPTS[:1], CANDIDATES[:1], normalize)
        naive = score_batch(tiny_model, tiny_tokenizer, PROMPTS[:1], CANDIDATES[:1], normalize, method="naive")
    assert torch.allclose(shared.scores[0], naive.scores[0], atol=TOL, rtol=0)
    assert shared.scores[0].std() > 0.1  # a random model with wide weights: scores differ clearly


def test_batched_multi_prompt_equals_naive_per_pair(tiny_model, tiny_tokenizer):
    with torch.no_grad():
        out = score_batch(tiny_model, tiny_tokenizer, PROMPTS, CANDIDATES, "sum", return_prompt_hidden=True)
    assert [s.numel() for s in out.scores] == [6, 2, 3]
    for b, (prompt, cands) in enumerate(zip(PROMPTS, CANDIDATES)):
        for c, cand in enumerate(cands):
            assert out.scores[b][c].item() == pytest.approx(
                math.fsum(_naive_one(tiny_model, tiny_tokenizer, prompt, cand)), abs=TOL
            )
    for b, prompt in enumerate(PROMPTS):
        ids = torch.tensor([tiny_tokenizer(prompt, add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            hidden = tiny_model(input_ids=ids, output_hidden_states=True).hidden_states[-1][0, -1]
        assert torch.allclose(out.prompt_hidden[b], hidden, atol=TOL)


def test_naive_method_matches_shared_including_hidden_and_token_rows(tiny_model, tiny_tokenizer):
    with torch.no_grad():
        a = score_batch(tiny_model, tiny_tokenizer, PROMPTS, CANDIDATES, "word", return_prompt_hidden=True)
        b = score_batch(
            tiny_model, tiny_tokenizer, PROMPTS, CANDIDATES, "word", return_prompt_hidden=True, method="naive"
        )
    assert torch.equal(a.token_mask, b.token_mask) and torch.equal(a.owner, b.owner)
    assert torch.allclose(a.token_logprobs, b.token_logprobs, atol=TOL)
    assert torch.allclose(a.prompt_hidden, b.prompt_hidden, atol=TOL)
    assert a.num_tokens < b.num_tokens


def test_single_token_candidates_need_no_second_pass(tiny_model, tiny_tokenizer):
    calls = []
    hook = tiny_model.register_forward_hook(lambda module, args, output: calls.append(1))
    try:
        with torch.no_grad():
            shared = score_batch(tiny_model, tiny_tokenizer, PROMPTS[1:2], [[" 5", " 9"]])
        assert len(calls) == 1
    finally:
        hook.remove()
    with torch.no_grad():
        naive = score_batch(tiny_model, tiny_tokenizer, PROMPTS[1:2], [[" 5", " 9"]], method="naive")
    assert torch.allclose(shared.scores[0], naive.scores[0], atol=TOL)


def test_normalisations(tiny_model, tiny_tokenizer):
    cands = [" a wall 3 steps forward", " drop"]
    with torch.no_grad():
        out = {n: score_candidates(tiny_model, tiny_tokenizer, "x", cands, n) for n in ("sum", "token", "word")}
    token_counts = [len(ids) for ids in encode_pairs(tiny_tokenizer, ["x"], [cands])[1][0]]
    assert token_counts[0] > 1
    for i, cand in enumerate(cands):
        assert out["token"][i].item() == pytest.approx(out["sum"][i].item() / token_counts[i], abs=1e-6)
        assert out["word"][i].item() == pytest.approx(out["sum"][i].item() / len(cand.split()), abs=1e-6)


def test_padded_scores(tiny_model, tiny_tokenizer):
    with torch.no_grad():
        out = score_batch(tiny_model, tiny_tokenizer, PROMPTS[1:], CANDIDATES[1:])
    padded = out.padded()
    assert padded.shape == (2, 3)
    assert padded[0, 2].item() == float("-inf")
    assert torch.equal(padded[1], out.scores[1])


def test_empty_prompt_uses_bos(tiny_model, tiny_tokenizer):
    with torch.no_grad():
        shared = score_candidates(tiny_model, tiny_tokenizer, "", [" drop", " toggle"])
        naive = score_batch(tiny_model, tiny_tokenizer, [""], [[" drop", " toggle"]], method="naive").scores[0]
    assert torch.allclose(shared, naive, atol=TOL)


def test_scoring_is_differentiable_through_lora(tiny_tokenizer):
    from peft import LoraConfig, get_peft_model

    llm = make_llm("transformers:tiny", cache=False)
    before = llm.score(BABYAI_PROMPT, ACTIONS)
    llm.model = get_peft_model(
        llm.model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)
    )
    assert not llm.cache_enabled
    assert llm.score(BABYAI_PROMPT, ACTIONS) == pytest.approx(before, abs=1e-5)  # LoRA starts as identity

    params = [p for n, p in llm.model.named_parameters() if p.requires_grad]
    assert params and all("lora_" in n for n, p in llm.model.named_parameters() if p.requires_grad)
    value_head = torch.nn.Linear(llm.model.config.hidden_size, 1)
    optimizer = torch.optim.Adam([*params, *value_head.parameters()], lr=0.05)
    for step in range(5):
        out = score_batch(llm.model, llm.tokenizer, [BABYAI_PROMPT], [ACTIONS], "token", return_prompt_hidden=True)
        policy_loss = -torch.log_softmax(out.scores[0], -1)[2]
        value_loss = (value_head(out.prompt_hidden).squeeze(-1) - 1.0).pow(2).mean()
        optimizer.zero_grad()
        (policy_loss + value_loss).backward()
        if step == 0:
            lora_b = [p for n, p in llm.model.named_parameters() if "lora_B" in n]
            assert any(p.grad.abs().sum() > 0 for p in lora_b)
            assert value_head.weight.grad.abs().sum() > 0
        optimizer.step()
    after = llm.score(BABYAI_PROMPT, ACTIONS, "token")
    before_token = make_llm("transformers:tiny", cache=False).score(BABYAI_PROMPT, BABYAI_ACTIONS, "token")
    # the rewarded action " go forward" became likelier relative to the others
    assert (
        math.exp(after[2]) / sum(map(math.exp, after))
        > math.exp(before_token[2]) / sum(map(math.exp, before_token)) + 0.05
    )
    assert llm.generate("hi", max_new_tokens=3)  # generation goes through the peft wrapper


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"normalize": "mean"}, r"normalize='mean' is not one of sum, token, word"),
        ({"method": "fast"}, r"method='fast' is not one of shared, naive"),
        ({"candidates": [[" a"], [" b"]]}, r"need one candidate list per prompt; got 1 prompts, 2 lists"),
        ({"candidates": [[" a", ""]]}, r"every candidate must be a non-empty string; got ''"),
        ({"candidates": [[]]}, r"score needs at least one candidate"),
        ({"candidates": [" a b"]}, r"candidates must be a sequence of strings, not the single string ' a b'"),
    ],
)
def test_score_batch_rejects_bad_input(tiny_model, tiny_tokenizer, kwargs, message):
    args = {"prompts": ["x"], "candidates": [[" a"]], **kwargs}
    with pytest.raises(ValueError, match=message):
        score_batch(tiny_model, tiny_tokenizer, **args)


def test_candidate_without_tokens_is_rejected(tiny_model, tiny_tokenizer):
    class NoTokens:
        bos_token_id = eos_token_id = pad_token_id = 0

        def __call__(self, texts, add_special_tokens=False):
            return {"input_ids": [[] if t == " " else [5] for t in texts]}

    with pytest.raises(ValueError, match=r"candidate ' ' tokenizes to no tokens"):
        score_batch(tiny_model, NoTokens(), ["x"], [[" "]])


@pytest.mark.slow
@pytest.mark.parametrize("normalize", ["sum", "token", "word"])
def test_shared_prefix_equals_naive_on_embedded(embedded_llm, normalize):
    prompts = [BABYAI_PROMPT, "1, 2, 3, 4,"]
    cands = [ACTIONS, [" 5", " 9", " five"]]
    with torch.no_grad():
        shared = score_batch(
            embedded_llm.model, embedded_llm.tokenizer, prompts, cands, normalize, return_prompt_hidden=True
        )
        naive = score_batch(
            embedded_llm.model,
            embedded_llm.tokenizer,
            prompts,
            cands,
            normalize,
            return_prompt_hidden=True,
            method="naive",
        )
    for a, b in zip(shared.scores, naive.scores):
        assert torch.allclose(a, b, atol=TOL, rtol=0), (a - b).abs().max()
    assert torch.allclose(shared.prompt_hidden, naive.prompt_hidden, atol=1e-3)
    for c, cand in enumerate(cands[1]):
        assert shared.token_logprobs[6 + c][: shared.token_mask[6 + c].sum()].sum().item() == pytest.approx(
            math.fsum(_naive_one(embedded_llm.model, embedded_llm.tokenizer, prompts[1], cand)), abs=TOL
        )


@pytest.mark.slow
def test_embedded_scores_rank_the_right_continuation(embedded_llm):
    five, nine = embedded_llm.score("1, 2, 3, 4,", [" 5", " 9"])
    assert five > nine + 1.0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_shared_prefix_equals_naive_on_cuda(tiny_tokenizer):
    llm = make_llm("transformers:tiny", cache=False, device="cuda")
    with torch.no_grad():
        shared = score_batch(llm.model, tiny_tokenizer, PROMPTS, CANDIDATES, return_prompt_hidden=True)
        naive = score_batch(llm.model, tiny_tokenizer, PROMPTS, CANDIDATES, return_prompt_hidden=True, method="naive")
    assert shared.token_logprobs.is_cuda
    assert torch.allclose(shared.token_logprobs, naive.token_logprobs, atol=TOL)
