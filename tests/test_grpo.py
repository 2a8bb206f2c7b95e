"""GRPO with MENTOR rewards and native multi-turn tools, on the tiny tool student (CPU)."""

from __future__ import annotations

import importlib.util
import json

import pytest
from datasets import Dataset

from mentor_train.configs import load_recipe
from mentor_train.grpo import (
    LOG_HISTORY_FILE,
    RECIPE_FILE,
    ToolUseError,
    ToolUseSmokeCheck,
    TrainingError,
    build_trainer,
    train,
)
from mentor_train.rewards import MentorReward
from tests.train_helpers import (  # noqa: F401
    CPU,
    grpo_rows,
    tiny_student,
    tool_student,
)

GRPO = [
    "tools=[add]",
    "num_generations=2",
    "per_device_train_batch_size=2",
    "max_completion_length=64",
    "max_tool_calling_iterations=2",
    "num_completions_to_print=0",
    "learning_rate=1e-5",
    *CPU,
]


def recipe(model, out, *extra):
    return load_recipe(
        None,
        "grpo",
        [f"model_name_or_path={model}", "dataset=unused", f"output_dir={out}", *GRPO, *extra],
    )


@pytest.fixture(scope="module")
def grpo_run(tool_student, tmp_path_factory):  # noqa: F811
    """Two GRPO steps with tools, mentor + sparse rewards, completions logged, checkpoints."""
    out = tmp_path_factory.mktemp("grpo")
    result = train(
        recipe(
            tool_student,
            out,
            "max_steps=2",
            "save_steps=1",
            "log_completions=true",
            "reward_funcs=[mentor, sparse]",
            "reward_weights=[1.0, 0.0]",
        ),
        train_dataset=Dataset.from_list(grpo_rows(2)),
    )
    return out, result


def test_grpo_steps_call_tools(grpo_run):
    out, result = grpo_run
    assert result.global_step == 2
    steps = [h for h in result.log_history if "tools/call_frequency" in h]
    assert len(steps) == 2
    assert all(h["tools/call_frequency"] > 0 for h in steps)
    for key in (
        "rewards/mentor_reward/mean",
        "rewards/sparse_reward/mean",
        "mentor_reward/tool_call_rate",
        "mentor_reward/invalid_tool_rate",
        "mentor_reward/correct_rate",
        "mentor_reward/set_match_rate",
        "sparse_reward/tool_call_rate",
        "completions/clipped_ratio",
    ):
        assert key in steps[0], key
    assert steps[0]["mentor_reward/tool_call_rate"] > 0


def test_grpo_writes_model_recipe_logs_and_completions(grpo_run):
    import pyarrow.parquet as pq

    out, _ = grpo_run
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert "reward_funcs:\n- mentor\n- sparse" in (out / RECIPE_FILE).read_text()
    assert json.loads((out / LOG_HISTORY_FILE).read_text())[-1]["step"] == 2
    assert (out / "checkpoint-1").is_dir() and (out / "checkpoint-2").is_dir()
    table = pq.read_table(out / "completions" / "completions_00001.parquet")
    for column in (
        "prompt",
        "completion",
        "mentor_reward",
        "sparse_reward",
        "advantage",
        "mentor_reward/correct",
        "mentor_reward/student_tools",
    ):
        assert column in table.column_names, column
    completion = table.column("completion").to_pylist()[0]  # the whole tail, as Qwen text
    assert "<tool_call>" in completion and "<tool_response>" in completion


def test_completion_log_survives_mixed_argument_types(tool_student, tmp_path):  # noqa: F811
    """TRL's Parquet log fails on {"a": [1]} next to {"a": 1}; ours stores the text form."""
    import pyarrow.parquet as pq

    from mentor_data.formats import parse_completion

    trainer = build_trainer(
        *_args(recipe(tool_student, tmp_path, "log_completions=true")),
        train_dataset=Dataset.from_list(grpo_rows(2)),
    )

    def tail(arguments):
        return [
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"type": "function", "function": {"name": "add", "arguments": arguments}}
                ],
            },
            {"role": "tool", "name": "add", "content": "3"},
            {"role": "assistant", "content": "\\boxed{3}"},
        ]

    completions = [tail({"a": [1, 2]}), tail({"a": 1, "b": 2})]
    trainer._logs["prompt"].extend([grpo_rows(1)[0]["prompt"]] * 2)
    trainer._logs["completion"].extend(completions)
    trainer._logs["rewards"]["mentor_reward"].extend([0.1, 1.1])
    trainer._logs["advantages"].extend([-1.0, 1.0])
    trainer.log({"loss": 0.0})
    table = pq.read_table(tmp_path / "completions" / "completions_00000.parquet")
    texts = table.column("completion").to_pylist()
    for text, messages in zip(texts, completions, strict=True):
        assert parse_completion(text).tool_names == parse_completion(messages).tool_names
        assert parse_completion(text).answer == "3"


def test_grpo_resumes_from_the_last_checkpoint(grpo_run, tool_student):  # noqa: F811
    out, _ = grpo_run
    resumed = train(
        recipe(tool_student, out, "max_steps=3", "save_steps=1"),
        train_dataset=Dataset.from_list(grpo_rows(2)),
        resume=True,
    )
    assert resumed.global_step == 3
    assert sum("tools/call_frequency" in h for h in resumed.log_history) == 3


