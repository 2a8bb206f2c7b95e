"""The `hf` teacher: a local transformers model folder, batched generation on CPU or GPU.

Each turn renders the live conversations with the tokenizer's chat template
(`apply_chat_template(messages, tools=..., add_generation_prompt=True)`), left-pads them into one
batch, generates, and parses the new text with `mentor_data.formats` (`<tool_call>` tags become
structured calls). A sequence that used all `max_tokens` without an end-of-sequence token
finishes with `length`. This is also the student side of `mentor-train eval`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mentor_data.teachers.base import (
    BlockingTeacher,
    GenerationConfig,
    TurnResult,
    reply_message,
)
from mentor_data.teachers.rollout import Conversation

logger = logging.getLogger(__name__)


class HFTeacher(BlockingTeacher):
    """A local causal LM (`AutoModelForCausalLM` + `AutoTokenizer`) with a chat template.

    Args:
        model (`str`): A local folder (or a Hub name already in the cache).
        device (`str`, *optional*): `cpu`, `cuda`, `cuda:1`, ...; default: cuda when available.
        dtype (`str`, *optional*, defaults to `"auto"`): Weights dtype (`auto`, `bfloat16`, ...).
    """

    backend = "hf"
    default_batch_size = 16

    def __init__(self, model: str, device: str | None = None, dtype: str = "auto") -> None:
        self.model = str(model)
        self.device = device
        self.dtype = dtype
        self._lm = None
        self._tokenizer = None
        self._eos_ids: set[int] = set()

    async def start(self, config: GenerationConfig) -> None:
        if self._lm is None:
            await asyncio.to_thread(self._load)

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        tokenizer = AutoTokenizer.from_pretrained(self.model)
        tokenizer.padding_side = "left"  # generation continues the right end of every row
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if tokenizer.chat_template is None:
            raise ValueError(
                f"{self.model}: the tokenizer has no chat template; the hf teacher "
                "renders conversations with it"
            )
        lm = AutoModelForCausalLM.from_pretrained(self.model, dtype=self.dtype).to(device)
        lm.eval()
        eos = lm.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos]
        self._eos_ids = {i for i in [*eos, tokenizer.eos_token_id] if i is not None}
        self._lm, self._tokenizer, self.device = lm, tokenizer, device
        logger.info("hf teacher: %s on %s", self.model, device)

    def _generate(
        self, conversations: list[Conversation], config: GenerationConfig
    ) -> list[TurnResult]:
        import torch

        tok, lm = self._tokenizer, self._lm
        texts = [
            tok.apply_chat_template(
                c.messages, tools=c.tools or None, tokenize=False, add_generation_prompt=True
            )
            for c in conversations
        ]
        batch = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        batch = {k: v.to(lm.device) for k, v in batch.items()}
        # One seed per call, from the batch's samples: reruns of the same batches repeat.
        torch.manual_seed(sum(c.seed + c.turn for c in conversations) % 2**31)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": config.temperature, "top_p": config.top_p}
            if config.temperature > 0
            else {"do_sample": False}
        )
        with torch.no_grad():
            out = lm.generate(
                **batch, max_new_tokens=config.max_tokens, pad_token_id=tok.pad_token_id, **sampling
            )
        width = batch["input_ids"].shape[1]
        results = []
        for i, conv in enumerate(conversations):
            new = out[i, width:].tolist()
            end = next((j for j, t in enumerate(new) if t in self._eos_ids), None)
            ids = new if end is None else new[:end]
            text = tok.decode(ids, skip_special_tokens=True)
            results.append(
                TurnResult(
                    message=reply_message(text, turn=conv.turn),
                    finish="length" if end is None else "stop",
                    prompt_tokens=int(batch["attention_mask"][i].sum()),
                    completion_tokens=len(ids) + (end is not None),
                )
            )
        return results
