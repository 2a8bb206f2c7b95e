"""The teacher interface, the one tool loop, and the four backends (openai over real HTTP)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from mentor_data.problems import Problem, load_problems
from mentor_data.teachers import (
    GenerationConfig,
    Teacher,
    TurnResult,
    make_teacher,
    run_conversations,
)
from mentor_data.teachers.base import reply_message, tools_prompt
from mentor_data.teachers.openai_teacher import OpenAITeacher, retry_after_seconds, to_wire
from mentor_data.teachers.rollout import (
    Conversation,
    execute_turn,
    new_conversation,
    registry_for,
)
from mentor_data.teachers.solver import SolverTeacher
from mentor_data.tools import ARITHMETIC
from mentor_data.trajectory import tool_calls_from_messages
from tests.fake_openai_server import MISSING_MODEL, FakeOpenAIServer

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "schemas" / "trajectory.schema.json").read_text()
)
FAST = {"request_timeout_s": 0.5, "backoff_base_s": 0.01, "backoff_max_s": 0.05}


@pytest.fixture(scope="module")
def problems():
    return load_problems("builtin:all?n=44")


def by_key(rows):
    return {(r["problem_id"], r["sample_id"]): r for r in rows}


class Scripted(Teacher):
    """Replies from a list of turns (the same script for every conversation)."""

    backend = "scripted"
    default_batch_size = 4

    def __init__(self, turns):
        self.turns = turns

    async def complete(self, conversations: Sequence[Conversation], config) -> list[TurnResult]:
        out = []
        for conv in conversations:
            turn = self.turns[min(conv.turn, len(self.turns) - 1)]
            if isinstance(turn, Exception):
                raise turn
            out.append(
                turn
                if isinstance(turn, TurnResult)
                else TurnResult(
                    reply_message(turn, turn=conv.turn), prompt_tokens=10, completion_tokens=2
                )
            )
        return out


CALL = '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>'


# -- the loop ----------------------------------------------------------------------------------
def test_loop_finish_reasons():
    p = [Problem(id="p", question="1+2?", answer="3")]
    cfg = GenerationConfig(max_turns=3)
    stop = run_conversations(Scripted([CALL, "It is \\boxed{3}."]), p, cfg).rows[0]
    assert stop["finish_reason"] == "stop" and stop["final_answer"] == "3"
    assert stop["num_turns"] == 2 and stop["usage"] == {"prompt_tokens": 20, "completion_tokens": 4}
    assert stop["tool_calls"][0]["output"] == "3" and stop["teacher"]["backend"] == "scripted"
    assert stop["messages"][0]["role"] == "system" and stop["messages"][-2]["role"] == "tool"
    looping = run_conversations(Scripted([CALL]), p, cfg).rows[0]
    assert looping["finish_reason"] == "max_turns" and looping["num_turns"] == 3
    assert len(looping["tool_calls"]) == 3 and looping["final_answer"] is None
    cut = TurnResult({"role": "assistant", "content": "I will add"}, finish="length")
    length = run_conversations(Scripted([cut]), p, cfg).rows[0]
    assert length["finish_reason"] == "length" and length["num_turns"] == 1
    failed = run_conversations(Scripted([CALL, RuntimeError("GPU on fire")]), p, cfg).rows[0]
    assert failed["finish_reason"] == "error" and "GPU on fire" in failed["error"]
    assert failed["num_turns"] == 1  # what happened before the failure is kept


def test_loop_samples_skip_keys_and_callback(problems):
    cfg = GenerationConfig(samples_per_problem=3)
    seen = []
    summary = run_conversations(
        SolverTeacher(), problems[:5], cfg, skip_keys={(problems[0].id, 1)}, on_row=seen.append
    )
    assert summary.n_rows == 14 and summary.skipped == 1 and summary.rows == []
    keys = {(r["problem_id"], r["sample_id"]) for r in seen}
    assert len(keys) == 14 and (problems[0].id, 1) not in keys
    seeds = {r["teacher"]["sampling"]["seed"] for r in seen}
    assert len(seeds) == 14  # every sample has its own seed


def test_execute_turn_records_and_orders_observations():
    message = {
        "role": "assistant",
        "content": 'Let me see.\n<tool_call>\n{"name": "add", "arguments": {"a": 1,}\n</tool_call>',
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "divide", "arguments": {"a": 1, "b": 0}},
            },
            {
                "id": "c2",
                "type": "function",
                "function": {"name": "add", "arguments": {"__raw__": '{"a": 1'}},
            },
            {"id": "c3", "type": "function", "function": {"name": "bogus", "arguments": {}}},
            {
                "id": "c4",
                "type": "function",
                "function": {"name": "multiply", "arguments": {"a": 3, "b": 12}},
            },
        ],
    }
    records, tool_messages = execute_turn(message, 0, registry_for(ARITHMETIC.schemas()))
    by_id = {r["id"]: r for r in records}
    assert by_id["c1"]["error"].startswith("math_error: division by zero")
    assert by_id["c2"]["error"].startswith("malformed_call") and by_id["c2"]["arguments"] is None
    assert by_id["c3"]["error"].startswith("unknown_tool")
    assert by_id["c4"]["output"] == "36" and by_id["c4"]["error"] is None
    block = records[0]  # a block in the text comes first (formats.parse_completion's order)
    assert block["id"] == "call_0_0" and block["error"].startswith("malformed_call: invalid JSON")
    assert all(r["turn"] == 0 for r in records)
    # Observations of well-formed calls first (in call order), then those of malformed calls.
    assert [m["tool_call_id"] for m in tool_messages] == ["c1", "c3", "c4", "call_0_0", "c2"]
    assert tool_messages[2]["content"] == "36"
    assert all(m["content"].startswith("Error: ") for i, m in enumerate(tool_messages) if i != 2)
    # The trajectory module reads the same conversation back to the same outputs.
    derived = tool_calls_from_messages([{"role": "user", "content": "?"}, message, *tool_messages])
    assert [(r["id"], r["output"]) for r in derived] == [(r["id"], r["output"]) for r in records]


def test_offered_tools_bound_execution():
    add_only = [
        ARITHMETIC.get("add").schema,
        {"type": "function", "function": {"name": "web_search"}},
    ]
    registry = registry_for(add_only)
    assert registry.names() == ["add"]
    msg = reply_message(
        '<tool_call>\n{"name": "multiply", "arguments": {"a": 1, "b": 2}}\n</tool_call>'
    )
    records, _ = execute_turn(msg, 0, registry)
    assert records[0]["error"].startswith("unknown_tool")


def test_generation_config_validation():
    for bad in (
        {"temperature": -1},
        {"top_p": 0},
        {"max_turns": 0},
        {"tool_format": "xml"},
        {"samples_per_problem": 0},
        {"batch_size": 0},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            GenerationConfig(**bad)
    assert GenerationConfig(system_prompt="").prompt is None
    assert "boxed" in GenerationConfig().prompt
    assert "concurrency" not in GenerationConfig().output_fields()


# -- solver ------------------------------------------------------------------------------------
def test_solver_writes_correct_varied_trajectories(problems):
    summary = run_conversations(SolverTeacher(), problems, GenerationConfig(samples_per_problem=4))
    rows = summary.rows
    assert summary.finish_reasons == {"stop": len(problems) * 4}
    assert all(r["final_answer"] == r["answer"] for r in rows)
    assert all(c["error"] is None for r in rows for c in r["tool_calls"])
    assert all(r["teacher"]["sampling"]["temperature"] is None for r in rows)
    # Samples of one problem differ a little (phrasing, batching of independent steps).
    texts = {}
    for r in rows:
        texts.setdefault(r["problem_id"], set()).add(json.dumps(r["messages"]))
    assert sum(len(v) > 1 for v in texts.values()) >= len(problems) // 2
    assert any(len(m.get("tool_calls", [])) > 1 for r in rows for m in r["messages"])
    # Every call in the messages is recorded with the observation the model saw.
    for r in rows[:50]:
        derived = tool_calls_from_messages(r["messages"])
        assert [(c["name"], c["output"]) for c in derived] == [
            (c["name"], c["output"]) for c in r["tool_calls"]
        ]


def test_solver_error_row_for_problems_without_program():
    p = Problem(id="file-1", question="What is 2+2?", answer="4")
    row = run_conversations(SolverTeacher(), [p], GenerationConfig()).rows[0]
    assert row["finish_reason"] == "error" and "no reference program" in row["error"]
    assert row["messages"][-1] == {"role": "user", "content": "What is 2+2?"}


# -- openai over real HTTP ---------------------------------------------------------------------
@pytest.mark.parametrize("tool_format", ["native", "text"])
def test_openai_teacher_with_faults_accounts_for_every_problem(problems, tool_format):
    cfg = GenerationConfig(
        samples_per_problem=2,
        # A 5-call chain plus its answer is 6 turns, and every injected malformed reply costs one
        # more; which requests get faults depends on timing, so leave generous room.
        max_turns=14,
        concurrency=8,
        tool_format=tool_format,
        max_retries=6,
        **FAST,
    )
    with FakeOpenAIServer(problems, fault_rate=0.2, slow_s=1.0, seed=7) as server:
        teacher = OpenAITeacher(model="fake", base_url=server.base_url)
        summary = run_conversations(teacher, problems, cfg)
    rows = summary.rows
    assert len(by_key(rows)) == len(rows) == len(problems) * 2
    faults = {k: v for k, v in server.stats.items() if k.startswith("fault_")}
    assert set(faults) == {"fault_429", "fault_500", "fault_slow", "fault_drop", "fault_malformed"}
    stats = teacher.stats()
    assert stats["retries"] > 0 and summary.retries == stats["retries"]
    assert set(stats["retries_by_reason"]) >= {"status 429", "status 500", "timeout"}
    for r in rows:
        if r["finish_reason"] == "error":  # allowed only where the retries ran out
            assert "after 7 attempts" in r["error"]
        else:
            assert r["finish_reason"] == "stop" and r["final_answer"] == r["answer"], r
        assert r["teacher"]["model"] == "fake" and r["usage"]["prompt_tokens"] > 0
    malformed = [c for r in rows for c in r["tool_calls"] if c["error"]]
    assert malformed and all(c["error"].startswith("malformed_call") for c in malformed)
    hashes = {r["teacher"]["prompt_hash"] for r in rows}
    assert len(hashes) == 1


def test_openai_malformed_calls_are_data(problems):
    cfg = GenerationConfig(max_turns=12, concurrency=4, **FAST)
    with FakeOpenAIServer(
        problems[:8], fault_rate=0.5, fault_kinds=("malformed",), seed=1
    ) as server:
        rows = run_conversations(
            OpenAITeacher(model="m", base_url=server.base_url), problems[:8], cfg
        ).rows
    bad = [(r, c) for r in rows for c in r["tool_calls"] if c["error"]]
    assert bad, server.stats
    for r, c in bad:
        assert c["arguments"] is None and c["output"] is None
        observation = next(m for m in r["messages"] if m.get("tool_call_id") == c["id"])
        assert observation["content"].startswith("Error: malformed_call")
        assert r["finish_reason"] == "stop" and r["final_answer"] == r["answer"]


def test_openai_retries_honour_retry_after_then_give_up(problems):
    cfg = GenerationConfig(max_retries=2, concurrency=2, **FAST)
    with FakeOpenAIServer(
        problems[:2], fault_rate=1.0, fault_kinds=("429",), retry_after_s=0.3
    ) as server:
        start = time.perf_counter()
        rows = run_conversations(
            OpenAITeacher(model="m", base_url=server.base_url), problems[:2], cfg
        ).rows
        elapsed = time.perf_counter() - start
    assert server.stats["requests"] == 6  # 1 + 2 retries each
    assert elapsed >= 0.6  # two waits of Retry-After 0.3 s (the backoff alone is 0.05 s)
    for r in rows:
        assert r["finish_reason"] == "error" and r["num_turns"] == 0
        assert r["error"].startswith("HTTP 429") and "after 3 attempts" in r["error"]
        assert r["metadata"]["retries"] == 2


def test_openai_does_not_retry_client_errors(problems):
    with FakeOpenAIServer(problems[:3]) as server:
        teacher = OpenAITeacher(model=MISSING_MODEL, base_url=server.base_url)
        rows = run_conversations(teacher, problems[:3], GenerationConfig(**FAST)).rows
    assert server.stats["rejected"] == 3 and teacher.stats()["retries"] == 0
    assert all(
        r["finish_reason"] == "error"
        and r["error"].startswith("HTTP 404")
        and "after 1 attempt)" in r["error"]
        for r in rows
    )


def test_openai_length_finish(problems):
    with FakeOpenAIServer(problems[:2]) as server:
        rows = run_conversations(
            OpenAITeacher(model="m", base_url=server.base_url),
            problems[:2],
            GenerationConfig(max_tokens=3, **FAST),
        ).rows
    assert [r["finish_reason"] for r in rows] == ["length", "length"]


def test_wire_formats():
    tools = ARITHMETIC.schemas()[:2]
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "1+2?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "a",
                    "type": "function",
                    "function": {"name": "add", "arguments": {"a": 1, "b": 2}},
                },
                {
                    "id": "b",
                    "type": "function",
                    "function": {"name": "add", "arguments": {"__raw__": '{"a": '}},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "a", "name": "add", "content": "3"},
        {"role": "tool", "tool_call_id": "b", "name": "add", "content": "Error: bad"},
    ]
    native = to_wire(messages, tools, GenerationConfig())
    assert native[0] == {"role": "system", "content": "Be brief."}
    calls = native[2]["tool_calls"]
    assert calls[0]["function"]["arguments"] == '{"a": 1, "b": 2}'
    assert calls[1]["function"]["arguments"] == '{"a": '  # sent back exactly as written
    assert [m["role"] for m in native] == ["system", "user", "assistant", "tool", "tool"]
    stray = [*messages, {"role": "tool", "tool_call_id": "call_9_9", "content": "Error: x"}]
    assert to_wire(stray, tools, GenerationConfig())[-1] == {
        "role": "user",
        "content": "<tool_response>\nError: x\n</tool_response>",
    }
    text = to_wire(messages, tools, GenerationConfig(tool_format="text"))
    assert text[0]["content"] == tools_prompt("Be brief.", tools)
    assert "<tool_call>" in text[2]["content"] and "tool_calls" not in text[2]
    assert [m["role"] for m in text] == ["system", "user", "assistant", "user"]
    assert text[3]["content"].count("<tool_response>") == 2
    no_system = to_wire(messages[1:], tools, GenerationConfig(tool_format="text"))
    assert no_system[0]["role"] == "system" and "<tools>" in no_system[0]["content"]


def test_retry_after_parsing():
    assert retry_after_seconds({"retry-after": "1.5"}) == 1.5
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({}) is None
    assert 0 <= retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) < 1


# -- construction, vllm, hf ---------------------------------------------------------------------
def test_make_teacher(monkeypatch):
    assert make_teacher("solver").backend == "solver"
    with pytest.raises(ValueError, match="unknown teacher"):
        make_teacher("gpt")
    with pytest.raises(ValueError, match="needs --model"):
        make_teacher("openai")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match=r"no API key: set \$OPENAI_API_KEY"):
        make_teacher("openai", model="gpt-x")
    monkeypatch.setenv("MY_KEY", "sk-test")
    assert make_teacher("openai", model="m", api_key_env="MY_KEY").api_key == "sk-test"
    assert make_teacher("openai", model="m", base_url="http://x/v1").api_key == "EMPTY"


def test_vllm_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail
    with pytest.raises(ImportError, match=r"vLLM is not installed: pip install 'mentor\[vllm\]'"):
        make_teacher("vllm", model="Qwen/Qwen2.5-7B-Instruct")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from mentor_train.students import init_tiny

    return init_tiny(tmp_path_factory.mktemp("tiny") / "model")


def test_hf_teacher_with_a_tiny_model(tiny_model, problems):
    import jsonschema

    teacher = make_teacher("hf", model=str(tiny_model), device="cpu")
    cfg = GenerationConfig(max_tokens=8, max_turns=2, samples_per_problem=2, temperature=1.0)
    summary = run_conversations(teacher, problems[:2], cfg)
    assert summary.n_rows == 4
    for row in summary.rows:
        jsonschema.validate(row, SCHEMA)
        assert row["teacher"]["backend"] == "hf" and row["teacher"]["model"] == str(tiny_model)
        assert row["finish_reason"] in {"length", "stop", "max_turns"}
        assert row["usage"]["completion_tokens"] >= 1 and row["num_turns"] >= 1
    # A conversation the model ended is parsed like any other text (here: 8 random tokens).
    assert all(r["messages"][2]["role"] == "assistant" for r in summary.rows)


def test_new_conversation_opening():
    p = Problem(id="x", question="q?", answer=None)
    conv = new_conversation(p, 1, GenerationConfig(system_prompt=""))
    assert conv.messages == [{"role": "user", "content": "q?"}] and conv.sample_id == 1
    assert conv.tools == ARITHMETIC.schemas()


# -- openai against a real server: errors, served model, ignored tools, extra body -------------
def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Recording(FakeOpenAIServer):
    """Records request bodies; answers as `served` when set (an alias resolving elsewhere);
    `ignore_tools` drops `tools=` and writes no calls (a template without tool support)."""

    def __init__(self, *args, served=None, ignore_tools=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.bodies, self.served, self.ignore_tools = [], served, ignore_tools

    def answer(self, body, malformed=False):
        self.bodies.append(body)
        if self.ignore_tools:
            body = {**body, "tools": None}
        reply = super().answer(body, malformed)
        if self.ignore_tools:
            reply["choices"][0]["message"] = {"role": "assistant", "content": "It is 42."}
        if self.served:
            reply["model"] = self.served
        return reply


def test_openai_errors_name_the_url_and_the_timeout_flag(problems):
    port = _closed_port()
    cfg = GenerationConfig(max_retries=0, **FAST)
    teacher = OpenAITeacher(model="m", base_url=f"http://127.0.0.1:{port}/v1")
    rows = run_conversations(teacher, problems[:2], cfg).rows
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    for r in rows:
        assert r["error"].startswith("connection error") and url in r["error"], r["error"]
    with FakeOpenAIServer(problems[:2], fault_rate=1.0, fault_kinds=("slow",), slow_s=1) as s:
        cfg = GenerationConfig(max_retries=0, request_timeout_s=0.2, backoff_base_s=0.01)
        rows = run_conversations(OpenAITeacher(model="m", base_url=s.base_url), problems[:2], cfg)
    for r in rows.rows:
        assert "timeout" in r["error"] and "0.2 s" in r["error"], r["error"]
        assert "--request-timeout" in r["error"] and s.base_url in r["error"]
    with FakeOpenAIServer(problems[:1]) as s:
        teacher = OpenAITeacher(model=MISSING_MODEL, base_url=s.base_url)
        (row,) = run_conversations(teacher, problems[:1], GenerationConfig(**FAST)).rows
    assert row["error"].startswith("HTTP 404") and s.base_url in row["error"]
    assert teacher.stats()["failed"] == 1 and teacher.stats()["failure_streak"] == 1


def test_openai_records_the_served_model(problems):
    with _Recording(problems[:3], served="org/real-model-7b") as server:
        teacher = OpenAITeacher(model="alias", base_url=server.base_url)
        rows = run_conversations(teacher, problems[:3], GenerationConfig(**FAST)).rows
    assert teacher.stats()["served_models"] == {"org/real-model-7b": teacher.stats()["replies"]}
    for r in rows:
        assert r["teacher"]["model"] == "alias" and r["finish_reason"] == "stop"
        assert r["metadata"]["served_model"] == "org/real-model-7b"


def test_openai_warns_when_the_server_ignores_tools(problems, caplog):
    with _Recording(problems[:3], ignore_tools=True) as server:
        teacher = OpenAITeacher(model="m", base_url=server.base_url)
        with caplog.at_level("WARNING", logger="mentor_data.teachers.openai_teacher"):
            rows = run_conversations(teacher, problems[:3], GenerationConfig(**FAST)).rows
    assert all(body["tools"] for body in server.bodies)  # offered, ignored
    assert all(r["tool_calls"] == [] for r in rows)
    (warning,) = teacher.stats()["warnings"]
    assert "called a tool" in warning and "--tool-format text" in warning
    assert warning in caplog.text
    with FakeOpenAIServer(problems[:3]) as server:  # a server with a tool parser: no warning
        teacher = OpenAITeacher(model="m", base_url=server.base_url)
        run_conversations(teacher, problems[:3], GenerationConfig(**FAST))
    assert teacher.stats()["warnings"] == []


def test_openai_extra_body_reaches_the_server(problems):
    extra = {"tool_choice": "required", "grammar": "root ::= x"}
    with _Recording(problems[:2]) as server:
        teacher = OpenAITeacher(model="m", base_url=server.base_url)
        run_conversations(teacher, problems[:2], GenerationConfig(extra_body=extra, **FAST))
    assert server.bodies and all(
        b["tool_choice"] == "required" and b["grammar"] == "root ::= x" for b in server.bodies
    )
    assert GenerationConfig(extra_body=extra).output_fields()["extra_body"] == extra
    assert "extra_body" not in GenerationConfig().output_fields()  # old resume keys hold
    for bad in ([1], "tool_choice", {"x": object()}):
        with pytest.raises(ValueError, match="extra_body"):
            GenerationConfig(extra_body=bad)


# -- vllm plumbing without vLLM (the real engine: tests/test_vllm.py, `make test-vllm`) --------
def test_parse_engine_args():
    from mentor_data.teachers.vllm_teacher import parse_engine_args

    parsed = parse_engine_args(
        [
            "enforce_eager=true",
            "dtype=float32",
            "max-model-len=4096",
            "gpu_memory_utilization=0.5",
            'compilation_config={"level": 0}',
            "revision=2024-01-01",  # YAML reads a date: kept as the string given
            "tokenizer=a=b",  # only the first = splits
        ]
    )
    assert parsed == {
        "enforce_eager": True,
        "dtype": "float32",
        "max_model_len": 4096,
        "gpu_memory_utilization": 0.5,
        "compilation_config": {"level": 0},
        "revision": "2024-01-01",
        "tokenizer": "a=b",
    }
    assert parse_engine_args([]) == {}
    for bad, message in [
        (["enforce_eager"], "expected KEY=VALUE"),
        (["=1"], "expected KEY=VALUE"),
        (["1dtype=x"], "expected KEY=VALUE"),
        (["dtype="], "empty value"),
        (["dtype=a", "dtype=b"], "given twice"),
        (["x={bad"], "neither a YAML scalar nor JSON"),
    ]:
        with pytest.raises(ValueError, match=message) as info:
            parse_engine_args(bad)
        assert "\n" not in str(info.value)


def test_vllm_teacher_checks_and_passes_engine_args(monkeypatch, problems):
    from mentor_data.teachers.vllm_teacher import VLLMStartError
    from tests import fake_vllm

    llm = fake_vllm.install(monkeypatch)
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    kwargs = {"enforce_eager": True, "dtype": "float32", "max_model_len": 4096}
    teacher = make_teacher("vllm", model="m", engine_kwargs=kwargs)
    assert teacher.engine_kwargs == kwargs
    cfg = GenerationConfig(seed=5, temperature=0.0, max_tokens=8)
    rows = run_conversations(teacher, problems[:2], cfg).rows
    (engine,) = llm.instances
    assert engine.model == "m" and engine.kwargs == {"tensor_parallel_size": 1, "seed": 5, **kwargs}
    assert [r["final_answer"] for r in rows] == ["3", "3"]
    assert engine.chats[0]["tools"] == problems[0].offered_tools()
    for bad, message in [
        ({"enforce_eagre": True}, "unknown vLLM engine argument 'enforce_eagre'.*'enforce_eager'"),
        ({"seed": 1}, "'seed' has its own option: use --seed"),
        ({"model": "x"}, "use --model"),
    ]:
        with pytest.raises(ValueError, match=message):
            make_teacher("vllm", model="m", engine_kwargs=bad)
    with pytest.raises(ValueError, match="for the vllm teacher only, not openai"):
        make_teacher("openai", model="m", base_url="http://x/v1", engine_kwargs=kwargs)
    with pytest.raises(ValueError, match="for the vllm teacher only, not solver"):
        make_teacher("solver", engine_kwargs=kwargs)
    # On CPU the KV cache must be sized (vLLM would reserve 92% of the memory); on a GPU not.
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE")
    with pytest.raises(ValueError, match="VLLM_CPU_KVCACHE_SPACE=1"):
        make_teacher("vllm", model="m")
    assert make_teacher("vllm", model="m", engine_kwargs={"kv_cache_memory_bytes": 1 << 30})
    fake_vllm.install(monkeypatch, cpu=False)
    assert make_teacher("vllm", model="m").engine_kwargs == {}
    # An engine that does not start is one line naming the model and the arguments.
    llm.fail = RuntimeError("Engine core initialization failed. See root cause above.\nmore")
    teacher = make_teacher("vllm", model="m", engine_kwargs={"dtype": "float32"})
    with pytest.raises(VLLMStartError, match=r"did not start for m .*'dtype': 'float32'.*above"):
        run_conversations(teacher, problems[:1], cfg)


class _ArrayArguments(FakeOpenAIServer):
    """Sends the first call's arguments as a JSON array, as a hermes-parsed vLLM reply once did
    (`"[17, 23]"`): a call, but not one with named arguments."""

    def answer(self, body, malformed=False):
        reply = super().answer(body, malformed)
        calls = reply["choices"][0]["message"].get("tool_calls")
        if calls and not any(m.get("role") == "tool" for m in body["messages"]):
            calls[0]["function"]["arguments"] = "[17, 23]"
        return reply


def test_openai_arguments_that_decode_to_an_array_are_a_malformed_call(problems):
    with _ArrayArguments(problems[:2]) as server:
        teacher = OpenAITeacher(model="m", base_url=server.base_url)
        rows = run_conversations(teacher, problems[:2], GenerationConfig(max_turns=12, **FAST)).rows
    for row in rows:
        first = row["tool_calls"][0]
        assert first["error"].startswith("malformed_call") and first["arguments"] is None
        call = row["messages"][2]["tool_calls"][0]
        assert call["function"]["arguments"] == {"__raw__": "[17, 23]"}
        observation = next(m for m in row["messages"] if m.get("tool_call_id") == call["id"])
        assert observation["content"].startswith("Error: malformed_call")
        # The conversation goes on: the next turn redoes the step and the answer is right.
        assert row["finish_reason"] == "stop" and row["final_answer"] == row["answer"]
