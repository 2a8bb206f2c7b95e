"""`mentor-data tools list|call`: output formats, exit codes and batch mode."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mentor_data.cli import app
from mentor_data.tools import ARITHMETIC

runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    # A wide terminal, so that rich does not wrap tool names in the table.
    return runner.invoke(app, list(args), input=input, env={"COLUMNS": "200"})


@pytest.mark.parametrize("command", [["tools"], ["tools", "list"], ["tools", "call"]])
def test_help(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Usage" in result.stdout


def test_list_table():
    result = invoke("tools", "list")
    assert result.exit_code == 0
    for tool in ARITHMETIC:
        assert tool.name in result.stdout
    assert "x: number, ndigits?: integer" in result.stdout


def test_list_json_is_the_schemas():
    result = invoke("tools", "list", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == ARITHMETIC.schemas()


def test_call_ok():
    result = invoke("tools", "call", "multiply", '{"a": 17, "b": 23}')
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"ok": True, "output": "391"}
    assert result.stdout.count("\n") == 1  # one JSON line


def test_call_tool_error_exits_1():
    result = invoke("tools", "call", "divide", '{"a": 1, "b": 0}')
    assert result.exit_code == 1
    line = json.loads(result.stdout)
    assert line["ok"] is False and line["code"] == "math_error" and "zero" in line["error"]
    assert json.loads(invoke("tools", "call", "bogus", "{}").stdout)["code"] == "unknown_tool"


@pytest.mark.parametrize(
    "args, message",
    [
        (["add", '{"a": 1,'], "not valid JSON"),
        (["add", "[1, 2]"], "must be a JSON object"),
        ([], "missing NAME"),
        (["add", "{}", "--registry", "chemistry"], "unknown tool registry"),
    ],
)
def test_call_bad_usage_exits_2(args, message):
    result = invoke("tools", "call", *args)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())  # rich may wrap the message


def test_call_batch_file_with_a_bad_line(tmp_path):
    path = tmp_path / "calls.jsonl"
    lines = [
        {"name": "add", "arguments": {"a": 1, "b": 2}},
        "this is not json",
        {"arguments": {"a": 1}},
        {"name": "sqrt", "arguments": {"x": -1}},
        {"name": "round_number", "arguments": {"x": 2.5}},
    ]
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    result = invoke("tools", "call", "--batch", str(path))
    assert result.exit_code == 0
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == len(lines)
    assert out[0] == {"ok": True, "output": "3"}
    assert out[1]["ok"] is False and out[1]["error"].startswith("line 2: ")
    assert out[2]["ok"] is False and out[2]["error"].startswith("line 3: ")
    assert out[3]["code"] == "math_error"
    assert out[4] == {"ok": True, "output": "3"}
    assert "5 calls, 3 errors" in result.stderr


def test_call_batch_stdin():
    calls = '{"name": "power", "arguments": {"base": 2, "exponent": 10}}\n'
    result = invoke("tools", "call", "--batch", "-", input=calls)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"ok": True, "output": "1024"}


def test_call_batch_usage_errors(tmp_path):
    assert invoke("tools", "call", "--batch", str(tmp_path / "missing.jsonl")).exit_code == 2
    path = tmp_path / "calls.jsonl"
    path.write_text("{}\n")
    assert invoke("tools", "call", "add", "--batch", str(path)).exit_code == 2
