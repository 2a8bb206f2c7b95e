"""The SFT baseline: assistant-only loss on tool conversations, and its start-up checks."""

from __future__ import annotations

import json

import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from mentor_data.tools import ARITHMETIC
from mentor_train.configs import load_recipe
from mentor_train.grpo import LOG_HISTORY_FILE, RECIPE_FILE, TrainingError
from mentor_train.sft import check_lengths, train
from tests.train_helpers import (  # noqa: F401
    ADD_TOOLS,
    CPU,
    conversation,
    sft_rows,
    tiny_student,
    tool_student,
)


def test_sft_teaches_the_tool_call(tool_student):  # noqa: F811
    """The session's tool student was trained by `mentor_train.sft.train` (60 steps)."""
    history = json.loads((tool_student / LOG_HISTORY_FILE).read_text())
    losses = [h["loss"] for h in history if "loss" in h]
    assert losses[0] > 1.0 and losses[-1] < 0.1
    assert "trainer: sft" in (tool_student / RECIPE_FILE).read_text()
    tok = AutoTokenizer.from_pretrained(tool_student)
    model = AutoModelForCausalLM.from_pretrained(tool_student)
    prompt = tok.apply_chat_template(
        conversation()[:2],
        tools=ADD_TOOLS,
        add_generation_prompt=True,
        return_dict=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=40, do_sample=False)
    text = tok.decode(out[0, prompt["input_ids"].shape[1] :])
    assert text.startswith('<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}')


def test_assistant_mask_covers_calls_and_answer_only(tiny_student):  # noqa: F811
    from trl.chat_template_utils import get_training_chat_template

    tok = AutoTokenizer.from_pretrained(tiny_student)
    out = tok.apply_chat_template(
        conversation(),
        tools=ADD_TOOLS,
        return_dict=True,
        chat_template=get_training_chat_template(tok),
        return_assistant_tokens_mask=True,
    )
    ids, mask = out["input_ids"], out["assistant_masks"]
    trained = tok.decode([i for i, m in zip(ids, mask, strict=True) if m])
    assert '"name": "add"' in trained and "\\boxed{3}" in trained
    assert "What is 1 + 2?" not in trained and "<tool_response>" not in trained


def test_examples_beyond_max_length_are_refused(tiny_student, tmp_path):  # noqa: F811
    # twelve tool schemas take ~1.2k tokens with the tiny tokenizer: nothing is left to train
    rows = [{"messages": conversation(), "tools": json.dumps(ARITHMETIC.schemas())}] * 2
    tok = AutoTokenizer.from_pretrained(tiny_student)
    report = check_lengths(tok, Dataset.from_list(rows), 1024)
    assert report.no_assistant_tokens == 2 and report.longest > 1024
    recipe = load_recipe(
        None,
        "sft",
        [
            f"model_name_or_path={tiny_student}",
            "dataset=unused",
            f"output_dir={tmp_path}",
            "max_length=1024",
            *CPU,
        ],
    )
    with pytest.raises(
        TrainingError,
        match="2 of 2 SFT examples have no assistant token.*raise max_length to at least",
    ):
        train(recipe, train_dataset=Dataset.from_list(rows))


def test_sft_resumes_from_a_checkpoint(tiny_student, tmp_path):  # noqa: F811
    base = [
        f"model_name_or_path={tiny_student}",
        "dataset=unused",
        f"output_dir={tmp_path}",
        "per_device_train_batch_size=2",
        "save_steps=1",
        *CPU,
    ]
    data = Dataset.from_list(sft_rows(8))
    first = train(load_recipe(None, "sft", [*base, "max_steps=1"]), train_dataset=data)
    assert first.global_step == 1 and (tmp_path / "checkpoint-1").is_dir()
    second = train(
        load_recipe(None, "sft", [*base, "max_steps=2"]), train_dataset=data, resume=True
    )
    assert second.global_step == 2
    with pytest.raises(TrainingError, match="no checkpoint-N folder"):
        train(
            load_recipe(None, "sft", [*base, f"output_dir={tmp_path / 'fresh'}"]),
            train_dataset=data,
            resume=True,
        )
