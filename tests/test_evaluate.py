"""Evaluation: the student through the generation loop, metrics, similarity, results and plot."""

from __future__ import annotations

import json
import math
import sys

import pytest

from mentor_data.problems import Problem
from mentor_train.evaluate import (
    RESULTS_FILE,
    SUMMARY_FILE,
    EvalConfig,
    ToolFrequencies,
    evaluate,
    metrics,
    plot_results,
    read_summary,
    score_row,
    teacher_tool_frequencies,
    tool_similarity,
)
from tests.train_helpers import (  # noqa: F401
    ADD_TOOLS,
    make_verified_version,
    tiny_student,
    tool_student,
)


def add_problems(n: int = 2) -> list[Problem]:
    families = ["add", "sum"]
    return [
        Problem(
            id=f"q{i}",
            question="What is 1 + 2?",
            answer="3",
            tools=tuple(ADD_TOOLS),
            # only the "add" problems carry a reference program (as built-in problems do)
            metadata={"family": families[i % 2]}
            | ({"program": [{"tool": "add", "arguments": {}}]} if i % 2 == 0 else {}),
        )
        for i in range(n)
    ]


# -- similarity -----------------------------------------------------------------------------------
def test_similarity_is_one_minus_jsd_base_2():
    assert tool_similarity({"add": 3, "sqrt": 1}, {"add": 6, "sqrt": 2}) == pytest.approx(1.0)
    assert tool_similarity({"add": 1}, {"sqrt": 1}) == 0.0
    p, q = {"add": 1, "multiply": 1}, {"add": 1}
    m = {"add": 0.75, "multiply": 0.25}
    jsd = 0.5 * (0.5 * math.log2(0.5 / m["add"]) + 0.5 * math.log2(0.5 / m["multiply"])) + 0.5 * (
        1.0 * math.log2(1.0 / m["add"])
    )
    assert tool_similarity(p, q) == pytest.approx(1 - jsd)
    assert tool_similarity(p, q) == pytest.approx(tool_similarity(q, p))
    assert tool_similarity({}, {}) == 1.0
    assert tool_similarity({}, {"add": 2}) == 0.0
    assert tool_similarity({"add": 0}, {"add": 0, "x": 0}) == 1.0


def test_teacher_frequencies_from_a_verified_version(data_dir):
    verified = make_verified_version(data_dir, "builtin:shopping,clock?n=4")
    freq = teacher_tool_frequencies(verified, data_dir=str(data_dir))
    assert freq.source == verified
    assert set(freq.by_family) == {"shopping", "clock"}
    from mentor_data.store import Store

    calls = [len(r["tool_calls"]) for r in Store(data_dir).iter_rows(verified) if r["verified"]]
    assert sum(freq.overall.values()) == sum(calls) > 0
    assert sum(sum(c.values()) for c in freq.by_family.values()) == sum(calls)


# -- scoring rows ---------------------------------------------------------------------------------
def _row(messages, finish="stop", answer="3", family="add"):
    return {
        "problem_id": "q",
        "question": "What is 1 + 2?",
        "answer": answer,
        "messages": messages,
        "finish_reason": finish,
        "metadata": {"family": family},
    }