def test_tool_observations_are_masked_and_rewards_bound(tool_student, tmp_path):  # noqa: F811
    trainer = build_trainer(
        *_args(recipe(tool_student, tmp_path, "max_steps=1")),
        train_dataset=Dataset.from_list(grpo_rows(2)),
    )
    tok = trainer.processing_class
    reward = trainer.reward_funcs[0]
    assert isinstance(reward, MentorReward) and reward.__name__ == "mentor_reward"
    assert set(reward.eos_token_ids) == {tok.convert_tokens_to_ids("<|im_end|>"), tok.pad_token_id}
    assert reward.offered == ["add"]
    assert [t.__name__ for t in trainer.tools] == ["add"]
    rows = grpo_rows(1) * 2  # one prompt, two generations
    batch = trainer._generate_and_score_completions(rows)
    mask, ids = batch["tool_mask"], batch["completion_ids"]
    masked = [
        tok.decode(ids[i][(mask[i] == 0) & (batch["completion_mask"][i] == 1)])
        for i in range(len(rows))
    ]
    with_tools = [m for m in masked if m]
    assert with_tools, "the tool student made no tool call"
    for text in with_tools:  # only the observation turn is masked, never the model's own tokens
        assert "<tool_response>" in text and "3" in text and "<tool_call>" not in text


def _args(r):
    return r.script_args, r.training_args


def test_smoke_check_stops_a_student_that_never_calls_tools(tiny_student, tmp_path):  # noqa: F811
    with pytest.raises(ToolUseError, match="no tool call.*recipes/tiny-cpu-sft.yaml"):
        train(
            recipe(tiny_student, tmp_path, "max_steps=2", "max_completion_length=8"),
            train_dataset=Dataset.from_list(grpo_rows(1)),
        )


def test_smoke_check_callback():
    check = ToolUseSmokeCheck(steps=2)
    state = type("S", (), {"global_step": 1})()
    check.on_log(None, state, None, logs={"loss": 0.1})  # no tool metric: not counted
    check.on_log(None, state, None, logs={"tools/call_frequency": 0.0})
    with pytest.raises(ToolUseError):
        check.on_log(None, state, None, logs={"tools/call_frequency": 0.0})
    ok = ToolUseSmokeCheck(steps=2)
    ok.on_log(None, state, None, logs={"tools/call_frequency": 0.0})
    ok.on_log(None, state, None, logs={"tools/call_frequency": 0.5})
    ok.on_log(None, state, None, logs={"tools/call_frequency": 0.0})  # past the window
    ToolUseSmokeCheck(steps=0).on_log(None, state, None, logs={"tools/call_frequency": 0.0})


def test_rewards_that_need_teacher_tools_refuse_data_without_them(tiny_student, tmp_path):  # noqa: F811
    rows = [{k: v for k, v in r.items() if k != "teacher_tools"} for r in grpo_rows(2)]
    with pytest.raises(TrainingError, match="teacher_tools column"):
        build_trainer(*_args(recipe(tiny_student, tmp_path)), train_dataset=Dataset.from_list(rows))


def test_resume_without_checkpoint(tiny_student, tmp_path):  # noqa: F811
    with pytest.raises(TrainingError, match="no checkpoint-N folder"):
        train(
            recipe(tiny_student, tmp_path, "max_steps=1"),
            train_dataset=Dataset.from_list(grpo_rows(2)),
            resume=True,
        )


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_use_vllm_without_vllm_fails_in_one_line_before_loading(tmp_path):
    # the model folder does not exist: the vLLM check comes first (TRL's comes after loading)
    with pytest.raises(TrainingError, match=r"vLLM cannot be imported.*make setup-vllm") as info:
        train(
            recipe(tmp_path / "no-model", tmp_path, "use_vllm=true"),
            train_dataset=Dataset.from_list(grpo_rows(2)),
        )
    assert "\n" not in str(info.value)


# -- training data --------------------------------------------------------------------------------
def test_training_data_from_every_source(data_dir, tmp_path):
    from mentor_data.export import export_version
    from mentor_data.store import Store
    from mentor_train.data import DataError, load_training_data
    from tests.train_helpers import make_verified_version, write_jsonl

    ref = make_verified_version(data_dir, "builtin:shopping,travel?n=4")
    store = Store(data_dir)
    grpo = load_training_data(ref, "grpo", data_dir=str(data_dir))
    assert {"prompt", "answer", "tool_names", "teacher_tools", "family"} <= set(grpo.column_names)
    assert len(grpo) == 4 and grpo[0]["prompt"][-1]["role"] == "user"
    sft = load_training_data(ref, "sft", data_dir=str(data_dir), max_samples=2)
    assert sft.column_names == ["messages", "tools", "domain", "metadata"] and len(sft) == 2
    # `mentor-data export --out DIR` folders, export files, hand-made JSONL, save_to_disk
    export_version(ref, "grpo", store=store, out=tmp_path / "exp")
    assert len(load_training_data(str(tmp_path / "exp"), "grpo")) == 4
    assert len(load_training_data(str(tmp_path / "exp" / "train.parquet"), "grpo")) == 4
    assert (
        len(load_training_data(str(write_jsonl(tmp_path / "g.jsonl", grpo_rows(3))), "grpo")) == 3
    )
    grpo.save_to_disk(str(tmp_path / "disk"))
    assert len(load_training_data(str(tmp_path / "disk"), "grpo")) == 4
    # refusals, each naming the fix
    with pytest.raises(DataError, match="not verified: run `mentor-data verify"):
        load_training_data("arith@v1", "grpo", data_dir=str(data_dir))
    with pytest.raises(DataError, match=r"no column\(s\) \['messages'\]"):
        load_training_data(str(tmp_path / "exp"), "sft")
    with pytest.raises(DataError, match="does not exist"):
        load_training_data(str(tmp_path / "nope.jsonl"), "grpo")
