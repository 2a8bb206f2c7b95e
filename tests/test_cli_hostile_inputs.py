"""Hostile inputs at the CLI: bad rows, bad bytes, absurd sizes and unusual paths.

Each command is run for real (typer's CliRunner) on real files: a bad row costs only itself, a
bad input is one clear line with exit code 1 or 2 (never a traceback), and nothing is written.
"""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
from typer.testing import CliRunner

from mentor_data.cli import app as data_app
from mentor_train.cli import app as train_app

runner = CliRunner()

GOOD = {"completion": "\\boxed{391}", "answer": "391", "teacher_tools": ["multiply"]}
CHAT_ROW = {
    "id": "q1",
    "question": "What is 3 times 12?",
    "answer": "36",
    "messages": [
        {"role": "user", "content": "What is 3 times 12?"},
        {"role": "assistant", "content": "So \\boxed{36}."},
    ],
}


def lines(*objs) -> bytes:
    """JSONL bytes; a bytes item is written as it is (for raw, invalid bytes)."""
    return b"".join((o if isinstance(o, bytes) else json.dumps(o).encode()) + b"\n" for o in objs)


def invoke(app, *args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def no_traceback(result):
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output


def json_lines(text: str) -> list[dict]:
    return [json.loads(x) for x in text.splitlines() if x.startswith("{")]


class Fifo:
    """A named pipe in `folder` that a thread fills with `data` once a reader opens it."""

    def __init__(self, folder, data: bytes):
        self.path = folder / "pipe.jsonl"
        os.mkfifo(self.path)
        self.thread = threading.Thread(target=self._write, args=(data,), daemon=True)
        self.thread.start()

    def _write(self, data: bytes) -> None:
        with open(self.path, "wb") as f:  # blocks until the command opens the pipe
            f.write(data)

    def close(self) -> None:
        if self.thread.is_alive():  # the command never opened it: unblock the writer
            with open(self.path, "rb") as f:
                f.read()
        self.thread.join(5)


@pytest.fixture
def fifo(tmp_path):
    made = []

    def make(data: bytes):
        made.append(Fifo(tmp_path, data))
        return made[-1].path

    yield make
    for f in made:
        f.close()


# -- 1. mentor-train reward: one bad row costs only itself -------------------------------------
def test_reward_lone_surrogate_in_completion_still_scores_every_row(tmp_path):
    src = tmp_path / "in.jsonl"
    # json.dumps writes the lone surrogate as the escape \ud800: valid JSON, invalid Unicode;
    # the scored row echoes the called tool's name, surrogate and all.
    call = '<tool_call>\n{"name": "mul\ud800", "arguments": {}}\n</tool_call>\n\\boxed{391}'
    src.write_bytes(lines({**GOOD, "completion": call}, GOOD))
    result = invoke(train_app, "reward", src)
    no_traceback(result)
    assert result.exit_code == 0, result.output
    result.stdout_bytes.decode("utf-8")  # strict: what was printed is valid UTF-8
    rows = json_lines(result.stdout)
    assert len(rows) == 2 and rows[0]["invalid_tools"] == ["mul\ud800"]
    assert rows[1]["correct"] is True and rows[1]["total"] is not None


def test_reward_invalid_utf8_line_is_reported_and_the_rest_scored(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(lines(GOOD, b'{"completion": "\xff\xfe", "answer": "1"}', GOOD))
    result = invoke(train_app, "reward", src)
    no_traceback(result)
    assert result.exit_code == 1
    rows = json_lines(result.stdout)
    assert len(rows) == 3 and "total" in rows[0] and "total" in rows[2]
    assert rows[1]["line"] == 2 and "UTF-8" in rows[1]["error"]
    assert "in.jsonl:2" in result.stderr and "UTF-8" in result.stderr


def test_reward_tool_names_as_a_string_is_a_row_error(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(lines({**GOOD, "tool_names": "multiply"}, GOOD, "not json"))
    result = invoke(train_app, "reward", src)
    no_traceback(result)
    assert result.exit_code == 1
    rows = json_lines(result.stdout)
    assert len(rows) == 3 and "total" in rows[1]
    assert rows[0]["line"] == 1 and "tool_names" in rows[0]["error"]
    assert "list" in rows[0]["error"]
    assert rows[2]["line"] == 3 and "in.jsonl:3" in result.stderr


def test_reward_path_is_a_directory_or_a_fifo(tmp_path, fifo):
    result = invoke(train_app, "reward", tmp_path)
    no_traceback(result)
    assert result.exit_code in (1, 2) and "is a directory" in result.stderr
    result = invoke(train_app, "reward", tmp_path / "missing.jsonl")
    assert result.exit_code in (1, 2) and "does not exist" in result.stderr
    result = invoke(train_app, "reward", fifo(lines(GOOD, GOOD)))
    no_traceback(result)
    assert result.exit_code == 0, result.output
    assert len(json_lines(result.stdout)) == 2


# -- 2. mentor-data import: values the store cannot hold are invalid rows ----------------------
@pytest.mark.parametrize(
    "bad, message",
    [
        ({**CHAT_ROW, "id": "q2", "sample_id": 2**70}, "line 2: field 'sample_id'"),
        ({**CHAT_ROW, "id": "q2", "question": "x \ud800"}, "line 2: field 'question'"),
        (
            {**CHAT_ROW, "id": "q2", "metadata": {"note": ["\udfff"]}},
            "line 2: field 'metadata.note[0]'",
        ),
        (b'{"id": "q2", "question": "caf\xe9", "messages": []}', "line 2: not valid UTF-8"),
    ],
)
def test_import_unstorable_values_are_named_skippable_and_leave_nothing(
    tmp_path, data_dir, bad, message
):
    src = tmp_path / "in.jsonl"
    src.write_bytes(lines(CHAT_ROW, bad))
    result = invoke(data_app, "import", src, "--name", "mine")
    no_traceback(result)
    assert result.exit_code == 1 and message in result.output
    assert not (data_dir / "mine").exists()
    result = invoke(data_app, "import", src, "--name", "mine", "--skip-invalid")
    no_traceback(result)
    assert result.exit_code == 0, result.output
    assert "imported 1 rows" in result.stdout and message in result.stderr


def test_import_path_is_a_directory_or_a_fifo(tmp_path, data_dir, fifo):
    (tmp_path / "folder").mkdir()
    result = invoke(data_app, "import", tmp_path / "folder", "--name", "mine")
    no_traceback(result)
    assert result.exit_code == 1 and "is a directory" in result.stderr
    result = invoke(data_app, "import", fifo(lines(CHAT_ROW)), "--name", "mine")
    no_traceback(result)
    assert result.exit_code == 0, result.output
    assert "imported 1 rows" in result.stdout


# -- 3. absurd problem sizes are refused at once ----------------------------------------------
HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    "spec, message",
    [
        (f"builtin:in_domain?n={HUGE}", "at most 10,000,000 problems"),
        ("builtin:in_domain?n=10000001", "at most 10,000,000 problems"),
        (f"builtin:in_domain?n=5&offset={HUGE}", "offset=99999999999999999999 is too large"),
        (f"builtin:in_domain?n=5&seed={HUGE}", "seed=99999999999999999999 is too large"),
        (f"rag:builtin?n={HUGE}", "at most 10,000,000 problems"),
        (f"rag:builtin?offset={HUGE}", "offset=99999999999999999999 is too large"),
        (f"rag:builtin?seed={HUGE}", "seed=99999999999999999999 is too large"),
    ],
)
def test_problems_and_generate_refuse_absurd_sizes(tmp_path, data_dir, spec, message):
    start = time.monotonic()
    result = invoke(data_app, "problems", spec)
    no_traceback(result)
    assert result.exit_code in (1, 2) and message in result.stderr
    result = invoke(
        data_app, "generate", "--problems", spec, "--name", "big", "--teacher", "solver"
    )
    no_traceback(result)
    assert result.exit_code in (1, 2) and message in result.stderr
    assert time.monotonic() - start < 30
    assert not (data_dir / "big").exists()


# -- 4. tools call --batch: FIFOs and /dev/fd/N are files too; a directory is not -------------
CALL = {"name": "add", "arguments": {"a": 2, "b": 3}}


def test_tools_call_batch_from_a_fifo(tmp_path, fifo):
    result = invoke(data_app, "tools", "call", "--batch", fifo(lines(CALL, CALL)))
    no_traceback(result)
    assert result.exit_code == 0, result.output
    assert [r["output"] for r in json_lines(result.stdout)] == ["5", "5"]


def test_tools_call_batch_from_dev_fd():
    read, write = os.pipe()
    try:
        os.write(write, lines(CALL))
        os.close(write)
        result = invoke(data_app, "tools", "call", "--batch", f"/dev/fd/{read}")
    finally:
        os.close(read)
    no_traceback(result)
    assert result.exit_code == 0, result.output
    assert [r["output"] for r in json_lines(result.stdout)] == ["5"]


def test_tools_call_batch_directory_and_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # short relative paths: rich's error box does not wrap them
    (tmp_path / "d").mkdir()
    result = invoke(data_app, "tools", "call", "--batch", "d")
    no_traceback(result)
    assert result.exit_code == 2 and "is a directory" in result.output
    result = invoke(data_app, "tools", "call", "--batch", "nope.jsonl")
    assert result.exit_code == 2 and "no such file" in result.output
