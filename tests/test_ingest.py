"""`mentor-data import`: good files become versions, bad rows are named and nothing is written."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mentor_data.cli import app
from mentor_data.ingest import InvalidRowsError, import_jsonl
from mentor_data.store import Store

runner = CliRunner()

TEXT_ROW = {
    "id": "q1",
    "question": "What is 3 times 12?",
    "answer": "36",
    "messages": [
        {"role": "user", "content": "What is 3 times 12?"},
        {
            "role": "assistant",
            "content": 'Multiply.\n<tool_call>\n{"name": "multiply", '
            '"arguments": {"a": 3, "b": 12}}\n</tool_call>',
        },
        {"role": "tool", "content": "36"},
        {"role": "assistant", "content": "So \\boxed{36}."},
    ],
}
API_ROW = {
    "id": 7,
    "question": "What is 2 + 2?",
    "answer": 4,
    "model": "gpt-x",
    "messages": [
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": "What is 2 + 2?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "abc",
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"a": 2, "b": 2}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "abc", "content": "4"},
        {"role": "assistant", "content": "\\boxed{4}"},
    ],
}


def write_jsonl(path, objs):
    path.write_text("".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objs))
    return path


def test_import_text_and_api_tool_calls(tmp_path):
    src = write_jsonl(tmp_path / "t.jsonl", [TEXT_ROW, API_ROW, TEXT_ROW])
    store = Store(tmp_path / "data")
    result = import_jsonl(src, "imported", store=store)
    assert result.rows == 3
    ds = store.load("imported")
    first = ds[0]
    assert first["messages"][1]["tool_calls"][0]["function"] == {
        "name": "multiply",
        "arguments": {"a": 3, "b": 12},
    }
    assert first["tool_calls"][0]["name"] == "multiply"
    assert first["tool_calls"][0]["output"] == "36"
    assert first["final_answer"] == "36" and first["num_turns"] == 2
    assert first["teacher"]["backend"] == "import"
    assert len(first["tools"]) == 12  # the arithmetic registry by default
    second = ds[1]
    assert second["problem_id"] == "7" and second["answer"] == "4"
    assert second["tool_calls"][0]["arguments"] == {"a": 2, "b": 2}
    assert second["teacher"]["model"] == "gpt-x"
    assert [(r["problem_id"], r["sample_id"]) for r in ds] == [("q1", 0), ("7", 0), ("q1", 1)]


@pytest.mark.parametrize(
    "bad, message",
    [
        ("{not json", "line 2: not valid JSON"),
        ({"question": "x", "messages": []}, "line 2: missing field 'id'"),
        ({**TEXT_ROW, "messages": "hello"}, "line 2: field 'messages'"),
        ({**TEXT_ROW, "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({**TEXT_ROW, "messages": [{"role": "user", "content": "x"}]}, "no assistant message"),
        ({**TEXT_ROW, "answer": {"x": 1}}, "field 'answer'"),
        ({**TEXT_ROW, "question": ""}, "field 'question'"),
        ([1, 2], "line 2: expected a JSON object"),
    ],
)
def test_bad_rows_are_named_and_nothing_is_written(tmp_path, bad, message):
    src = write_jsonl(tmp_path / "bad.jsonl", [TEXT_ROW, bad])
    store = Store(tmp_path / "data")
    with pytest.raises(InvalidRowsError) as err:
        import_jsonl(src, "x", store=store)
    assert message in str(err.value)
    assert store.versions("x") == []


@pytest.mark.parametrize(
    "bad, message",
    [
        ({**TEXT_ROW, "sample_id": 2**63}, "line 2: field 'sample_id': 9223372036854775808 is too"),
        ({**TEXT_ROW, "sample_id": True}, "line 2: field 'sample_id' must be"),
        ({**TEXT_ROW, "id": "q\ud800"}, "line 2: field 'id': contains a lone surrogate"),
        (
            {
                **TEXT_ROW,
                "messages": [*TEXT_ROW["messages"][:3], {"role": "assistant", "content": "\udc80"}],
            },
            "line 2: field 'messages[3].content': contains a lone surrogate",
        ),
        ({**TEXT_ROW, "tools": [{"\ud800": 1}]}, "field 'tools[0] (a key)'"),
    ],
)
def test_values_the_store_cannot_hold_are_invalid_rows(tmp_path, bad, message):
    src = write_jsonl(tmp_path / "bad.jsonl", [TEXT_ROW, {**bad, "id": bad["id"] + "b"}])
    store = Store(tmp_path / "data")
    with pytest.raises(InvalidRowsError) as err:
        import_jsonl(src, "x", store=store)
    assert message in str(err.value)
    assert not (tmp_path / "data" / "x").exists()
    result = import_jsonl(src, "x", store=store, skip_invalid=True)
    assert result.rows == 1 and message in result.skipped[0]


def test_sample_id_at_the_int64_limit_is_stored(tmp_path):
    src = write_jsonl(tmp_path / "ok.jsonl", [{**TEXT_ROW, "sample_id": 2**63 - 1}])
    store = Store(tmp_path / "data")
    assert import_jsonl(src, "x", store=store).rows == 1


def test_bytes_that_are_not_utf8_are_named_with_their_line(tmp_path):
    src = tmp_path / "latin1.jsonl"
    src.write_bytes(
        (json.dumps(TEXT_ROW) + "\n").encode()
        + json.dumps({**TEXT_ROW, "id": "q2", "question": "caf\u00e9"}, ensure_ascii=False).encode(
            "latin-1"
        )
        + b"\n"
    )
    store = Store(tmp_path / "data")
    with pytest.raises(InvalidRowsError, match=r"line 2: not valid UTF-8 \(byte 0xe9"):
        import_jsonl(src, "x", store=store)
    result = import_jsonl(src, "x", store=store, skip_invalid=True)
    assert result.rows == 1 and result.skipped[0].startswith("line 2: not valid UTF-8")


def test_duplicate_keys_are_rejected(tmp_path):
    src = write_jsonl(
        tmp_path / "d.jsonl", [{**TEXT_ROW, "sample_id": 0}, {**TEXT_ROW, "sample_id": 0}]
    )
    with pytest.raises(InvalidRowsError, match="duplicate key"):
        import_jsonl(src, "x", store=Store(tmp_path / "data"))


def test_skip_invalid_imports_the_rest(tmp_path):
    src = write_jsonl(tmp_path / "m.jsonl", [TEXT_ROW, "{oops", API_ROW])
    result = import_jsonl(src, "x", store=Store(tmp_path / "data"), skip_invalid=True)
    assert result.rows == 2 and result.skipped == [
        "line 2: not valid JSON (Expecting property name enclosed in double quotes: line 1 col)"[:0]
        + result.skipped[0]
    ]
    assert result.skipped[0].startswith("line 2: not valid JSON")


def test_cli_import_ls_show(tmp_path, data_dir):
    src = write_jsonl(tmp_path / "t.jsonl", [TEXT_ROW, API_ROW])
    out = runner.invoke(app, ["import", str(src), "--name", "mine"])
    assert out.exit_code == 0, out.output
    assert "imported 2 rows into mine@v1" in out.output
    out = runner.invoke(app, ["ls"])
    assert out.exit_code == 0 and "mine" in out.output and "v1" in out.output
    out = runner.invoke(app, ["show", "mine@v1", "-n", "1"])
    assert out.exit_code == 0 and '"rows": 2' in out.output and "multiply" in out.output
    manifest = Store(data_dir).manifest("mine")
    assert manifest["command"].startswith("mentor-data import")


def test_cli_import_bad_file_exits_nonzero(tmp_path, data_dir):
    src = write_jsonl(tmp_path / "b.jsonl", ["{oops"])
    out = runner.invoke(app, ["import", str(src), "--name", "mine"])
    assert out.exit_code == 1
    assert "line 1: not valid JSON" in out.output
    out = runner.invoke(app, ["show", "mine"])
    assert out.exit_code == 1 and "no dataset 'mine'" in out.output
