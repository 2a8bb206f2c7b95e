"""export: GRPO and SFT views of a verified version, refusal of unverified data, SFTTrainer run."""

from __future__ import annotations

import json

import pytest
from datasets import load_dataset
from typer.testing import CliRunner

from mentor_data.cli import app
from mentor_data.export import (
    GRPO_FEATURES,
    SFT_FEATURES,
    ExportError,
    export_version,
    to_grpo,
    to_sft,
)
from mentor_data.store import Store
from mentor_data.verify import VerifyConfig, verify_dataset
from tests.trajectory_fixtures import SYSTEM, mixed_rows, traj


@pytest.fixture
def verified(tmp_path):
    """A store with `arith@v1` (12 mixed rows) and `arith@v2` (verified, keep=all)."""
    store = Store(tmp_path / "data")
    store.write_version("arith", mixed_rows())
    verify_dataset("arith", store=store, config=VerifyConfig(workers=1, keep="all"))
    return store


def test_to_grpo_columns_and_values(verified):
    ds = to_grpo(verified.load("arith@v2"))
    assert ds.features == GRPO_FEATURES and len(ds) == 9  # verified rows only
    row = ds[0]
    assert row["prompt"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "A baker has 3 trays of 12 rolls. How many rolls?"},
    ]
    assert row["answer"] == "36" and row["problem_id"] == "p0" and row["family"] == "tally"
    assert row["tool_names"][:3] == ["add", "subtract", "multiply"]
    assert len(row["tool_names"]) == 12
    assert row["teacher_tools"] == ["multiply"] and row["teacher_tool_counts"] == {"multiply": 1}
    assert row["teacher_tool_sequence"] == ["multiply"] and row["teacher_n_calls"] == 1
    assert row["teacher_answer"] == "36"
    assert len(to_grpo(verified.load("arith@v2"), include_failed=True)) == 12


