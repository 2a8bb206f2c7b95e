"""Training on BFCL rows: the GRPO view, per-row tools in the prompt, GRPO and SFT (tiny).

GRPO uses `tool_registry: none`: each prompt is rendered with its own row's functions and nothing
executes. The GRPO run uses the tiny tool student (it calls `add` for "What is 1 + 2?") on
hand-made BFCL rows whose one function is `add`, so its calls are judged by BFCL's real checker.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import Dataset

pytest.importorskip("bfcl_eval")

from mentor_train.configs import load_recipe  # noqa: E402
from mentor_train.grpo import TrainingError, build_trainer, train  # noqa: E402
from tests.train_helpers import (  # noqa: E402, F401
    ADD_TOOLS,
    CPU,
    conversation,
    tiny_student,
    tool_student,
)

ADD_DOC = {  # `add` as a BFCL function doc
    "name": "add",
    "description": "Add two numbers.",
    "parameters": {
        "type": "dict",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
}
GRPO = [
    "tool_registry=none",
    "num_generations=2",
    "per_device_train_batch_size=2",
    "max_completion_length=48",
    "num_completions_to_print=0",
    "learning_rate=1e-5",
    "save_strategy=no",
    *CPU,
]


def add_rows(n: int = 2, category: str = "simple_python") -> list[dict]:
    """GRPO view rows of a BFCL row whose one function is `add` (what `load_training_data`
    gives for a verified BFCL version: the `to_grpo` columns plus domain, metadata and tools)."""
    metadata = {
        "category": category,
        "bfcl_id": f"{category}_add",
        "split": "train",
        "turns": [conversation()[1:2]],
        "ground_truth": [{"add": {"a": [1], "b": [2]}}],
        "functions": [ADD_DOC],
    }
    return [
        {
            "prompt": conversation()[:2],
            "answer": json.dumps(metadata["ground_truth"]),
            "problem_id": f"{category}_add_{i}",
            "tool_names": ["add"],
            "teacher_tools": ["add"],
            "teacher_tool_counts": {"add": 1},
            "teacher_tool_sequence": ["add"],
            "teacher_n_calls": 1,
            "teacher_answer": None,
            "family": category,
            "domain": "bfcl",
            "metadata": json.dumps(metadata),
            "tools": json.dumps(ADD_TOOLS),
        }
        for i in range(n)
    ]


def recipe(model, out, *extra):
    return load_recipe(
        None,
        "grpo",
        [f"model_name_or_path={model}", "dataset=unused", f"output_dir={out}", *GRPO, *extra],
    )


@pytest.fixture
def bfcl_version(data_dir):
    """An oracle-generated, verified BFCL version (simple_python + irrelevance)."""
    from mentor_data.generate import GenerateConfig, generate
    from mentor_data.store import Store
    from mentor_data.verify import verify_dataset

    store = Store(data_dir)
    generate(
        GenerateConfig(
            problems="bfcl:simple_python,irrelevance?n=4", name="bfcl", teacher="oracle"
        ),
        store=store,
    )
    verify_dataset("bfcl@v1", store=store, name="bfcl-verified")
    return "bfcl-verified@v1"


# -- the data ------------------------------------------------------------------------------------
def test_grpo_view_of_a_bfcl_version_carries_metadata_and_tools(bfcl_version, data_dir):
    from mentor_data.problems import load_problems
    from mentor_train.data import load_training_data

    view = load_training_data(bfcl_version, "grpo", data_dir=str(data_dir))
    assert {"domain", "metadata", "tools", "teacher_tools", "tool_names"} <= set(view.column_names)
    assert len(view) == 4 and set(view["domain"]) == {"bfcl"}
    by_id = {p.id: p for p in load_problems("bfcl:simple_python,irrelevance?n=4")}
    for row in view:
        metadata = json.loads(row["metadata"])
        assert row["family"] == metadata["category"]  # families are BFCL categories
        assert metadata["ground_truth"] == by_id[row["problem_id"]].metadata["ground_truth"]
        assert [t["function"]["name"] for t in json.loads(row["tools"])] == row["tool_names"]
    # the SFT view is the exporter's, unchanged: messages + tools
    sft = load_training_data(bfcl_version, "sft", data_dir=str(data_dir))
    assert sft.column_names == ["messages", "tools", "domain", "metadata"] and len(sft) == 4


def test_rendered_prompts_are_what_the_hf_backend_renders(bfcl_version, data_dir, tiny_student):  # noqa: F811
    """Train and eval see the same text: the hf teacher's `apply_chat_template(tools=row's)`."""
    from transformers import AutoTokenizer

    from mentor_data.problems import load_problems
    from mentor_data.teachers import GenerationConfig
    from mentor_data.teachers.rollout import new_conversation
    from mentor_train.data import load_training_data, render_prompts

    tok = AutoTokenizer.from_pretrained(tiny_student)
    view = render_prompts(load_training_data(bfcl_version, "grpo", data_dir=str(data_dir)), tok)
    by_id = {p.id: p for p in load_problems("bfcl:simple_python,irrelevance?n=4")}
    for row in view:
        conv = new_conversation(by_id[row["problem_id"]], 0, GenerationConfig())
        expected = tok.apply_chat_template(
            conv.messages, tools=conv.tools, tokenize=False, add_generation_prompt=True
        )
        assert row["prompt"] == expected
        assert row["tool_names"][0] in row["prompt"]  # the row's own functions, not a registry's


# -- GRPO ----------------------------------------------------------------------------------------
def test_grpo_on_bfcl_rows_with_row_tools(tool_student, tmp_path):  # noqa: F811
    result = train(
        recipe(
            tool_student,
            tmp_path,
            "max_steps=2",
            "reward_funcs=[mentor, sparse]",
            "reward_weights=[1.0, 0.0]",
            "log_completions=true",
        ),
        train_dataset=Dataset.from_list(add_rows(2)),
    )
    assert result.global_step == 2
    steps = [h for h in result.log_history if "mentor_reward/tool_call_rate" in h]
    assert len(steps) == 2
    assert "tools/call_frequency" not in steps[0]  # TRL ran no tools
    assert steps[0]["mentor_reward/tool_call_rate"] > 0  # the smoke check's signal
    assert steps[0]["mentor_reward/correct_rate"] > 0  # add(1, 2) judged by BFCL's checker
    assert steps[0]["rewards/mentor_reward/mean"] > 0.5

    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "completions" / "completions_00001.parquet")
    prompt = table.column("prompt").to_pylist()[0]
    assert isinstance(prompt, str) and '"name": "add"' in prompt  # rendered with the row's tools
    assert "<tool_response>" not in table.column("completion").to_pylist()[0]  # nothing ran


def test_grpo_trainer_gets_no_tools_and_text_prompts(tool_student, tmp_path):  # noqa: F811
    r = recipe(tool_student, tmp_path, "max_steps=1")
    trainer = build_trainer(
        r.script_args, r.training_args, train_dataset=Dataset.from_list(add_rows(2))
    )
    assert not trainer.tools
    assert isinstance(trainer.train_dataset[0]["prompt"], str)
    reward = trainer.reward_funcs[0]
    assert reward.offered == [] and reward.executable is None and reward.eos_token_ids


def test_grpo_refuses_bfcl_rows_it_cannot_train(tiny_student, tmp_path):  # noqa: F811
    rows = Dataset.from_list(add_rows(2))
    with pytest.raises(TrainingError, match="set tool_registry: none"):
        arith = load_recipe(
            None,
            "grpo",
            [f"model_name_or_path={tiny_student}", "dataset=unused", f"output_dir={tmp_path}",
             *[g for g in GRPO if not g.startswith("tool_registry")]],
        )  # fmt: skip
        build_trainer(arith.script_args, arith.training_args, train_dataset=rows)
    r = recipe(tiny_student, tmp_path)
    with pytest.raises(TrainingError, match="multi-turn BFCL rows.*multi_turn_base"):
        build_trainer(
            r.script_args,
            r.training_args,
            train_dataset=Dataset.from_list(add_rows(2, "multi_turn_base")),
        )
    with pytest.raises(TrainingError, match="no metadata column"):
        build_trainer(r.script_args, r.training_args, train_dataset=rows.remove_columns("metadata"))
    with pytest.raises(TrainingError, match="no `tools` column"):
        build_trainer(r.script_args, r.training_args, train_dataset=rows.remove_columns("tools"))


# -- SFT -----------------------------------------------------------------------------------------
def test_sft_on_bfcl_trajectories(bfcl_version, data_dir, tiny_student, tmp_path):  # noqa: F811
    from mentor_train.sft import train as sft_train

    r = load_recipe(
        Path(__file__).parent.parent / "recipes" / "tiny-cpu-bfcl-sft.yaml",
        "sft",
        [
            f"model_name_or_path={tiny_student}",
            f"dataset={bfcl_version}",
            f"data_dir={data_dir}",
            f"output_dir={tmp_path}",
            "max_steps=1",
            "per_device_train_batch_size=2",
            "save_strategy=no",
            "disable_tqdm=true",
        ],
    )
    result = sft_train(r)
    assert result.global_step == 1 and (tmp_path / "model.safetensors").is_file()
    assert result.metrics["train_loss"] > 0


def test_grpo_cli_reports_the_rewards_call_rate(tool_student, tmp_path):  # noqa: F811
    """From a GRPO view file; without TRL tools the summary shows the rewards' call rate."""
    from typer.testing import CliRunner

    from mentor_train.cli import app
    from tests.train_helpers import write_jsonl

    data = write_jsonl(tmp_path / "bfcl.jsonl", add_rows(2))
    recipe_file = Path(__file__).parent.parent / "recipes" / "tiny-cpu-bfcl-grpo-mentor.yaml"
    overrides = [f"model_name_or_path={tool_student}", f"dataset={data}", f"output_dir={tmp_path}"]
    args = [a for o in [*overrides, *GRPO, "max_steps=1"] for a in ("--set", o)]
    result = CliRunner().invoke(app, ["grpo", "--recipe", str(recipe_file), *args])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["global_step"] == 1 and summary["tools/call_frequency"] is None
    assert summary["mentor_reward/tool_call_rate"] > 0


def test_smoke_check_reads_the_rewards_call_rate_without_trl_tools():
    from mentor_train.grpo import ToolUseError, ToolUseSmokeCheck

    state = type("S", (), {"global_step": 1})()
    with pytest.raises(ToolUseError, match="mentor_reward/tool_call_rate = 0"):
        ToolUseSmokeCheck(steps=1).on_log(
            None, state, None, logs={"mentor_reward/tool_call_rate": 0.0}
        )
    ToolUseSmokeCheck(steps=1).on_log(None, state, None, logs={"sparse_reward/tool_call_rate": 0.5})
