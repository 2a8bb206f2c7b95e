"""Eval on BFCL problems: BFCL's checker per conversation, per category, leaderboard groups."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("bfcl_eval")

from mentor_data.bfcl.scoring import group_metrics  # noqa: E402
from mentor_data.domains import get_domain  # noqa: E402
from mentor_data.problems import load_problems  # noqa: E402
from mentor_train.evaluate import (  # noqa: E402
    RESULTS_FILE,
    SUMMARY_FILE,
    EvalConfig,
    ToolFrequencies,
    evaluate,
    metrics,
    score_row,
)
from tests.train_helpers import tiny_student, tool_student  # noqa: E402, F401

TRIANGLE = "calculate_triangle_area"


def conversation_row(problem, assistant: dict, finish: str = "stop") -> dict:
    """A finished conversation row as `run_conversations` writes it (only what eval reads)."""
    return {
        "problem_id": problem.id,
        "question": problem.question,
        "answer": problem.answer,
        "domain": problem.domain,
        "metadata": problem.metadata,
        "finish_reason": finish,
        "messages": [{"role": "user", "content": problem.question}, assistant],
    }


def calls(*pairs) -> dict:
    return {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"type": "function", "function": {"name": n, "arguments": a}} for n, a in pairs
        ],
    }


@pytest.fixture(scope="module")
def problems():
    simple = load_problems("bfcl:simple_python?n=1")[0]
    irrelevant = load_problems("bfcl:irrelevance?n=1")[0]
    return simple, irrelevant


def test_score_bfcl_rows_with_leaderboard_rules(problems):
    simple, irrelevant = problems
    offered = [TRIANGLE]
    right = score_row(
        conversation_row(simple, calls((TRIANGLE, {"base": 10, "height": 5}))), offered
    )
    assert right["verdict"] == "pass" and right["correct"] and right["family"] == "simple_python"
    assert json.loads(right["prediction"]) == [
        [{"name": TRIANGLE, "arguments": {"base": 10, "height": 5}}]
    ]
    wrong = score_row(
        conversation_row(simple, calls((TRIANGLE, {"base": 1, "height": 5}))), offered
    )
    assert wrong["verdict"] == "fail" and wrong["bfcl_reason"] == "wrong_arguments"
    broken = {"role": "assistant", "content": "<tool_call>{oops</tool_call>"}
    ast_broken = score_row(conversation_row(simple, broken), offered)
    assert ast_broken["verdict"] == "malformed_call" and not ast_broken["correct"]
    assert ast_broken["parse_failure"]
    # BFCL counts an output that does not decode as an abstention on irrelevance rows
    abstained = score_row(conversation_row(irrelevant, broken), ["determine_body_mass_index"])
    assert abstained["verdict"] == "abstain_parse_failure" and abstained["correct"]
    refusal = {"role": "assistant", "content": "No function fits."}
    declined = score_row(conversation_row(irrelevant, refusal), ["determine_body_mass_index"])
    assert declined["verdict"] == "pass" and not declined["parse_failure"]
    hallucinated = score_row(conversation_row(simple, calls(("area", {}))), offered)
    assert (
        hallucinated["n_invalid_calls"] == 1 and hallucinated["bfcl_reason"] == "unknown_function"
    )
    m = metrics([right, wrong, ast_broken, hallucinated], {TRIANGLE: 1})
    assert m["accuracy"] == 0.25 and m["tool_frequencies"] == {TRIANGLE: 2, "area": 1}


def test_group_metrics_average_as_the_leaderboard():
    groups = group_metrics(
        {
            "simple_python": (4, 0.5),
            "multiple": (2, 1.0),
            "irrelevance": (3, 1 / 3),
            "chess": (1, 1),
        }
    )
    assert set(groups) == {"non_live_ast", "irrelevance"}
    assert groups["non_live_ast"]["accuracy"] == pytest.approx(4 / 6)
    assert groups["non_live_ast"]["mean_category_accuracy"] == pytest.approx(0.75)
    assert groups["non_live_ast"]["categories"] == ["simple_python", "multiple"]


def test_eval_of_the_tiny_student_on_bfcl(tool_student, tmp_path):  # noqa: F811
    """The tool student knows only "What is 1 + 2?": on BFCL questions it writes text (no call),
    which fails the AST rows and passes the irrelevance row."""
    problems = load_problems("bfcl:simple_python?n=4") + load_problems("bfcl:irrelevance?n=1")
    teacher = ToolFrequencies({TRIANGLE: 1}, {"simple_python": {TRIANGLE: 1}, "irrelevance": {}})
    config = EvalConfig(backend="hf", device="cpu", max_tokens=32, label="tool-tiny")
    result = evaluate(tool_student, problems, teacher, config)
    assert set(result.per_family) == {"simple_python", "irrelevance"}
    assert (
        result.per_family["simple_python"]["n"] == 4 and result.per_family["irrelevance"]["n"] == 1
    )
    for m in (result.summary, *result.per_family.values()):
        assert {"parse_failure_rate", "irrelevance_parse_failures", "tool_similarity"} <= set(m)
    assert set(result.groups) == {"non_live_ast", "irrelevance"}
    assert result.groups["non_live_ast"]["n"] == 4
    for row in result.rows:
        messages = json.loads(row["messages"])
        assert messages[0]["role"] == "system" and "\\boxed" not in messages[0]["content"]
        assert [m["role"] for m in messages].count("assistant") == 1  # AST rows: one turn, no run
    table = get_domain("bfcl").format_eval_report(result)
    assert "| simple_python | 4 |" in table and "| irrelevance | 1 |" in table
    assert "| non_live_ast | 4 |" in table
    result.write(tmp_path)
    summary = json.loads((tmp_path / SUMMARY_FILE).read_text())
    assert summary["bfcl_groups"]["irrelevance"]["n"] == 1
    assert "parse_failure_rate" in summary["per_family"]["simple_python"]
    import polars as pl

    table = pl.read_parquet(tmp_path / RESULTS_FILE)
    assert {"parse_failure", "bfcl_reason"} <= set(table.columns) and table.height == 5


def test_eval_cli_prints_the_bfcl_table(tool_student, tmp_path):  # noqa: F811
    from typer.testing import CliRunner

    from mentor_train.cli import app

    result = CliRunner().invoke(
        app,
        [
            "eval",
            "--model",
            str(tool_student),
            "--problems",
            "bfcl:simple_python,irrelevance?n=3",
            "--backend",
            "hf",
            "--device",
            "cpu",
            "--max-tokens",
            "24",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "| category | n | accuracy |" in result.stderr
    assert "| simple_python | 2 |" in result.stderr and "| irrelevance | 1 |" in result.stderr
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(printed["bfcl_groups"]) == {"non_live_ast", "irrelevance"}
    assert printed["per_family"]["irrelevance"]["n"] == 1


def test_eval_through_an_openai_compatible_server():
    """The openai backend: a local fake server whose first turn always calls `add`."""
    from tests.fake_openai_server import FakeOpenAIServer

    problems = load_problems("bfcl:simple_python?n=2") + load_problems("bfcl:irrelevance?n=1")
    with FakeOpenAIServer(fixed_turns=2) as server:
        config = EvalConfig(backend="openai", base_url=server.base_url, label="fake")
        result = evaluate("fake-model", problems, None, config)
    assert result.summary["n"] == 3 and result.summary["accuracy"] == 0.0
    assert result.summary["invalid_tool_rate"] == 1.0  # `add` is offered on no BFCL row
    reasons = {r["family"]: r["bfcl_reason"] for r in result.rows}
    assert reasons == {"simple_python": "unknown_function", "irrelevance": "unexpected_call"}
    assert result.config["backend"] == "openai" and result.config["base_url"] == server.base_url
    with pytest.raises(ValueError, match="backend='openai' only"):
        EvalConfig(backend="hf", base_url=server.base_url)