def test_score_row_and_metrics():
    good = _row(
        [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"type": "function", "function": {"name": "add", "arguments": {"a": 1}}},
                    {"type": "function", "function": {"name": "bogus", "arguments": {}}},
                ],
            },
            {"role": "tool", "content": "3"},
            {"role": "assistant", "content": "<tool_call>{oops</tool_call> \\boxed{3}"},
        ]
    )
    cut = _row([{"role": "assistant", "content": "\\boxed{3"}], finish="length", family="sum")
    plain = _row([{"role": "assistant", "content": "\\boxed{4}"}], family="sum")
    rows = [score_row(r, ["add"]) for r in (good, cut, plain)]
    assert [r["verdict"] for r in rows] == ["pass", "no_answer", "fail"]
    assert rows[0]["tool_names"] == ["add", "bogus"] and rows[0]["n_invalid_calls"] == 1
    assert rows[0]["n_malformed"] == 1
    m = metrics(rows, {"add": 1})
    assert m["accuracy"] == pytest.approx(1 / 3)
    assert m["tool_call_rate"] == pytest.approx(1 / 3)
    assert m["invalid_tool_rate"] == pytest.approx(0.5)
    assert m["malformed_call_rate"] == pytest.approx(1 / 3)
    assert m["calls_per_problem"] == pytest.approx(2 / 3)
    assert m["truncated_rate"] == pytest.approx(1 / 3)
    assert m["tool_similarity"] == pytest.approx(
        tool_similarity({"add": 1, "bogus": 1}, {"add": 1})
    )
    assert metrics(rows, None)["tool_similarity"] is None
    assert [r["tool_set_match"] for r in rows] == [None, None, None]  # no reference program
    assert m["tool_set_match_rate"] is None


def test_tool_set_match_compares_sets_with_the_reference_program():
    def call(name):
        return {"type": "function", "function": {"name": name, "arguments": {"a": 1, "b": 2}}}

    program = [{"tool": "add"}, {"tool": "multiply"}, {"tool": "add"}]
    both = _row(
        [
            {"role": "assistant", "content": "", "tool_calls": [call("multiply"), call("add")]},
            {"role": "tool", "content": "3"},
            {"role": "assistant", "content": "", "tool_calls": [call("multiply")]},
            {"role": "tool", "content": "3"},
            {"role": "assistant", "content": "\\boxed{3}"},
        ]
    )
    one = _row([{"role": "assistant", "content": "", "tool_calls": [call("add")]}])
    none = _row([{"role": "assistant", "content": "\\boxed{3}"}])
    for row in (both, one, none):
        row["metadata"]["program"] = program
    rows = [score_row(r, ["add", "multiply"]) for r in (both, one, none)]
    assert [r["reference_tools"] for r in rows] == [["add", "multiply"]] * 3
    # the same set counts, repeats and order do not; a missing tool or no call at all is a miss
    assert [r["tool_set_match"] for r in rows] == [True, False, False]
    assert metrics(rows, None)["tool_set_match_rate"] == pytest.approx(1 / 3)


# -- the run --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def eval_result(tool_student):  # noqa: F811
    teacher = ToolFrequencies({"add": 2}, {"add": {"add": 1}}, source="hand-made")
    config = EvalConfig(backend="hf", device="cpu", max_tokens=48, max_turns=3, label="tool-tiny")
    return evaluate(tool_student, add_problems(2), teacher, config)


def test_evaluate_runs_the_student_with_tools(eval_result):
    s = eval_result.summary
    assert s["n"] == 2 and eval_result.label == "tool-tiny"
    assert s["tool_call_rate"] == 1.0 and s["invalid_tool_rate"] == 0.0
    assert s["accuracy"] == 1.0  # greedy: add(1, 2) -> 3 -> \boxed{3}
    assert s["tool_similarity"] == pytest.approx(1.0)
    assert s["calls_per_problem"] == pytest.approx(1.0)
    assert eval_result.per_family["add"]["tool_similarity"] == pytest.approx(1.0)
    assert eval_result.per_family["sum"]["tool_similarity"] is None  # no teacher data for it
    assert s["tool_set_match_rate"] == 1.0  # add(1, 2) is the "add" problem's program
    assert eval_result.per_family["sum"]["tool_set_match_rate"] is None  # it has no program
    assert eval_result.config["backend"] == "hf"
    messages = json.loads(eval_result.rows[0]["messages"])
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant"]


