"""Containment tests of the `python` tool's sandbox: hostile code is stopped or has no effect.

Every hostile run must end with a clear tool error (or a harmless result), and the host process
and later calls must be unaffected (`pool` checks a trivial call after every test). A protection
that this machine cannot provide (see `sandbox_capabilities()`) skips the tests that rely on it,
with the protection's name as the reason.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from mentor_data.tools import ToolRegistry, execute, get_registry
from mentor_data.tools.python_tool import NO_OUTPUT, PYTHON_SCHEMA, make_python_tool, observation
from mentor_data.tools.registry import Tool
from mentor_data.tools.sandbox import (
    PROTECTIONS,
    UID_BASE,
    SandboxLimits,
    SandboxPool,
    SandboxResult,
    _Zygote,
)

pytestmark = pytest.mark.skipif(not Path("/proc/self/mountinfo").exists(), reason="Linux only")

REPO = Path(__file__).resolve().parents[1]
# Small limits keep the suite fast: a runaway loop costs one CPU second.
LIMITS = SandboxLimits(cpu_s=1, wall_s=3, memory_mb=128, file_mb=1, output_bytes=4096)


@pytest.fixture(scope="module")
def shared_pool():
    with SandboxPool(size=2, limits=LIMITS) as pool:
        yield pool


@pytest.fixture
def pool(shared_pool):
    """The module's pool; after the test, a trivial call must still work."""
    yield shared_pool
    assert shared_pool.run("print(1 + 1)").stdout == "2\n"


@pytest.fixture(scope="module")
def caps(shared_pool) -> dict[str, bool]:
    return shared_pool.run("pass").protections


def requires(caps: dict[str, bool], *names: str) -> None:
    missing = [name for name in names if not caps.get(name)]
    if missing:
        pytest.skip(f"not enforced on this machine: {', '.join(missing)}")


def call(pool: SandboxPool, code: str, limits: SandboxLimits | None = None):
    """Run through `execute()`, as generation, verification and training do."""
    registry = ToolRegistry([Tool("python", make_python_tool(pool, limits), PYTHON_SCHEMA)])
    return execute("python", {"code": code}, registry)


def leftover_processes(timeout: float = 2.0) -> dict[int, int]:
    """Sandbox uids with more than one process (each worker may hold one prepared child)."""
    deadline = time.monotonic() + timeout
    while True:
        per_uid: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            try:
                uid = entry.stat().st_uid if entry.name.isdigit() else 0
            except OSError:
                continue
            if uid >= UID_BASE:
                per_uid[uid] = per_uid.get(uid, 0) + 1
        crowded = {uid: n for uid, n in per_uid.items() if n > 1}
        if not crowded or time.monotonic() > deadline:
            return crowded
        time.sleep(0.05)


# -- the tool ----------------------------------------------------------------------------------
def test_runs_code_and_returns_canonical_stdout(pool):
    assert call(pool, "print(17 * 23)").output == "391"
    assert call(pool, "print('a')\nprint('b')\n\n").output == "a\nb"
    assert call(pool, "x = 1").output == NO_OUTPUT
    assert call(pool, "import math\nprint(math.comb(10, 3))").output == "120"


def test_same_code_same_output_across_pools(pool):
    code = "print({'pear', 'apple', 'fig', 'kiwi'}, hash('x'))\nimport os\nprint(os.getcwd())"
    first = call(pool, code).output
    with SandboxPool(size=1, limits=LIMITS) as other:
        assert call(other, code).output == first
    assert call(pool, code).output == first


def test_errors_are_clear_tool_errors(pool):
    result = call(pool, "x = 1\n1 / 0")
    assert result.code == "runtime_error"
    assert result.error.startswith("the code failed:")
    assert 'File "<python>", line 2' in result.error and "ZeroDivisionError" in result.error
    assert "sandbox" not in result.error  # the runner's own frames are not shown
    syntax = call(pool, "print(")
    assert syntax.code == "runtime_error" and "SyntaxError" in syntax.error
    exited = call(pool, "print('partial')\nimport sys\nsys.exit(3)")
    assert exited.code == "runtime_error" and "status 3" in exited.error
    assert "partial" in exited.error
    assert call(pool, "import sys\nsys.exit(0)").ok
    assert call(pool, "import numpy_does_not_exist").code == "runtime_error"


