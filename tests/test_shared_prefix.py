"""The GRPO loss with each group's prompt computed once (`mentor_train.shared_prefix`).

The reference is TRL's own forward (`add_fused_lm_head`, as `GRPOTrainer` computes its loss):
log-probs, entropies and the gradient of every parameter must agree on the tiny Qwen2 student,
with left-padded prompts, right-padded completions and two groups mixed in one micro-batch.
"""

from __future__ import annotations

import pytest
import torch

from mentor_train.shared_prefix import prompt_groups, shared_prefix_logps, unsupported_reason
from tests.train_helpers import tiny_student, tool_student  # noqa: F401 (fixtures)

TEMPERATURE = 0.7


def _batch(vocab: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Rows 0, 2, 3 share prompt A; row 1 has prompt B (shorter, left-padded). 5 completion
    tokens, row 3's completion right-padded after 2."""
    g = torch.Generator().manual_seed(0)
    prompt_a = torch.randint(3, vocab, (12,), generator=g)
    prompt_b = torch.cat(
        [torch.zeros(4, dtype=torch.long), torch.randint(3, vocab, (8,), generator=g)]
    )
    mask_a = torch.ones(12, dtype=torch.long)
    mask_b = torch.cat([torch.zeros(4, dtype=torch.long), torch.ones(8, dtype=torch.long)])
    completions = torch.randint(3, vocab, (4, 5), generator=g)
    completion_mask = torch.ones(4, 5, dtype=torch.long)
    completion_mask[3, 2:] = 0
    completions[3, 2:] = 0
    prompts = torch.stack([prompt_a, prompt_b, prompt_a, prompt_a])
    prompt_mask = torch.stack([mask_a, mask_b, mask_a, mask_a])
    return (
        torch.cat([prompts, completions], dim=1),
        torch.cat([prompt_mask, completion_mask], dim=1),
        5,
    )


def _trl_logps(model, input_ids, attention_mask, keep):
    """`GRPOTrainer._get_per_token_logps_and_entropies`, minus the trainer."""
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    labels[:, :-keep] = -100
    out = model(
        input_ids=input_ids, attention_mask=attention_mask, labels=labels, fused_lm_head=True
    )
    return out.log_probs[:, -keep:], out.entropy[:, -keep:]


def _grads(model) -> dict[str, torch.Tensor]:
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    return grads


@pytest.fixture
def model(tiny_student):  # noqa: F811 (pytest fixture injection)
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    model = AutoModelForCausalLM.from_pretrained(tiny_student, dtype=torch.float32)
    add_fused_lm_head(model, temperature=TEMPERATURE, outputs=("log_probs", "entropy"))
    return model.train()


def test_prompt_groups_by_ids_and_mask():
    ids = torch.tensor([[0, 5, 6], [0, 5, 6], [7, 5, 6], [0, 5, 6]])
    mask = torch.tensor([[0, 1, 1], [1, 1, 1], [1, 1, 1], [0, 1, 1]])
    assert prompt_groups(ids, mask) == [[0, 3], [1], [2]]


def test_same_logps_entropies_and_gradients_as_trl(model):
    input_ids, attention_mask, keep = _batch(model.config.vocab_size)
    completion_mask = attention_mask[:, -keep:]

    ref_logps, ref_entropy = _trl_logps(model, input_ids, attention_mask, keep)
    (ref_logps * completion_mask).sum().backward()
    ref_grads = _grads(model)

    logps, entropy, passes = shared_prefix_logps(
        model, input_ids, attention_mask, keep, temperature=TEMPERATURE, compute_entropy=True
    )
    (logps * completion_mask).sum().backward()
    grads = _grads(model)

    assert passes == 2  # prompt A once for its three rollouts, prompt B once
    assert logps.shape == ref_logps.shape == (4, keep)
    torch.testing.assert_close(logps, ref_logps, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(entropy, ref_entropy, atol=1e-5, rtol=1e-5)
    assert logps[3, 2:].eq(0).all()  # padding scores zero, as in TRL
    assert ref_grads.keys() == grads.keys() and len(grads) > 5
    for name, ref in ref_grads.items():
        torch.testing.assert_close(grads[name], ref, atol=1e-5, rtol=1e-4, msg=name)


def test_unsupported_models_are_named(model):
    assert unsupported_reason(model) is None
    model.config.final_logit_softcapping = 30.0
    assert "final_logit_softcapping" in unsupported_reason(model)
    model.config.final_logit_softcapping = None
    model.activation_checkpointing_enable()
    assert "activation_checkpointing" in unsupported_reason(model)
    assert "not a transformers" in unsupported_reason(torch.nn.Linear(2, 2))


def _trained(tool_student, out, share: bool):  # noqa: F811
    from datasets import Dataset

    from mentor_train.grpo import build_trainer
    from tests.test_grpo import recipe
    from tests.train_helpers import conversation, grpo_rows

    r = recipe(
        tool_student,
        out,
        "max_steps=1",
        "per_device_train_batch_size=4",  # two groups of two rollouts in one micro-batch
        "steps_per_generation=1",
        f"share_prompt_prefix={str(share).lower()}",
    )
    rows = grpo_rows(2)
    rows[1].update(prompt=conversation(2, 5)[:2], answer="7")  # two different prompts
    trainer = build_trainer(r.script_args, r.training_args, train_dataset=Dataset.from_list(rows))
    trainer.train()
    return trainer


def test_a_grpo_step_trains_the_same_weights(tool_student, tmp_path):  # noqa: F811
    shared = _trained(tool_student, tmp_path / "shared", share=True)
    full = _trained(tool_student, tmp_path / "full", share=False)
    assert shared.prompt_passes == {"rows": 4, "passes": 2}
    assert full.prompt_passes == {"rows": 0, "passes": 0}
    moved = 0
    base = dict(full.model.named_parameters())
    for name, param in shared.model.named_parameters():
        torch.testing.assert_close(param, base[name], atol=1e-6, rtol=1e-5, msg=name)
    from transformers import AutoModelForCausalLM

    start = AutoModelForCausalLM.from_pretrained(tool_student, dtype=torch.float32)
    for name, param in start.named_parameters():
        moved += not torch.equal(param, base[name])
    assert moved > 5  # the step trained something, identically both ways


def test_recipe_refuses_shuffled_micro_batches(tiny_student, tmp_path):  # noqa: F811
    from mentor_train.configs import RecipeError
    from tests.test_grpo import recipe

    with pytest.raises(RecipeError, match="steps_per_generation: 1"):
        recipe(
            tiny_student,
            tmp_path,
            "share_prompt_prefix=true",
            "gradient_accumulation_steps=2",
        )