def test_to_sft_columns_and_values(verified):
    ds = to_sft(verified.load("arith@v2"))
    assert ds.features == SFT_FEATURES and len(ds) == 9
    row = ds[0]
    assert [m["role"] for m in row["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    call = row["messages"][2]["tool_calls"][0]["function"]
    # Arguments stay an object with only its own keys (no struct merging across tools).
    assert call == {"name": "multiply", "arguments": {"a": 3, "b": 12}}
    tools = json.loads(row["tools"])
    assert [t["function"]["name"] for t in tools][:2] == ["add", "subtract"]


def test_unverified_data_is_refused(tmp_path):
    store = Store(tmp_path)
    store.write_version("raw", mixed_rows())
    for fn in (to_grpo, to_sft):
        with pytest.raises(ExportError, match="run `mentor-data verify"):
            fn(store.load("raw"))
    with pytest.raises(ExportError, match="raw@v1 is not verified"):
        export_version("raw", "grpo", store=store)
    with pytest.raises(ExportError, match="format 'dpo'"):
        export_version("raw", "dpo", store=store)


def test_export_cli_to_folder_and_store(verified, tmp_path, monkeypatch):
    monkeypatch.setenv("MENTOR_DATA_DIR", str(verified.root))
    out = tmp_path / "grpo"
    result = CliRunner().invoke(app, ["export", "arith@v2", "--format", "grpo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "exported 9 grpo rows" in result.output
    loaded = load_dataset(str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.features == GRPO_FEATURES and len(loaded) == 9
    result = CliRunner().invoke(app, ["export", "arith@v2", "--format", "sft"])
    assert result.exit_code == 0 and "arith-sft@v1" in result.output
    manifest = verified.manifest("arith-sft@v1")
    assert manifest["parent"] == "arith@v2" and manifest["columns"] == [
        "messages",
        "tools",
        "domain",
        "metadata",
    ]
    refused = CliRunner().invoke(app, ["export", "arith@v1", "--format", "sft"])
    assert refused.exit_code == 1 and "mentor-data verify" in refused.output


def test_sft_trainer_takes_the_export(tmp_path):
    """One SFTTrainer step on the SFT view: messages render with tool calls, tools are read."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from mentor_train.students import init_tiny

    # Rows carry their own tools; two tools keep the prompt short enough for a 2-core CPU step.
    few = [t for t in traj()["tools"] if t["function"]["name"] in ("add", "multiply")]
    store = Store(tmp_path / "data")
    store.write_version(
        "tiny",
        [
            traj(
                [("multiply", {"a": 3, "b": 12}), ("add", {"a": 36, "b": 1})],
                "37",
                "37",
                problem_id=f"p{i}",
                tools=few,
            )
            for i in range(2)
        ],
    )
    verify_dataset("tiny", store=store, config=VerifyConfig(workers=1))
    ds = to_sft(store.load("tiny@v2"))
    path = init_tiny(tmp_path / "student")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    args = SFTConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=1,
        per_device_train_batch_size=2,
        bf16=False,
        use_cpu=True,
        report_to="none",
        max_length=1024,
        assistant_only_loss=True,
        activation_checkpointing=False,
        save_strategy="no",
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tokenizer)
    example = trainer.train_dataset[0]
    text = tokenizer.decode(example["input_ids"])
    assert '"name": "multiply"' in text and "<tools>" in text  # the tools JSON string was used
    assert "<tool_call>" in text and "<tool_response>" in text
    trained = [
        t for t, label in zip(example["input_ids"], example["labels"], strict=True) if label != -100
    ]
    assert 0 < len(trained) < len(example["input_ids"])  # assistant turns only
    assert len(trainer.train_dataset) == 2  # nothing dropped by truncation
    result = trainer.train()
    assert result.global_step == 1 and result.training_loss > 0


def test_bfcl_rows_export_their_judge_inputs_and_tools(tmp_path):
    """A GRPO file of BFCL rows is self-contained: rewards judge it with no store at hand."""
    pytest.importorskip("bfcl_eval", reason="bfcl-eval is not installed (make setup installs it)")
    from mentor_data.bfcl.oracle import oracle_calls
    from mentor_data.formats import render_tool_call
    from mentor_data.generate import GenerateConfig, generate
    from mentor_train.rewards import get_reward

    store = Store(tmp_path / "data")
    spec = "bfcl:simple_python,irrelevance?n=4"
    generate(GenerateConfig(problems=spec, name="b", teacher="oracle"), store=store)
    verify_dataset("b@v1", store=store, name="b-verified")
    out = tmp_path / "grpo"
    result = CliRunner().invoke(
        app,
        ["export", "b-verified@v1", "--format", "grpo", "--out", str(out)],
        env={"MENTOR_DATA_DIR": str(tmp_path / "data")},
    )
    assert result.exit_code == 0, result.output
    ds = load_dataset(str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert set(GRPO_FEATURES) == set(ds.column_names) and len(ds) == 4
    assert set(ds["domain"]) == {"bfcl"}
    assert set(ds["family"]) == {"simple_python", "irrelevance"}
    row = next(r for r in ds if r["family"] == "simple_python")
    tools = json.loads(row["tools"])
    assert [t["function"]["name"] for t in tools] == row["tool_names"]
    [[call]] = oracle_calls(json.loads(row["metadata"]))
    completion = render_tool_call(call["name"], call["arguments"])
    reward = get_reward("sparse")
    scores = reward(
        prompts=[row["prompt"]],
        completions=[completion],
        **{k: [row[k]] for k in ds.column_names if k != "prompt"},
    )
    assert scores == [1.0]


def test_rejected_bfcl_rows_do_not_change_the_grpo_view(verified, tmp_path):
    """Only the exported rows decide the BFCL columns, not the failed rows filtered out."""
    pytest.importorskip("bfcl_eval", reason="bfcl-eval is not installed (make setup installs it)")
    from datasets import concatenate_datasets

    from mentor_data.generate import GenerateConfig, generate

    generate(
        GenerateConfig(problems="bfcl:irrelevance?n=2", name="b", teacher="oracle"), store=verified
    )
    verify_dataset("b@v1", store=verified, name="b-verified")
    arith, bfcl = verified.load("arith@v2"), verified.load("b-verified@v1")
    rejected = bfcl.map(lambda row: {"verified": False})
    # the kept rows are not contiguous, so `select` keeps the whole table under an index map
    ds = to_grpo(concatenate_datasets([arith, rejected, arith]))
    assert set(ds.column_names) == set(GRPO_FEATURES)
    assert set(ds["domain"]) == {"arithmetic"}  # the rejected BFCL rows left nothing behind
    assert len(ds) == 2 * sum(arith["verified"]) > 0