def test_registry_names_and_schema():
    from transformers.utils import get_json_schema

    from mentor_data.tools.python_tool import python

    assert get_registry("python").names() == ["python"]
    combined = get_registry("arithmetic+python")
    assert combined.names()[-1] == "python" and len(combined) == 13
    assert get_registry("arithmetic").names() == get_registry("arithmetic").names()
    with pytest.raises(ValueError, match="unknown tool registry 'bogus'"):
        get_registry("arithmetic+bogus")
    with pytest.raises(ValueError, match="twice"):
        get_registry("python+python")
    schema = get_json_schema(python)
    schema["function"].pop("return")
    assert schema == PYTHON_SCHEMA == combined.get("python").schema
    (wrapper,) = get_registry("python").trl_tools()
    assert get_json_schema(wrapper) == PYTHON_SCHEMA


def test_default_registry_runs_through_execute():
    result = execute("python", {"code": "print(2 ** 100)"}, get_registry("python"))
    assert result.output == str(2**100)
    assert execute("python", {"code": 5}, get_registry("python")).code == "invalid_arguments"
    assert execute("python", {}, get_registry("python")).code == "invalid_arguments"


def test_long_code_is_refused_before_running(pool):
    result = call(pool, "#" * 200, SandboxLimits(code_chars=100))
    assert result.code == "too_large"


def test_observation_bounds_error_text():
    result = SandboxResult("error", stdout="o" * 10_000, stderr="e" * 10_000, exit_code=1)
    with pytest.raises(Exception) as info:
        observation(result, LIMITS)
    assert len(str(info.value)) < 3_200 and info.value.code == "runtime_error"


# -- containment ---------------------------------------------------------------------------------
def test_infinite_loop_hits_cpu_limit(pool):
    started = time.monotonic()
    result = call(pool, "while True:\n    pass")
    assert result.code == "timeout" and "CPU time" in result.error
    assert time.monotonic() - started < 2.9


def test_cpu_limit_sends_sigxcpu_before_sigkill(pool):
    # soft < hard: the kernel sends SIGXCPU at the limit, SIGKILL only a second later.
    result = pool.run("import resource\nprint(resource.getrlimit(resource.RLIMIT_CPU))")
    assert result.stdout == "(1, 2)\n"


def test_infinite_loop_with_small_cpu_limit_is_a_timeout(pool):
    limits = SandboxLimits(cpu_s=1, wall_s=8, memory_mb=128)
    result = pool.run("while True:\n    pass", limits)
    assert result.status == "cpu_limit", (result.signal, result.cpu_s)
    assert call(pool, "while True:\n    pass", limits).code == "timeout"
    # Code that ignores SIGXCPU is killed at the hard limit: still a timeout, not a crash.
    ignoring = "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass"
    result = pool.run(ignoring, limits)
    assert result.status == "cpu_limit", (result.signal, result.cpu_s)
    assert call(pool, ignoring, limits).code == "timeout"


def _outcome(sig: int | None = None, cpu: float = 0.0, cpu_s: float = 5.0, exit_code=None):
    if sig is not None:
        end = {"status": sig, "cpu": cpu}  # a wait status: killed by `sig`
    elif exit_code is not None:
        end = {"exit_code": exit_code, "cpu": cpu}
    else:
        end = {}
    limits = {"cpu_s": cpu_s}
    stderr = b"MemoryError\n" if exit_code == 1 and cpu == 0.25 else b""
    return _Zygote._outcome(None, end, b"", stderr, 0.1, {}, limits)


