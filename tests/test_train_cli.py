"""`mentor-train` commands: --help for each, and each command on real files."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mentor_train.cli import app
from tests.train_helpers import (  # noqa: F401
    CPU,
    make_verified_version,
    tiny_student,
    tool_student,
    write_jsonl,
)

runner = CliRunner()
COMMANDS = ["init-tiny", "init-student", "check-student", "reward", "grpo", "sft", "eval", "plot"]


def run(*args: str, ok: bool = True):
    result = runner.invoke(app, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def last_json(output: str) -> dict:
    """The last JSON object line (trainers also print dict reprs, which are not JSON)."""
    for line in reversed(output.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    raise AssertionError(f"no JSON line in {output[-2000:]}")


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command):
    assert "Usage" in run(command, "--help").output


def test_app_lists_every_command():
    out = run("--help").output
    assert all(c in out for c in COMMANDS)


def test_init_tiny_and_check_student(tmp_path):
    run(
        "init-tiny",
        tmp_path / "t",
        "--hidden-size",
        "32",
        "--num-layers",
        "1",
        "--vocab-size",
        "600",
    )
    config = json.loads((tmp_path / "t" / "config.json").read_text())
    assert config["hidden_size"] == 32 and config["num_hidden_layers"] == 1
    report = last_json(run("check-student", tmp_path / "t").stdout)
    assert report["renders_tool_calls"] and report["assistant_tokens"] > 0
    bad = run("check-student", tmp_path / "missing", ok=False)
    assert bad.exit_code == 1 and "cannot load a tokenizer" in bad.output


def test_init_student_unknown_name(tmp_path):
    result = run("init-student", "llama-70b", tmp_path / "x", ok=False)
    assert result.exit_code == 1 and "known: smollm2-135m" in result.output


def test_reward_scores_jsonl_rows(tmp_path):
    call = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"type": "function", "function": {"name": "multiply", "arguments": {"a": 17, "b": 23}}}
        ],
    }
    rows = [
        {
            "completion": [
                call,
                {"role": "tool", "content": "391"},
                {"role": "assistant", "content": "\\boxed{391}"},
            ],
            "answer": "391",
            "teacher_tools": ["multiply"],
        },
        {
            "completion": '<tool_call>\n{"name": "multiply", "arguments": {"a": 17, "b": 23}}\n'
            "</tool_call>\n<tool_response>\n391\n</tool_response>\n\\boxed{391}",
            "answer": "391",
            "teacher_tools": ["multiply"],
        },
        {
            "completion": "\\boxed{391}",
            "answer": "391",
            "teacher_tools": ["multiply"],
            "truncated": True,
        },
        {
            "completion": "\\boxed{381}",
            "answer": "391",
            "teacher_tools": ["multiply"],
            "tool_names": ["add"],
        },
    ]
    out = run("reward", "--variant", "mentor", write_jsonl(tmp_path / "in.jsonl", rows)).output
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["total"] for x in lines] == [1.1, 1.1, 0.0, 0.1]
    assert lines[0]["student_tools"] == ["multiply"] and lines[0]["exact_match"] is True
    assert lines[2]["reason"] == "truncated" and lines[3]["correct"] is False
    sparse = run("reward", "-v", "sparse", tmp_path / "in.jsonl").output
    assert [json.loads(x)["total"] for x in sparse.splitlines()] == [1.0, 1.0, 0.0, 0.1]
    assert "unknown reward" in run("reward", "-v", "dense", tmp_path / "in.jsonl", ok=False).output
    (tmp_path / "bad.jsonl").write_text('{"answer": "1"}\n')
    assert "bad.jsonl:1" in run("reward", tmp_path / "bad.jsonl", ok=False).output


def test_grpo_and_sft_on_a_store_version(tool_student, data_dir, tmp_path):  # noqa: F811
    ref = make_verified_version(data_dir, "builtin:shopping?n=2")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "trainer: grpo\nreward_funcs: [mentor]\nnum_generations: 2\n"
        "per_device_train_batch_size: 2\nmax_completion_length: 32\n"
    )
    out = run(
        "grpo",
        "--recipe",
        recipe,
        "--set",
        f"model_name_or_path={tool_student}",
        "--set",
        f"dataset={ref}",
        "--set",
        f"output_dir={tmp_path / 'g'}",
        "--set",
        "max_steps=1",
        "--set",
        "tools=[add, multiply, subtract, divide]",
        "--set",
        "smoke_check_steps=0",
        "--set",
        "save_strategy=no",
        *[x for kv in CPU for x in ("--set", kv)],
    ).stdout
    summary = last_json(out)
    assert summary["global_step"] == 1 and "reward" in summary
    assert (tmp_path / "g" / "model.safetensors").is_file()
    sft = tmp_path / "s.yaml"
    sft.write_text("trainer: sft\nper_device_train_batch_size: 1\nmax_length: 2048\n")
    out = run(
        "sft",
        "-r",
        sft,
        "-s",
        f"model_name_or_path={tool_student}",
        "-s",
        f"dataset={ref}",
        "-s",
        f"output_dir={tmp_path / 's'}",
        "-s",
        "max_steps=1",
        "-s",
        "save_strategy=no",
        *[x for kv in CPU for x in ("-s", kv)],
    ).stdout
    assert last_json(out)["global_step"] == 1


def test_training_errors_are_clear(tmp_path, data_dir, tiny_student):  # noqa: F811
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"trainer: grpo\nmodel_name_or_path: {tiny_student}\ndataset: nope@v1\n"
        f"output_dir: {tmp_path / 'o'}\nuse_cpu: true\nbf16: false\n"
    )
    result = run("grpo", "-r", recipe, "-s", "lerning_rate=1", ok=False)
    assert result.exit_code == 1 and "did you mean learning_rate" in result.output
    result = run("sft", "-r", recipe, ok=False)
    assert "this recipe is for `mentor-train grpo`" in result.output
    result = run("grpo", "-r", recipe, ok=False)
    assert "no dataset 'nope'" in result.output
    from mentor_data.generate import GenerateConfig, generate
    from mentor_data.store import Store

    generate(GenerateConfig(problems="builtin:shopping?n=1", name="raw"), store=Store(data_dir))
    result = run("grpo", "-r", recipe, "-s", "dataset=raw@v1", ok=False)
    assert "not verified" in result.output and "mentor-data verify" in result.output


def test_eval_and_plot(tool_student, data_dir, tmp_path):  # noqa: F811
    ref = make_verified_version(data_dir, "builtin:shopping?n=2")
    problems = write_jsonl(
        tmp_path / "p.jsonl",
        [{"id": "q1", "question": "What is 1 + 2?", "answer": "3", "metadata": {"family": "add"}}],
    )
    out = run(
        "eval",
        "--model",
        tool_student,
        "--problems",
        problems,
        "--teacher-data",
        ref,
        "--out",
        tmp_path / "e",
        "--label",
        "tiny",
        "--backend",
        "hf",
        "--device",
        "cpu",
        "--max-tokens",
        "40",
        "--max-turns",
        "2",
    ).stdout
    summary = last_json(out)
    assert summary["label"] == "tiny" and summary["n"] == 1
    assert 0.0 <= summary["tool_similarity"] <= 1.0
    assert (tmp_path / "e" / "results.parquet").is_file()
    out = run("plot", tmp_path / "e", "--out", tmp_path / "fig.png").output
    assert "plot ->" in out and (tmp_path / "fig.png").stat().st_size > 1000
    assert run("plot", tmp_path / "nothing", "--out", tmp_path / "x.png", ok=False).exit_code == 1