def test_results_are_written_and_plotted(eval_result, tmp_path):
    import polars as pl

    eval_result.write(tmp_path / "a")
    table = pl.read_parquet(tmp_path / "a" / RESULTS_FILE)
    assert table.height == 2 and table["correct"].to_list() == [True, True]
    assert table["tool_names"].to_list() == [["add"], ["add"]]
    assert table["tool_set_match"].to_list() == [True, None]
    summary = read_summary(tmp_path / "a")
    assert summary["overall"]["accuracy"] == 1.0 and summary["label"] == "tool-tiny"
    assert (tmp_path / "a" / SUMMARY_FILE).is_file()
    other = json.loads((tmp_path / "a" / SUMMARY_FILE).read_text())
    other["label"], other["overall"]["accuracy"], other["overall"]["tool_similarity"] = (
        "sft",
        0.5,
        0.4,
    )
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / SUMMARY_FILE).write_text(json.dumps(other))
    png = plot_results([tmp_path / "a", tmp_path / "b" / SUMMARY_FILE], tmp_path / "fig.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    other["overall"]["tool_similarity"] = None
    (tmp_path / "b" / SUMMARY_FILE).write_text(json.dumps(other))
    with pytest.raises(ValueError, match="--teacher-data"):
        plot_results([tmp_path / "b"], tmp_path / "fig2.png")


def test_eval_config_checks():
    with pytest.raises(ValueError, match="backend"):
        EvalConfig(backend="tpu")
    with pytest.raises(ValueError):
        EvalConfig(max_turns=0)


# -- the vllm backend's engine arguments (a stand-in vllm module; real: tests/test_vllm.py) --------
def test_vllm_backend_on_cpu_gets_eager_float32_and_a_sized_kv_cache(monkeypatch):
    from mentor_train.evaluate import CPU_KV_CACHE_BYTES, cpu_engine_defaults
    from tests import fake_vllm

    llm = fake_vllm.install(monkeypatch)
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    defaults = {"enforce_eager": True, "dtype": "float32"}
    assert cpu_engine_defaults() == {**defaults, "kv_cache_memory_bytes": CPU_KV_CACHE_BYTES}
    assert cpu_engine_defaults({"gpu_memory_utilization": 0.3, "dtype": "bfloat16"}) == {
        "enforce_eager": True,
        "dtype": "bfloat16",
        "gpu_memory_utilization": 0.3,
    }
    config = EvalConfig(backend="vllm", max_tokens=8, engine_kwargs={"max_model_len": 2048})
    result = evaluate("tiny", add_problems(2), None, config)
    (engine,) = llm.instances
    expected = {**defaults, "kv_cache_memory_bytes": CPU_KV_CACHE_BYTES, "max_model_len": 2048}
    assert engine.kwargs == {"tensor_parallel_size": 1, "seed": 0, **expected}
    assert result.config["backend"] == "vllm" and result.config["engine_kwargs"] == expected
    assert result.summary["accuracy"] == 1.0  # the stand-in answers \boxed{3}
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "2")  # vLLM reads it: no cache size of ours
    assert cpu_engine_defaults() == defaults
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert cpu_engine_defaults({"dtype": "bfloat16"}) == {"dtype": "bfloat16"}


def test_engine_args_are_for_the_vllm_backend_only(monkeypatch):
    from typer.testing import CliRunner

    from mentor_train.cli import app

    with pytest.raises(ValueError, match="for --backend vllm, not hf"):
        EvalConfig(backend="hf", engine_kwargs={"dtype": "float32"})
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(ValueError, match="--backend auto chose hf.*pass --backend vllm"):
        evaluate("tiny", add_problems(1), None, EvalConfig(engine_kwargs={"dtype": "float32"}))
    runner = CliRunner()
    base = ["eval", "--model", "tiny", "--problems", "builtin:clock?n=1", "--backend", "vllm"]
    bad = runner.invoke(app, [*base, "--engine-arg", "dtype"])
    assert bad.exit_code == 2 and "expected KEY=VALUE" in bad.output
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail
    missing = runner.invoke(app, base)
    assert missing.exit_code == 1 and "make setup-vllm" in missing.output
    assert isinstance(missing.exception, SystemExit)