def test_cpu_limit_classification_does_not_depend_on_load():
    # SIGXCPU is the kernel's CPU-limit signal: a timeout whatever rusage reads.
    assert _outcome(signal.SIGXCPU, cpu=4.9)["status"] == "cpu_limit"
    assert _outcome(signal.SIGXCPU, cpu=0.0)["status"] == "cpu_limit"
    # SIGKILL with CPU time near the limit (rusage reads a little short on a busy machine).
    assert _outcome(signal.SIGKILL, cpu=4.90)["status"] == "cpu_limit"
    assert _outcome(signal.SIGKILL, cpu=5.0)["status"] == "cpu_limit"
    assert _outcome(signal.SIGKILL, cpu=6.0)["status"] == "cpu_limit"
    assert _outcome(signal.SIGKILL, cpu=0.9, cpu_s=1)["status"] == "cpu_limit"
    # Every other classification is unchanged.
    killed = _outcome(signal.SIGKILL, cpu=0.5)
    assert (killed["status"], killed["detail"]) == ("killed", "SIGKILL")
    segv = _outcome(signal.SIGSEGV, cpu=5.0)
    assert (segv["status"], segv["detail"]) == ("killed", "SIGSEGV")
    assert _outcome(exit_code=0)["status"] == "ok"
    assert _outcome(exit_code=1)["status"] == "error"
    assert _outcome(exit_code=1, cpu=0.25)["status"] == "memory_limit"
    assert _outcome()["status"] == "sandbox_error"
    stopped = _Zygote._outcome("timeout", {"status": signal.SIGKILL}, b"", b"", 1, {}, {})
    assert stopped["status"] == "timeout"


def test_sleeping_code_hits_wall_clock_limit(pool):
    result = call(pool, "import time\nprint('start')\ntime.sleep(60)", SandboxLimits(wall_s=1))
    assert result.code == "timeout" and "1-second limit" in result.error


def test_fork_bomb_is_refused(pool, caps):
    requires(caps, "process_limit")
    result = call(pool, "import os\nwhile True:\n    os.fork()")
    assert result.code == "runtime_error" and "BlockingIOError" in result.error


def test_fork_bomb_with_processes_allowed_is_killed_entirely(pool, caps):
    requires(caps, "process_limit")
    limits = SandboxLimits(cpu_s=1, wall_s=1.5, memory_mb=128, processes=8)
    code = "import os, time\nfor _ in range(50):\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)\ntime.sleep(60)"  # noqa: E501
    result = call(pool, code, limits)
    assert result.code == "timeout"
    assert leftover_processes() == {}


def test_shell_and_subprocess_are_stopped(pool, caps):
    requires(caps, "process_limit")
    marker = f"/tmp/shell-{uuid.uuid4().hex}"
    result = call(pool, f"import os\nprint(os.system('touch {marker}'))")
    assert result.ok and result.output != "0"  # os.system could not start a shell
    assert not os.path.exists(marker)
    result = call(pool, "import subprocess\nsubprocess.run(['sh', '-c', 'echo pw''ned'])")
    assert result.code == "runtime_error" and "pwned" not in result.error
    assert "BlockingIOError" in result.error or "PermissionError" in result.error
    result = call(pool, "import threading\nthreading.Thread(target=print).start()")
    assert result.code == "runtime_error" and "thread" in result.error


def test_exec_is_blocked(pool, caps):
    requires(caps, "exec_blocked")
    result = call(pool, "import os\nos.execv('/bin/sh', ['sh', '-c', 'echo pw''ned'])")
    assert result.code == "runtime_error" and "PermissionError" in result.error
    assert "pwned" not in result.error


def test_memory_bomb_hits_memory_limit(pool):
    result = call(pool, "x = bytearray(1 << 30)")
    assert result.code == "memory_limit" and "128 MB" in result.error
    result = call(pool, "chunks = []\nwhile True:\n    chunks.append(bytearray(1 << 20))")
    assert result.code == "memory_limit"


