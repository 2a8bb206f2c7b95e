"""`mentor-data generate`: end to end into the store, resume after kill -9, the CLI."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pyarrow.parquet as pq
import pytest
from datasets import Dataset
from typer.testing import CliRunner

from mentor_data.cli import app
from mentor_data.generate import (
    MAX_FAILURE_STREAK,
    GenerateConfig,
    GenerationAborted,
    generate,
    resume_key,
)
from mentor_data.problems import load_problems
from mentor_data.store import Store, StoreError
from mentor_data.teachers import GenerationConfig, make_teacher
from mentor_data.teachers.openai_teacher import OpenAITeacher
from tests.fake_openai_server import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "schemas" / "trajectory.schema.json").read_text())
VOLATILE = ("created_at", "latency_s")


def comparable(rows):
    """Rows by key, without the columns that differ between two runs of the same work."""
    return {
        (r["problem_id"], r["sample_id"]): {k: v for k, v in r.items() if k not in VOLATILE}
        for r in rows
    }


def test_solver_makes_10000_rows_in_seconds(tmp_path):
    store = Store(tmp_path)
    start = time.perf_counter()
    result = generate(
        GenerateConfig(problems="builtin:all?n=10000", name="arith", progress=False),
        store=store,
        command="test",
    )
    elapsed = time.perf_counter() - start
    # ~4 s on an idle 2-core machine; the bound only catches a per-row cost gone quadratic
    # (benchmarks/bench_generate.py measures speed).
    assert elapsed < 120, f"{elapsed:.1f} s"
    assert result.rows == 10_000 and result.finish_reasons == {"stop": 10_000}
    assert result.version.ref == "arith@v1" and store.keys("arith") == {
        (p.id, 0) for p in load_problems("builtin:all?n=10000")
    }
    manifest = store.manifest("arith@v1")
    lineage = manifest["lineage"]
    assert manifest["rows"] == 10_000 and manifest["command"] == "test"
    assert lineage["teacher"] == {"backend": "solver", "model": None, "base_url": None}
    assert lineage["problems"]["spec"] == "builtin:all?n=10000"
    assert (
        set(lineage["problems"]["families"]) == set(lineage["problems"]["families"])
        and len(lineage["problems"]["families"]) == 11
    )
    assert lineage["sampling"]["max_turns"] == 6 and len(lineage["prompt_hashes"]) == 1
    assert not list((tmp_path / "arith").glob(".draft-*"))  # the draft became the version
    table = store.load_table("arith")
    assert table["final_answer"].to_pylist() == table["answer"].to_pylist()
    picks = random.Random(0).sample(range(10_000), 300)
    for row in Dataset(table).select(picks):  # decodes the JSON columns of these rows only
        jsonschema.validate(row, SCHEMA)


def test_rerun_writes_a_new_version_and_runtime_knobs_keep_the_key(tmp_path):
    store = Store(tmp_path)
    config = GenerateConfig(problems="builtin:clock?n=5", name="c", progress=False)
    generate(config, store=store)
    again = generate(config, store=store)
    assert again.version.ref == "c@v2" and again.resumed_rows == 0
    problems = load_problems("builtin:clock?n=5")
    solver = make_teacher("solver")
    base = resume_key(config, problems, solver)
    runtime = GenerateConfig(
        problems="builtin:clock?n=5",
        name="c",
        shard_rows=7,
        generation=GenerationConfig(concurrency=99, max_retries=0),
    )
    assert resume_key(runtime, problems, solver) == base
    hotter = GenerateConfig(
        problems="builtin:clock?n=5", name="c", generation=GenerationConfig(temperature=1.0)
    )
    assert resume_key(hotter, problems, solver) != base
    assert resume_key(config, problems[:4], solver) != base


def test_problems_without_programs_become_error_rows(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text(
        "\n".join(json.dumps({"id": i, "question": f"{i}+1?", "answer": i + 1}) for i in range(3))
    )
    result = generate(
        GenerateConfig(
            problems=str(path),
            name="mine",
            progress=False,
            generation=GenerationConfig(samples_per_problem=2),
        ),
        store=Store(tmp_path / "data"),
    )
    assert result.rows == 6 and result.finish_reasons == {"error": 6}
    row = next(Store(tmp_path / "data").iter_rows("mine"))
    assert "no reference program" in row["error"] and row["source"] == "mine.jsonl"


def test_a_locked_draft_is_refused(tmp_path):
    import fcntl

    store = Store(tmp_path)
    config = GenerateConfig(problems="builtin:clock?n=3", name="c", progress=False)
    key = resume_key(config, load_problems("builtin:clock?n=3"), make_teacher("solver"))
    (tmp_path / "c").mkdir()
    with open(tmp_path / "c" / f".draft-generate-{key}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        with pytest.raises(StoreError, match="another `mentor-data generate` is writing"):
            generate(config, store=store)
    assert generate(config, store=store).rows == 3


def _draft_shards(data_dir: Path, name: str) -> int:
    return len(list((data_dir / name).glob(".draft-*/shard-*.parquet")))


def test_resume_after_kill_9_equals_an_uninterrupted_run(tmp_path):
    spec, samples = "builtin:all?n=30", 2
    problems = load_problems(spec)
    interrupted, reference = tmp_path / "interrupted", tmp_path / "reference"
    rng = random.Random(1)
    with FakeOpenAIServer(problems, latency_s=0.03) as server:
        cmd = [
            sys.executable,
            "-m",
            "mentor_data.cli",
            "generate",
            "--problems",
            spec,
            "--name",
            "res",
            "--teacher",
            "openai",
            "--model",
            "fake",
            "--base-url",
            server.base_url,
            "--samples-per-problem",
            str(samples),
            "--concurrency",
            "2",
            "--shard-rows",
            "3",
            "--data-dir",
            str(interrupted),
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        kills = 0
        for round_ in range(3):
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            target = 2 + 4 * round_  # shards on disk before this kill (20 in all)
            deadline = time.monotonic() + 60
            while (
                proc.poll() is None
                and _draft_shards(interrupted, "res") < target
                and time.monotonic() < deadline
            ):
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.15))  # anywhere: mid-request, mid-flush, ...
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=30)
        assert kills >= 2
        assert not list((interrupted / "res").glob("v*"))  # nothing committed yet
        final = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert final.returncode == 0, final.stderr
        assert "resumed" in final.stdout and " 0 resumed" not in final.stdout
        # The same work without interruption (in-process, other runtime knobs).
        config = GenerateConfig(
            problems=spec,
            name="res",
            teacher="openai",
            model="fake",
            base_url=server.base_url,
            progress=False,
            generation=GenerationConfig(samples_per_problem=samples, concurrency=8),
        )
        generate(
            config,
            store=Store(reference),
            teacher=OpenAITeacher(model="fake", base_url=server.base_url),
        )
    store, ref_store = Store(interrupted), Store(reference)
    assert store.versions("res") == [1] and not list((interrupted / "res").glob(".draft-*"))
    rows = list(store.iter_rows("res@v1"))
    assert len(rows) == len({(r["problem_id"], r["sample_id"]) for r in rows}) == 60
    expected = comparable(ref_store.iter_rows("res@v1"))
    got = comparable(rows)
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == expected[key], key
    assert all(r["finish_reason"] == "stop" and r["final_answer"] == r["answer"] for r in rows)
    lineage = store.manifest("res@v1")["lineage"]
    assert lineage["resume_key"] == ref_store.manifest("res@v1")["lineage"]["resume_key"]


# -- CLI ---------------------------------------------------------------------------------------
runner = CliRunner()


@pytest.mark.parametrize("command", ["generate", "problems"])
def test_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_cli_generate_with_the_solver(tmp_path):
    result = runner.invoke(
        app,
        [
            "generate",
            "--problems",
            "builtin:held_out?n=12",
            "--name",
            "h",
            "--samples-per-problem",
            "2",
            "--max-turns",
            "6",
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "wrote h@v1" in result.output and "24 new rows" in result.output
    manifest = Store(tmp_path).manifest("h")
    assert manifest["rows"] == 24 and "--samples-per-problem 2" in manifest["command"]
    assert manifest["lineage"]["problems"]["splits"] == {"held_out": 12}


def test_cli_system_prompt_file(tmp_path):
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Use tools. Box the answer.\n")
    result = runner.invoke(
        app,
        [
            "generate",
            "--problems",
            "builtin:tally?n=2",
            "--name",
            "t",
            "--system-prompt",
            str(prompt),
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    row = next(Store(tmp_path).iter_rows("t"))
    assert row["messages"][0] == {"role": "system", "content": "Use tools. Box the answer."}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--problems", "nope/missing.jsonl"], "no such file or folder"),
        (["--problems", "builtin:nofamily"], "unknown built-in family"),
        (["--problems", "builtin:clock", "--teacher", "gpt"], "unknown teacher"),
        (["--problems", "builtin:clock", "--teacher", "openai"], "needs --model"),
        (["--problems", "builtin:clock", "--temperature", "-1"], "temperature"),
        (["--problems", "builtin:clock", "--system-prompt", "missing.txt"], "missing.txt"),
        (["--problems", "builtin:clock", "--extra-body", "[1]"], "must be a JSON object"),
        (["--problems", "builtin:clock", "--extra-body", "{bad"], "not valid JSON"),
    ],
)
def test_cli_bad_input_is_a_clear_error(tmp_path, args, message):
    result = runner.invoke(app, ["generate", *args, "--name", "x", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0
    assert message in result.output
    assert not Store(tmp_path).names()


def test_cli_bad_file_names_the_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": 1, "question": "a?"}\n{"id": 2}\n')
    result = runner.invoke(
        app, ["generate", "--problems", str(path), "--name", "x", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 1 and "line 2: missing field 'question'" in result.output


def test_cli_problems(tmp_path):
    listing = runner.invoke(app, ["problems"])
    assert listing.exit_code == 0 and "interest" in listing.output and "held_out" in listing.output
    preview = runner.invoke(app, ["problems", "builtin:chain?n=5", "-n", "2"])
    lines = preview.output.strip().splitlines()
    assert preview.exit_code == 0 and lines[-1] == "5 problems" and len(lines) == 3
    assert json.loads(lines[0])["family"] == "chain"
    bad = runner.invoke(app, ["problems", str(tmp_path / "none.csv")])
    assert bad.exit_code == 1 and "no such file" in bad.output


# -- a teacher whose requests keep failing -----------------------------------------------------
FAST = {"request_timeout_s": 1.0, "backoff_base_s": 0.01, "backoff_max_s": 0.05}


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Failing(FakeOpenAIServer):
    """Answers 500 to the questions in `broken` (a server that goes down for some requests)."""

    def __init__(self, *args, broken=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.broken, self.asked = set(broken), []

    async def respond(self, method, path, raw):
        question = next(
            (
                m["content"]
                for m in json.loads(raw or b"{}").get("messages", [])
                if m["role"] == "user"
            ),
            None,
        )
        self.asked.append(question)
        if question in self.broken:
            return 500, {"error": {"message": "down"}}, {}
        return await super().respond(method, path, raw)


def test_a_failure_streak_stops_the_run_and_the_resume_retries_only_error_rows(tmp_path):
    problems = load_problems("builtin:clock?n=14")
    store = Store(tmp_path)
    config = GenerateConfig(
        problems="builtin:clock?n=14",
        name="c",
        teacher="openai",
        model="fake",
        progress=False,
        shard_rows=1,
        generation=GenerationConfig(concurrency=1, max_retries=0, **FAST),
    )
    good, bad = problems[:3], problems[3:]
    with _Failing(problems, broken={p.question for p in bad}) as server:
        config.base_url = server.base_url
        with pytest.raises(GenerationAborted, match=f"{MAX_FAILURE_STREAK} requests in a row"):
            generate(config, store=store)
    assert not list((tmp_path / "c").glob("v*"))  # nothing committed
    (draft,) = [d for d in (tmp_path / "c").glob(".draft-generate-*") if d.is_dir()]
    kept = [r for f in sorted(draft.glob("shard-*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert MAX_FAILURE_STREAK <= sum(r["finish_reason"] == "error" for r in kept) < len(bad)
    assert {r["problem_id"] for r in kept if r["finish_reason"] == "stop"} == {p.id for p in good}
    with _Failing(problems) as server:  # the server is fixed
        config.base_url = server.base_url
        result = generate(config, store=store)
    assert result.resumed_rows == len(good) and result.new_rows == len(bad)
    assert {p.question for p in good}.isdisjoint(server.asked)  # good rows not regenerated
    rows = list(store.iter_rows("c@v1"))
    assert len(rows) == 14 and all(r["finish_reason"] == "stop" for r in rows)
    assert not draft.exists()


def test_cli_wrong_base_url_fails_and_commits_nothing(tmp_path):
    base_url = f"http://127.0.0.1:{_closed_port()}/v1"
    args = ["generate", "--problems", "builtin:clock?n=3", "--name", "x", "--teacher", "openai"]
    args += ["--model", "m", "--base-url", base_url, "--max-retries", "1"]
    result = runner.invoke(app, [*args, "--data-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "all 3 requests failed" in result.output and "connection" in result.output
    assert (
        f"{base_url}/chat/completions" in result.output and "run the same command" in result.output
    )
    assert not list((tmp_path / "x").glob("v*")) and list((tmp_path / "x").glob(".draft-*"))


def test_cli_summary_and_lineage_name_retries_and_the_served_model(tmp_path):
    class Served(FakeOpenAIServer):
        def answer(self, body, malformed=False):
            self.bodies = [*getattr(self, "bodies", []), body]
            return {**super().answer(body, malformed), "model": "org/real-7b"}

    problems = load_problems("builtin:clock?n=6")
    with Served(problems, fault_rate=0.3, fault_kinds=("429",), retry_after_s=0.01) as server:
        args = ["generate", "--problems", "builtin:clock?n=6", "--name", "s", "--teacher"]
        args += ["openai", "--model", "alias", "--base-url", server.base_url]
        args += ["--max-retries", "20", "--extra-body", '{"tool_choice": "required"}']
        result = runner.invoke(app, [*args, "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    retries = server.stats["fault_429"]
    assert retries and f"{retries} retries (status 429: {retries})" in result.output
    assert "served by: org/real-7b (requested alias)" in result.output
    assert all(b["tool_choice"] == "required" for b in server.bodies)
    lineage = Store(tmp_path).manifest("s")["lineage"]
    assert lineage["teacher"]["model"] == "alias"
    assert lineage["teacher"]["served_model"] == "org/real-7b"
    assert lineage["requests"]["retries_by_reason"] == {"status 429": retries}
    assert lineage["sampling"]["extra_body"] == {"tool_choice": "required"}
    row = next(Store(tmp_path).iter_rows("s"))
    assert row["metadata"]["served_model"] == "org/real-7b"
    assert row["teacher"]["model"] == "alias"


# -- vllm engine arguments (a stand-in vllm module; the real engine: tests/test_vllm.py) -------
def test_cli_engine_args_reach_the_vllm_teacher_and_the_lineage(tmp_path, monkeypatch):
    from tests import fake_vllm

    llm = fake_vllm.install(monkeypatch)
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    args = ["generate", "--problems", "builtin:clock?n=3", "--name", "v", "--teacher", "vllm"]
    args += ["--model", "tiny", "--engine-arg", "enforce_eager=true", "--engine-arg"]
    args += ["dtype=float32", "--engine-arg", "max_model_len=4096", "--seed", "3"]
    result = runner.invoke(app, [*args, "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    engine_args = {"enforce_eager": True, "dtype": "float32", "max_model_len": 4096}
    (engine,) = llm.instances
    assert engine.kwargs == {"tensor_parallel_size": 1, "seed": 3, **engine_args}
    lineage = Store(tmp_path).manifest("v")["lineage"]
    assert lineage["teacher"] == {
        "backend": "vllm",
        "model": "tiny",
        "base_url": None,
        "engine_kwargs": engine_args,
    }
    rows = list(Store(tmp_path).iter_rows("v"))
    assert len(rows) == 3 and all(r["teacher"]["backend"] == "vllm" for r in rows)
    # Engine arguments decide the output (dtype, context length): another set, another draft.
    problems = load_problems("builtin:clock?n=3")
    config = GenerateConfig(
        problems="builtin:clock?n=3",
        name="v",
        teacher="vllm",
        model="tiny",
        generation=GenerationConfig(seed=3),
    )
    keys = {
        resume_key(config, problems, make_teacher("vllm", model="tiny", engine_kwargs=kwargs))
        for kwargs in (None, engine_args, {"dtype": "bfloat16"})
    }
    assert len(keys) == 3 and lineage["resume_key"] in keys


@pytest.mark.parametrize(
    "args, message",
    [
        (["--engine-arg", "enforce_eager"], "--engine-arg 'enforce_eager': expected KEY=VALUE"),
        (["--engine-arg", "dtype="], "empty value"),
        (["--engine-arg", "dtype=float32"], "is for --teacher vllm only, not solver"),
        (["--teacher", "vllm", "--model", "m", "--engine-arg", "seed=1"], "use --seed"),
        (
            ["--teacher", "vllm", "--model", "m", "--engine-arg", "enforce-eagre=1"],
            "unknown vLLM engine argument 'enforce_eagre' (--engine-arg): did you mean "
            "'enforce_eager'?",
        ),
    ],
)
def test_cli_bad_engine_args_are_one_line_errors(tmp_path, monkeypatch, args, message):
    from tests import fake_vllm

    fake_vllm.install(monkeypatch)
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    base = ["generate", "--problems", "builtin:clock?n=2", "--name", "x"]
    result = runner.invoke(app, [*base, *args, "--data-dir", str(tmp_path)])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit)
    assert message in result.output and "Traceback" not in result.output
    assert not Store(tmp_path).names()


def test_cli_vllm_teacher_without_vllm_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail
    args = ["generate", "--problems", "builtin:clock?n=2", "--name", "x", "--teacher", "vllm"]
    result = runner.invoke(app, [*args, "--model", "m", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "make setup-vllm" in result.output
