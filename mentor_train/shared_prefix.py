"""The GRPO loss's forward pass with each group's prompt computed once.

A GRPO group is one prompt and `num_generations` rollouts of it. TRL's loss runs the model over
`prompt + completion` for every rollout, so a group pays the prompt's forward and backward
`num_generations` times. With a 12-tool prompt of ~1.2k tokens and completions of ~250, that is
most of a CPU step (`benchmarks/bench_grpo_rollouts.py`).

`shared_prefix_logps` runs the backbone once over a prompt with the KV cache on, repeats the
cache for the group's rollouts and runs the completions on top of it. The cache keeps its
autograd graph, so the backward pass sums every rollout's gradient into the one prompt pass: the
same log-probabilities and the same gradient as the full forward (position ids included: both
count positions from the first, padded, column), for the prompt's compute once per group.

Only plain decoder-only language models qualify (`unsupported_reason`): no softcapped or scaled
logits (TRL's fused head applies those; this module's head does not), no activation
checkpointing (it turns the cache off), no wrapper between the trainer and the model.
"""

from __future__ import annotations

from typing import Any

import torch
from trl.trainer.utils import entropy_from_logits, selective_log_softmax

# Config attributes that change logits after the LM head in some families (TRL's fused head
# reads the same names); a model that sets any of them to a non-neutral value is refused.
_LOGIT_TRANSFORMS = {
    "final_logit_softcapping": None,
    "logit_scale": 1.0,
    "output_multiplier": 1.0,
    "lm_head_multiplier": 1.0,
    "logits_scaling": 1.0,
}


def unsupported_reason(model: Any) -> str | None:
    """Why `shared_prefix_logps` cannot run on `model`, or None when it can.

    Args:
        model: the trainer's policy (a `PreTrainedModel`).

    Returns:
        A sentence naming the obstacle, or None.
    """
    config = getattr(model, "config", None)
    if config is None or not hasattr(model, "get_output_embeddings"):
        return f"{type(model).__name__} is not a transformers causal language model"
    text_config = config.get_text_config()
    if text_config is not config:
        return "multimodal models are not supported"
    for name, neutral in _LOGIT_TRANSFORMS.items():
        value = getattr(text_config, name, None)
        if value is not None and value != neutral:
            return f"the model transforms its logits ({name}={value})"
    if getattr(model, "is_activation_checkpointing", False):
        return "activation checkpointing turns the KV cache off (activation_checkpointing: false)"
    if getattr(model, "peft_config", None):
        return "PEFT models are not supported"
    return None


def prompt_groups(prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> list[list[int]]:
    """Rows with the same prompt (ids and mask), in order of first appearance.

    Args:
        prompt_ids: (rows, prompt_len) left-padded prompt ids.
        prompt_mask: (rows, prompt_len) their attention mask.

    Returns:
        Lists of row indices; every row is in exactly one list.
    """
    groups: dict[tuple, list[int]] = {}
    for row, (ids, mask) in enumerate(zip(prompt_ids.tolist(), prompt_mask.tolist(), strict=True)):
        groups.setdefault((tuple(ids), tuple(mask)), []).append(row)
    return list(groups.values())


def shared_prefix_logps(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    logits_to_keep: int,
    *,
    temperature: float = 1.0,
    compute_entropy: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """Per-token log-probs (and entropies) of the last `logits_to_keep` tokens of each row.

    The same values as TRL's `_get_per_token_logps_and_entropies` (zero where the attention
    mask is zero), computed with one prompt pass per group of identical prompts.

    Args:
        model: a causal LM that `unsupported_reason` accepts.
        input_ids: (rows, prompt_len + logits_to_keep): left-padded prompts, then completions.
        attention_mask: the same shape; zero on padding.
        logits_to_keep: completion length (the scored tokens).
        temperature: the logits are divided by it (as in sampling).
        compute_entropy: also return each position's entropy.

    Returns:
        (log_probs, entropies or None, prompt passes run), tensors of shape (rows, logits_to_keep).
    """
    prompt_len = input_ids.size(1) - logits_to_keep
    backbone = model.base_model
    lm_head = model.get_output_embeddings()
    completion_ids = input_ids[:, prompt_len:]
    completion_mask = attention_mask[:, prompt_len:]
    groups = prompt_groups(input_ids[:, :prompt_len], attention_mask[:, :prompt_len])
    logps: list[torch.Tensor | None] = [None] * input_ids.size(0)
    entropies: list[torch.Tensor | None] = [None] * input_ids.size(0)
    for rows in groups:
        index = torch.tensor(rows, device=input_ids.device)
        first = rows[:1]
        prompt = backbone(
            input_ids=input_ids[first, :prompt_len],
            attention_mask=attention_mask[first, :prompt_len],
            use_cache=True,
        )
        cache = prompt.cache
        cache.batch_repeat_interleave(len(rows))  # autograd sees one prompt used len(rows) times
        tail = backbone(
            input_ids=completion_ids[index],
            attention_mask=attention_mask[index],
            cache=cache,
            use_cache=True,
        )
        # the prompt's last position predicts the first completion token
        last = prompt.last_hidden_state[:, -1:].expand(len(rows), -1, -1)
        hidden = torch.cat([last, tail.last_hidden_state[:, :-1]], dim=1)
        logits = lm_head(hidden).float() / temperature
        keep = completion_mask[index] != 0
        group_logps = selective_log_softmax(logits, completion_ids[index]).masked_fill(~keep, 0.0)
        group_entropy = (
            entropy_from_logits(logits).masked_fill(~keep, 0.0) if compute_entropy else None
        )
        for i, row in enumerate(rows):
            logps[row] = group_logps[i]
            if group_entropy is not None:
                entropies[row] = group_entropy[i]
    stacked = torch.stack(logps)  # type: ignore[arg-type]
    return stacked, torch.stack(entropies) if compute_entropy else None, len(groups)  # type: ignore[arg-type]