def test_large_output_is_stopped_and_bounded(pool):
    started = time.monotonic()
    result = call(pool, "print('x' * 10**7)")
    assert result.code == "output_limit" and "4096 bytes" in result.error
    assert len(result.error) < 800
    spam = call(pool, "while True:\n    print('spam')")
    assert spam.code == "output_limit"
    assert time.monotonic() - started < 1.0  # stopped at the bound, not at the CPU limit
    stderr_flood = call(pool, "import sys\nfor _ in range(10**5):\n    sys.stderr.write('e' * 100)")
    assert stderr_flood.ok and stderr_flood.output == NO_OUTPUT


def test_no_connection_to_localhost(pool, caps):
    requires(caps, "network_namespace")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.3)
        port = server.getsockname()[1]
        code = (
            "import socket\ns = socket.socket()\ns.settimeout(1)\n"
            f"s.connect(('127.0.0.1', {port}))\nprint('connected')"
        )
        result = call(pool, code)
        assert result.code == "runtime_error" and "connected" not in result.error
        assert "PermissionError" in result.error or "Network is unreachable" in result.error
        with pytest.raises(TimeoutError):
            server.accept()  # nothing ever reached the listening socket


def test_no_connection_to_another_address(pool, caps):
    requires(caps, "network_namespace")
    # TEST-NET-1 (RFC 5737), a closed port and a short timeout: no traffic leaves even if the
    # sandbox were open, and the call must fail at once rather than time out.
    code = (
        "import socket\ns = socket.socket()\ns.settimeout(0.5)\n"
        "s.connect(('192.0.2.1', 9))\nprint('connected')"
    )
    started = time.monotonic()
    result = call(pool, code)
    assert result.code == "runtime_error" and "connected" not in result.error
    assert time.monotonic() - started < 0.5
    dns = call(pool, "import socket\nprint(socket.getaddrinfo('example.com', 80))")
    assert dns.code == "runtime_error"


def test_socket_filter_blocks_sockets(pool, caps):
    requires(caps, "socket_filter")
    result = call(pool, "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM)")
    assert result.code == "runtime_error" and "PermissionError" in result.error


def test_writes_outside_the_work_directory_have_no_effect(pool, caps):
    requires(caps, "readonly_filesystem", "private_tmp")
    name = f"escape-{uuid.uuid4().hex}"
    targets = [f"/tmp/{name}", f"/var/tmp/{name}", f"/dev/shm/{name}", str(REPO / name)]
    code = "\n".join(
        [
            "import os",
            f"for path in {targets!r}:",
            "    try:",
            "        with open(path, 'w') as f:",
            "            f.write('escaped')",
            "        print('wrote', path)",
            "    except OSError as exc:",
            "        print('refused', path, type(exc).__name__)",
            "with open('local.txt', 'w') as f:",
            "    f.write('inside')",
            "print(open('local.txt').read(), os.getcwd())",
        ]
    )
    result = call(pool, code)
    assert result.ok
    assert "inside /tmp" in result.output
    for target in targets:
        assert not os.path.exists(target), target
    # Only the private /tmp (the work directory) was writable, and it is fresh on each call.
    assert result.output.count("wrote") == 1 and f"wrote /tmp/{name}" in result.output
    again = call(pool, f"import os\nprint(sorted(os.listdir('.')), os.path.exists('/tmp/{name}'))")
    assert again.output == "[] False"


def test_file_size_limit(pool):
    result = call(pool, "with open('big', 'wb') as f:\n    f.write(b'x' * (4 << 20))")
    assert result.code == "runtime_error" and "File too large" in result.error


def test_parent_environment_is_invisible(monkeypatch, caps):
    secret = f"sk-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("HF_TOKEN", secret)
    code = "\n".join(
        [
            "import os",
            "print(sorted(os.environ))",
            f"for pid in ['self', str(os.getppid()), '{os.getpid()}'] + os.listdir('/proc'):",
            "    for name in ('environ', 'cmdline'):",
            "        try:",
            "            data = open(f'/proc/{pid}/{name}', 'rb').read()",
            "        except (OSError, ValueError):",
            "            continue",
            f"        if b'{secret}' in data:",
            "            print('LEAK', pid, name)",
        ]
    )
    # A pool started after the secrets were set: its workers must not inherit them.
    with SandboxPool(size=1, limits=LIMITS) as fresh:
        result = call(fresh, code)
    assert result.ok, result.error
    assert result.output == "['HOME', 'LANG', 'PATH']"
    assert "LEAK" not in result.output


