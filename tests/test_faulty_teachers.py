"""Faulty teachers: the generate path records every bad reply as data and never stops.

HTTP faults (429, 5xx, timeouts, dropped connections) and retries are tested with
`tests/fake_openai_server.py` in test_teachers.py. Here a scripted server sends the replies a
broken or sloppy endpoint sends (invalid JSON arguments, unknown tools, empty choices,
truncated replies and bodies, junk `tool_calls`), over real HTTP to the real `OpenAITeacher`,
through the one tool loop (`run_conversations`). Every problem must come back as exactly one
schema-valid row that says what went wrong, and `verify_row` must classify it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import pytest

from mentor_data.problems import Problem
from mentor_data.teachers import GenerationConfig, Teacher, TurnResult, run_conversations
from mentor_data.teachers.openai_teacher import OpenAITeacher
from mentor_data.verify import REASONS, verify_row

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "schemas" / "trajectory.schema.json").read_text()
)
CONFIG = GenerationConfig(max_turns=3, max_retries=0, concurrency=8, request_timeout_s=5.0)


def reply(content=None, tool_calls=None, finish="stop", usage=None, **choice) -> dict:
    """A chat completion body with one choice."""
    message = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, **choice}],
        "usage": usage if usage is not None else {"prompt_tokens": 10, "completion_tokens": 5},
    }


def call(name, arguments, call_id="c1") -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


ANSWER = reply("So the answer is \\boxed{3}.")
VALID_CALL = reply(None, [call("add", '{"a": 1, "b": 2}')], finish="tool_calls")
HALF = json.dumps(ANSWER).encode()

# question -> the reply of each assistant turn (a dict is sent as JSON, bytes as they are)
SCRIPTS: dict[str, list] = {
    "invalid-json-arguments": [
        reply(None, [call("add", '{"a": 1, "b": ')], finish="tool_calls"),
        ANSWER,
    ],
    "invalid-json-in-text": [
        reply('<tool_call>\n{"name": "add", "arguments": {"a": 1,}}\n</tool_call>'),
        ANSWER,
    ],
    "unknown-tool": [
        reply(None, [call("web_search", '{"query": "1+2"}')], finish="tool_calls"),
        ANSWER,
    ],
    "unknown-tool-in-text": [
        reply('<tool_call>\n{"name": "calculator", "arguments": {"x": "1+2"}}\n</tool_call>'),
        ANSWER,
    ],
    "junk-tool-calls": [
        reply(None, [1, None, {"function": "add"}, call(5, [1, 2])], finish="tool_calls"),
        ANSWER,
    ],
    "arguments-as-object": [reply(None, [call("add", {"a": 1, "b": 2})]), ANSWER],
    "empty-choices": [{"id": "x", "object": "chat.completion", "choices": []}],
    "null-choices": [{"id": "x", "choices": None}],
    "no-message": [{"id": "x", "choices": [{"index": 0, "finish_reason": "stop"}]}],
    "message-not-an-object": [{"id": "x", "choices": [{"index": 0, "message": "3"}]}],
    "empty-message": [reply(None)],
    "truncated-reply": [reply('I will add.\n<tool_call>\n{"name": "add", "argu', finish="length")],
    "truncated-after-a-call": [VALID_CALL, reply("The sum is \\boxed{", finish="length")],
    "truncated-body": [HALF[: len(HALF) // 2]],
    "not-json": [b"<html><body>502 Bad Gateway</body></html>"],
    "megabyte-reply": [reply("x" * 1_000_000 + " \\boxed{3}")],
}


class ScriptedServer:
    """An HTTP server answering `/chat/completions` from `SCRIPTS`, keyed by the user question."""

    def __init__(self, scripts: dict[str, list]):
        scripts_ = scripts

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                question = next(m["content"] for m in body["messages"] if m["role"] == "user")
                turn = sum(m["role"] == "assistant" for m in body["messages"])
                script = scripts_[question]
                answer = script[min(turn, len(script) - 1)]
                raw = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def run(scripts: dict[str, list], config: GenerationConfig = CONFIG) -> dict[str, dict]:
    problems = [Problem(id=name, question=name, answer="3") for name in scripts]
    with ScriptedServer(scripts) as server:
        teacher = OpenAITeacher(model="scripted", base_url=server.base_url)
        rows = run_conversations(teacher, problems, config).rows
    assert len(rows) == len(problems)
    return {row["problem_id"]: row for row in rows}


@pytest.fixture(scope="module")
def rows() -> dict[str, dict]:
    return run(SCRIPTS)


def observation(row: dict, call_id: str) -> str:
    return next(m["content"] for m in row["messages"] if m.get("tool_call_id") == call_id)


def test_every_problem_is_one_valid_row_that_verify_classifies(rows):
    assert set(rows) == set(SCRIPTS)
    for name, row in rows.items():
        jsonschema.validate(row, SCHEMA)
        assert verify_row(row).reason in REASONS, name


def test_invalid_json_arguments_are_recorded_malformed_calls(rows):
    for name in ("invalid-json-arguments", "invalid-json-in-text"):
        row = rows[name]
        assert row["finish_reason"] == "stop" and row["final_answer"] == "3", name
        (record,) = row["tool_calls"]
        assert record["error"].startswith("malformed_call") and record["output"] is None
        assert observation(row, record["id"]).startswith("Error: malformed_call")
        assert verify_row(row).reason == "malformed_call"


def test_unknown_tools_get_an_error_observation_and_the_run_goes_on(rows):
    for name, tool in (("unknown-tool", "web_search"), ("unknown-tool-in-text", "calculator")):
        row = rows[name]
        (record,) = row["tool_calls"]
        assert record["name"] == tool and record["error"].startswith("unknown_tool")
        assert observation(row, record["id"]).startswith(f"Error: unknown tool '{tool}'")
        assert row["finish_reason"] == "stop" and row["final_answer"] == "3"
        assert verify_row(row).reason == "unknown_tool"


def test_junk_tool_call_entries_are_each_a_malformed_call(rows):
    row = rows["junk-tool-calls"]
    assert len(row["tool_calls"]) == 4
    assert all(c["error"].startswith("malformed_call") for c in row["tool_calls"])
    assert row["final_answer"] == "3"


def test_arguments_sent_as_an_object_are_accepted(rows):
    (record,) = rows["arguments-as-object"]["tool_calls"]
    assert record["output"] == "3" and record["error"] is None


def test_replies_without_choices_are_error_rows(rows):
    for name in ("empty-choices", "null-choices"):
        row = rows[name]
        assert row["finish_reason"] == "error" and "no choices" in row["error"], name
        assert row["num_turns"] == 0 and verify_row(row).reason == "error"


def test_replies_without_a_usable_message(rows):
    for name in ("no-message", "empty-message"):
        row = rows[name]
        assert row["finish_reason"] == "stop" and row["final_answer"] is None, name
        assert verify_row(row).reason == "no_answer"
    broken = rows["message-not-an-object"]
    assert broken["finish_reason"] == "error" and broken["error"]


def test_truncated_replies_end_with_length_and_run_nothing(rows):
    cut = rows["truncated-reply"]
    assert cut["finish_reason"] == "length" and cut["tool_calls"] == []
    # verify checks calls before the finish reason: the unclosed block names the row.
    assert cut["num_turns"] == 1 and verify_row(cut).reason in ("malformed_call", "truncated")
    late = rows["truncated-after-a-call"]
    assert late["finish_reason"] == "length" and late["num_turns"] == 2
    assert [c["output"] for c in late["tool_calls"]] == ["3"]
    assert verify_row(late).reason == "truncated"


def test_truncated_or_non_json_bodies_are_error_rows(rows):
    for name in ("truncated-body", "not-json"):
        row = rows[name]
        assert row["finish_reason"] == "error" and row["error"], name
        assert row["num_turns"] == 0


def test_a_megabyte_reply_is_kept_and_verified(rows):
    row = rows["megabyte-reply"]
    assert row["finish_reason"] == "stop" and row["final_answer"] == "3"
    # It answers without a tool: no_tool_call by default (issue item 12), ok once allowed.
    assert verify_row(row).reason == "no_tool_call"
    assert verify_row(row, min_calls=0).reason == "ok"


def test_usage_of_the_wrong_type_is_not_fatal():
    bad = reply("\\boxed{3}", usage={"prompt_tokens": "12", "completion_tokens": None})
    rows = run({"usage-strings": [bad], "fine": [ANSWER]})
    assert rows["fine"]["final_answer"] == "3"


def test_usage_that_is_not_an_object_is_an_error_row():
    rows = run({"usage-list": [reply("\\boxed{3}", usage=[1, 2])], "fine": [ANSWER]})
    assert rows["usage-list"]["finish_reason"] in ("stop", "error")
    assert rows["fine"]["final_answer"] == "3"


# -- a teacher that breaks the interface -----------------------------------------------------------
class Broken(Teacher):
    """Returns a wrong number of turns, a turn without a message, or raises, by question."""

    backend = "broken"
    default_batch_size = 4

    async def complete(self, conversations: Sequence, config) -> list[TurnResult]:
        questions = {c.problem.question for c in conversations}
        if "raise" in questions:
            raise ConnectionResetError("the engine died")
        if "short" in questions:
            return []
        return [TurnResult(message=None) for _ in conversations]


@pytest.mark.parametrize(
    ("question", "error"),
    [("raise", "the engine died"), ("short", "returned 0 turns"), ("none", "no message")],
)
def test_a_teacher_breaking_the_interface_gives_error_rows(question, error):
    problems = [Problem(id=f"p{i}", question=question, answer="3") for i in range(3)]
    rows = run_conversations(Broken(), problems, GenerationConfig()).rows
    assert len(rows) == 3
    for row in rows:
        jsonschema.validate(row, SCHEMA)
        assert row["finish_reason"] == "error" and error in row["error"]
