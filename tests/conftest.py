"""Shared fixtures: real files in tmp folders, rows built through the library."""

from __future__ import annotations

import pytest

from mentor_data.schema import empty_sampling, utc_now


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run slow tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An empty store folder, also exported as MENTOR_DATA_DIR for CLI tests."""
    path = tmp_path / "data"
    monkeypatch.setenv("MENTOR_DATA_DIR", str(path))
    return path


def sample_row(i: int = 0, sample_id: int = 0, tool: str = "add") -> dict:
    """A hand-made, schema-complete trajectory row (one call of `tool`, boxed answer 3)."""
    args = {"a": 1, "b": 2} if tool == "add" else {"x": 9}
    return {
        "schema_version": "1.0",
        "problem_id": f"p{i}",
        "sample_id": sample_id,
        "domain": "arithmetic",
        "source": "test",
        "question": "What is 1 + 2?",
        "answer": "3",
        "messages": [
            {"role": "user", "content": "What is 1 + 2?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "call_0",
                        "type": "function",
                        "function": {"name": tool, "arguments": args},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_0", "name": tool, "content": "3"},
            {"role": "assistant", "content": "The answer is \\boxed{3}."},
        ],
        "tools": [{"type": "function", "function": {"name": tool, "parameters": {}}}],
        "teacher": {
            "backend": "solver",
            "model": None,
            "prompt_hash": "0" * 16,
            "sampling": empty_sampling(),
        },
        "tool_calls": [
            {
                "turn": 0,
                "id": "call_0",
                "name": tool,
                "arguments": args,
                "output": "3",
                "error": None,
            }
        ],
        "final_answer": "3",
        "num_turns": 2,
        "finish_reason": "stop",
        "error": None,
        "usage": {"prompt_tokens": 10, "completion_tokens": 5},
        "latency_s": 0.01,
        "created_at": utc_now(),
        "metadata": {"family": "test"},
    }