def test_host_processes_cannot_be_signalled(pool, caps):
    requires(caps, "unprivileged")
    code = f"import os, signal\nos.kill({os.getpid()}, signal.SIGKILL)"
    result = call(pool, code)
    assert result.code == "runtime_error"
    assert "ProcessLookupError" in result.error or "PermissionError" in result.error
    code = "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass"
    assert call(pool, code).ok  # every process it may signal: none but its own


def test_capabilities_report_every_protection(caps):
    assert set(caps) == set(PROTECTIONS)
    assert caps["resource_limits"] and caps["scrubbed_environment"] and caps["unprivileged"]


# -- the pool ------------------------------------------------------------------------------------
def test_pool_serves_threads_concurrently(pool):
    results: list[str] = []

    def worker(i: int) -> None:
        results.append(pool.run(f"print({i} * 2)").stdout)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == sorted(f"{i * 2}\n" for i in range(6))


def test_pool_replaces_a_dead_worker():
    with SandboxPool(size=1, limits=LIMITS) as pool:
        assert pool.run("print(1)").ok
        (worker,) = pool._all
        worker.kill()
        assert pool.run("print(2)").status == "sandbox_error"
        assert pool.run("print(3)").stdout == "3\n"


def test_limits_are_validated():
    with pytest.raises(ValueError, match="cpu_s"):
        SandboxLimits(cpu_s=0)
    with pytest.raises(ValueError, match="memory_mb"):
        SandboxLimits(memory_mb=8)
    with pytest.raises(ValueError, match="wall_s"):
        SandboxLimits(wall_s=float("inf"))


# -- verify re-executes python calls -------------------------------------------------------------
def python_row(code: str, output: str | None, error: str | None = None) -> dict:
    """A trajectory row with one `python` call, recorded as the teacher loop records it."""
    from tests.conftest import sample_row

    row = sample_row()
    call_args = {"code": code}
    row["messages"][1]["tool_calls"][0]["function"] = {"name": "python", "arguments": call_args}
    row["messages"][2].update(name="python", content=output or f"Error: {error}")
    row["tools"] = [PYTHON_SCHEMA]
    row["tool_calls"] = [
        {
            "turn": 0,
            "id": "call_0",
            "name": "python",
            "arguments": call_args,
            "output": output,
            "error": error and f"runtime_error: {error}",
        }
    ]
    return row


def test_verify_re_executes_python_calls():
    from mentor_data.verify import verify_row

    registry = get_registry("arithmetic+python")
    code = "print(sum(x * x for x in {1, 2}) - 2)"
    assert verify_row(python_row(code, "3")).reason == "ok"
    tampered = verify_row(python_row(code, "4"))
    assert tampered.reason == "tool_output_mismatch"
    error = execute("python", {"code": "1 / 0"}, registry).error
    assert verify_row(python_row("1 / 0", None, error)).reason == "ok"
    claimed = verify_row(python_row("1 / 0", "0.5"))
    assert claimed.reason == "tool_output_mismatch"


def test_verify_dataset_re_executes_python_calls(tmp_path):
    """`mentor-data verify` re-executes python calls in its worker processes too: a row whose
    `print(1 + 2)` is recorded as "4" is rejected, not passed as "not re-executed"."""
    from mentor_data.store import Store
    from mentor_data.verify import VerifyConfig, verify_dataset

    store = Store(tmp_path / "data")
    rows = [python_row("print(1 + 2)", "3"), python_row("print(1 + 2)", "4")]
    for i, row in enumerate(rows):
        row["problem_id"], row["sample_id"] = f"p{i}", 0
    store.write_version("py", rows)
    summary = verify_dataset(
        "py@v1", store=store, config=VerifyConfig(keep="all", workers=2, chunk_rows=1)
    )
    assert summary.reasons["ok"] == 1 and summary.reasons["tool_output_mismatch"] == 1
