"""Run untrusted Python in a separate, limited process: the sandbox behind the `python` tool.

Model-written code never runs in the calling process. `SandboxPool.run(code)` hands it to a warm
worker (a "zygote": a bare interpreter started with `-s -S -P` and an environment of four
variables) that has already cloned a fully prepared, single-use sandbox child. That child runs
the code and is thrown away; the zygote then prepares the next one while the caller gets its
result. A call therefore costs a pipe write and the code itself, not an interpreter start-up.

What the child applies before it reads the code (`docs/security.md` says what each guarantees):

1. namespaces, created by the `clone` that starts it: network (no interface but a loopback
   that is down), PID (the child is init of its own namespace: when it exits the kernel kills
   every process it left behind), mount, IPC and UTS; as a non-root user a new user namespace
   too, where the kernel allows one.
2. mounts, in its private mount namespace: every writable mount is remounted read-only, a fresh
   `/proc` shows only the sandbox's processes, and a small tmpfs on `/tmp` is the working
   directory (gone with the namespace). Without a mount namespace a host temporary directory is
   used and removed after the call.
3. resource limits: CPU time (`RLIMIT_CPU`), address space (`RLIMIT_AS`), file size
   (`RLIMIT_FSIZE`), processes (`RLIMIT_NPROC`, default 1: no fork, no thread, no shell), open
   files, no core dumps. The zygote adds the wall-clock limit and bounds stdout and stderr.
4. privileges: as root, the child switches to a uid of its own (`UID_BASE` + the zygote's pid:
   no other process shares it, so `RLIMIT_NPROC` counts only the sandbox and a leftover process
   can be swept by uid); in a user namespace it drops all capabilities. Then
   `PR_SET_NO_NEW_PRIVS`.
5. a seccomp filter (x86_64 and aarch64): `socket`, `execve`, `execveat`, `io_uring_setup`,
   `ptrace` and `process_vm_readv/writev` fail with EPERM, so there is no network even where
   no network namespace can be made, and no program can be executed.
6. the environment is `PATH`, `LANG` and `HOME` (the working directory); stdin is `/dev/null`;
   no file descriptor of the zygote or the host is open.

Each step that cannot be applied is reported, never silently skipped: every `SandboxResult`
carries the `protections` that were in force, and `sandbox_capabilities()` reports them for the
default pool. A sandbox that would run as root in the host's user namespace is refused.

The same code gives the same output on every call (verify re-executes calls): the hash seed is
fixed (`PYTHONHASHSEED=0` in the zygote, inherited by the fork), the working directory is `/tmp`
(with a mount namespace), and the traceback of an error shows only the model's own frames.
"""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import json
import logging
import math
import os
import queue
import re
import resource
import selectors
import shutil
import signal
import stat
import struct
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

UID_BASE = 2_000_000_000
"""As root, a sandbox runs as uid `UID_BASE + <its zygote's pid>`: unique while the zygote lives."""
FALLBACK_UID = 65534
"""`nobody`: used where a uid of its own cannot be set (a host with a narrow uid map)."""

STATUSES = (
    "ok",
    "error",
    "timeout",
    "cpu_limit",
    "memory_limit",
    "output_limit",
    "killed",
    "code_too_long",
    "sandbox_error",
)
"""What happened to a run: `ok` (exit status 0); `error` (an exception or a non-zero exit);
`timeout` (wall clock); `cpu_limit`; `memory_limit` (a `MemoryError`); `output_limit` (stdout
over the bound: the process is stopped at once); `killed` (by another signal, e.g. a
segmentation fault); `code_too_long`; `sandbox_error` (the sandbox itself failed)."""

PROTECTIONS = (
    "network_namespace",
    "socket_filter",
    "pid_namespace",
    "mount_namespace",
    "readonly_filesystem",
    "private_tmp",
    "unprivileged",
    "process_limit",
    "no_new_privs",
    "exec_blocked",
    "resource_limits",
    "scrubbed_environment",
)
"""The protections a sandbox reports (`SandboxResult.protections`, `sandbox_capabilities()`)."""

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUTS = 0x04000000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_NOATIME, _MS_NODIRATIME, _MS_BIND = 32, 1024, 2048, 4096
_MS_REC, _MS_PRIVATE, _MS_RELATIME, _MS_STRICTATIME = 1 << 14, 1 << 18, 1 << 21, 1 << 24
_MOUNT_FLAGS = {
    "ro": _MS_RDONLY,
    "nosuid": _MS_NOSUID,
    "nodev": _MS_NODEV,
    "noexec": _MS_NOEXEC,
    "noatime": _MS_NOATIME,
    "nodiratime": _MS_NODIRATIME,
    "relatime": _MS_RELATIME,
    "strictatime": _MS_STRICTATIME,
}
_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
# syscall numbers denied by the filter, per architecture (audit arch, numbers, x32 ABI bit).
_SECCOMP_ARCHES = {
    "x86_64": (0xC000003E, (41, 59, 322, 425, 101, 310, 311), True),
    "aarch64": (0xC00000B7, (198, 221, 281, 425, 117, 270, 271), False),
}
_STATUS_FD = 3  # the child reports to the zygote on this descriptor
_CODE_FD = 4  # and reads the code from this one
_CLONE_SYSCALL = {"x86_64": 56, "aarch64": 220}
_SETUP_FAILED = 120  # exit status of a child whose setup failed (its reason is on _STATUS_FD)
_MAX_STDERR = 4096  # bytes of stderr kept (the tail: the exception is at the end)
_GRACE_S = 1.0  # after the end or a kill: how long stragglers may keep the pipes open
_CPU_HARD_EXTRA_S = 1  # hard RLIMIT_CPU = soft + this: SIGXCPU first, SIGKILL a second later
# A SIGKILL after at least this share of the CPU limit is the hard limit (rusage can read a
# little short on a busy machine): a SIGKILL from the hard limit comes after soft + 1 s.
_CPU_KILL_SHARE = 0.9
_ARM_TIMEOUT_S = 10.0
_FILENAME = "<python>"
# Imported once in the zygote, so a call that uses them does not pay for the import.
_PRELOAD = (
    "bisect",
    "cmath",
    "collections",
    "datetime",
    "decimal",
    "fractions",
    "functools",
    "heapq",
    "itertools",
    "json",
    "math",
    "operator",
    "re",
    "statistics",
    "string",
)
_PATH = "/usr/local/bin:/usr/bin:/bin"
_LANG = "C.UTF-8"


@dataclass(frozen=True)
class SandboxLimits:
    """The limits of one run.

    Args:
        cpu_s (`float`, *optional*, defaults to `5.0`):
            CPU seconds (`RLIMIT_CPU`, rounded up to a whole second; it also counts the few
            milliseconds of the sandbox's own setup). The kernel sends SIGXCPU at the limit and
            SIGKILL a second later (code that ignores SIGXCPU); both are `cpu_limit`.
        wall_s (`float`, *optional*, defaults to `10.0`):
            Wall-clock seconds from handing over the code (sleeping code is stopped here).
        memory_mb (`int`, *optional*, defaults to `512`):
            Address space in MiB (`RLIMIT_AS`); an allocation beyond it raises `MemoryError`.
        file_mb (`int`, *optional*, defaults to `16`):
            Largest file the code may write, in MiB (`RLIMIT_FSIZE`); also the size of `/tmp`.
        processes (`int`, *optional*, defaults to `1`):
            `RLIMIT_NPROC` for the sandbox's own uid: 1 allows no fork and no thread.
        open_files (`int`, *optional*, defaults to `64`):
            `RLIMIT_NOFILE`.
        output_bytes (`int`, *optional*, defaults to `8192`):
            Bytes of stdout kept; printing more stops the process (`output_limit`).
        code_chars (`int`, *optional*, defaults to `100000`):
            Longest code accepted.
    """

    cpu_s: float = 5.0
    wall_s: float = 10.0
    memory_mb: int = 512
    file_mb: int = 16
    processes: int = 1
    open_files: int = 64
    output_bytes: int = 8192
    code_chars: int = 100_000

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name}={value!r}: must be a positive number")
            if not math.isfinite(value):
                raise ValueError(f"{name}={value!r}: must be finite")
        if self.memory_mb < 32:
            raise ValueError(f"memory_mb={self.memory_mb}: an interpreter needs at least 32")


@dataclass(frozen=True)
class SandboxResult:
    """The outcome of one run.

    Args:
        status (`str`): One of `STATUSES`.
        stdout (`str`): What the code printed (UTF-8, invalid bytes replaced), at most
            `output_bytes` bytes.
        stderr (`str`): The last 4 KiB of its stderr.
        exit_code (`int` or `None`): Its exit status, when it exited.
        signal (`int` or `None`): The signal that ended it, when one did.
        wall_s (`float`): Seconds from handing over the code to the end of the run.
        cpu_s (`float`): CPU seconds the sandbox process used (when known).
        protections (`dict[str, bool]`): Which of `PROTECTIONS` were in force.
        detail (`str` or `None`): Why, for `sandbox_error` and `killed`.
    """

    status: str
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    signal: int | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    protections: dict[str, bool] = field(default_factory=dict)
    detail: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the code ran to the end with exit status 0."""
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# -- host side: workers and the pool -----------------------------------------------------------
def _zygote_env() -> dict[str, str]:
    # Four variables and nothing else: the host's keys and tokens never reach the zygote, whose
    # memory every sandbox child inherits. -E/-I are not used because they would ignore
    # PYTHONHASHSEED, which makes set and dict order the same on every call.
    return {"PATH": _PATH, "LANG": _LANG, "HOME": "/", "PYTHONHASHSEED": "0"}


def _zygote_command(python: str, site_packages: bool) -> list[str]:
    flags = ["-s", "-B"] + ([] if site_packages else ["-S"])
    if sys.version_info >= (3, 11):
        flags.append("-P")  # the script's folder (mentor_data/tools) must not be importable
    return [python, *flags, os.path.abspath(__file__), "--zygote"]


class _Worker:
    """One zygote process and the pipe protocol to it (one JSON line each way per call)."""

    def __init__(self, python: str, site_packages: bool):
        import subprocess

        self.proc = subprocess.Popen(
            _zygote_command(python, site_packages),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_zygote_env(),
            cwd="/",
            close_fds=True,
            start_new_session=True,  # a Ctrl-C in the host's terminal is the host's alone
        )
        self._buffer = b""
        self.ready = False

    def _read_line(self, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the sandbox worker did not answer in time")
            with selectors.DefaultSelector() as sel:
                sel.register(fd, selectors.EVENT_READ)
                if not sel.select(left):
                    continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise EOFError("the sandbox worker exited")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def call(self, code: str, limits: SandboxLimits) -> dict[str, Any]:
        deadline = time.monotonic() + _ARM_TIMEOUT_S + limits.wall_s + 2 * _GRACE_S + 5.0
        if not self.ready:
            hello = json.loads(self._read_line(deadline))
            if not hello.get("ready"):
                raise RuntimeError(f"the sandbox worker failed to start: {hello}")
            self.ready = True
        request = json.dumps({"code": code, "limits": asdict(limits)}) + "\n"
        self.proc.stdin.write(request.encode("ascii"))
        self.proc.stdin.flush()
        return json.loads(self._read_line(deadline))

    def close(self, timeout: float = 2.0) -> None:
        try:
            self.proc.stdin.close()  # EOF: the zygote exits after its current call
            self.proc.wait(timeout)
        except Exception:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:  # not reaped: its pid (and group) cannot be someone else's
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            self.proc.wait(2.0)
        except Exception:
            logger.warning("sandbox worker %d did not exit after SIGKILL", self.proc.pid)

    def forget(self) -> None:
        """In a forked child: drop this worker's pipes without touching the parent's process."""
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()  # the file object, so nothing closes the fd number again later
            except OSError:
                pass
        self.proc.returncode = 0  # so Popen.__del__ neither warns nor tracks it


class SandboxPool:
    """Warm sandbox workers; `run(code)` executes code in a fresh, limited child of one of them.

    Args:
        size (`int`, *optional*, defaults to `2`):
            Workers, i.e. runs that may be in flight at once; each is started now.
        limits (`SandboxLimits`, *optional*):
            Default limits of `run` (the dataclass defaults when not given).
        site_packages (`bool`, *optional*, defaults to `False`):
            Let code import the interpreter's installed packages (read-only); by default only
            the standard library.
        python (`str`, *optional*):
            The interpreter the workers run (default: this one).

    Example:
        >>> with SandboxPool(size=1) as pool:
        ...     pool.run("print(6 * 7)").stdout
        '42\\n'
    """

    def __init__(
        self,
        size: int = 2,
        limits: SandboxLimits | None = None,
        *,
        site_packages: bool = False,
        python: str | None = None,
    ):
        if size < 1:
            raise ValueError(f"size={size}: a pool needs at least one worker")
        self.size = size
        self.limits = limits or SandboxLimits()
        self.site_packages = site_packages
        self.python = python or sys.executable
        self._pid = os.getpid()
        self._closed = False
        # FIFO: the worker idle longest has had the most time to prepare its next child.
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        for _ in range(size):
            self._idle.put(self._spawn())

    def _spawn(self) -> _Worker:
        if self._closed:  # a run racing close(): start nothing that nobody would stop
            raise RuntimeError("this SandboxPool is closed")
        worker = _Worker(self.python, self.site_packages)
        with self._lock:
            self._all.append(worker)
        return worker

    def _retire(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)

    def run(self, code: str, limits: SandboxLimits | None = None) -> SandboxResult:
        """Run `code` in a fresh sandbox; never raises for anything the code does.

        Args:
            code: Python source; what it prints to stdout is the result.
            limits: This run's limits (default: the pool's). Other limits than the pool's
                cost a fresh child (a few milliseconds).

        Returns:
            A `SandboxResult`.
        """
        limits = limits or self.limits
        if self._closed:
            raise RuntimeError("this SandboxPool is closed")
        if os.getpid() != self._pid:
            raise RuntimeError("a SandboxPool cannot be used in a forked child; make a new one")
        if not isinstance(code, str):
            return SandboxResult("sandbox_error", detail=f"code must be a str, not {type(code)}")
        if len(code) > limits.code_chars:
            return SandboxResult(
                "code_too_long", detail=f"{len(code)} characters; at most {limits.code_chars}"
            )
        worker = self._idle.get()
        try:
            answer = worker.call(code, limits)
        except Exception as exc:  # a dead or stuck worker: replace it, report this run
            logger.warning("sandbox worker failed (%s: %s); restarting it", type(exc).__name__, exc)
            self._retire(worker)
            worker = self._spawn()
            return SandboxResult("sandbox_error", detail=f"the sandbox worker failed ({exc})")
        except BaseException:  # e.g. KeyboardInterrupt: its answer would reach the next caller
            self._retire(worker)
            worker = self._spawn()
            raise
        finally:
            self._idle.put(worker)
        try:
            return SandboxResult(**answer)
        except TypeError:
            return SandboxResult("sandbox_error", detail=str(answer.get("detail"))[:500])

    def close(self) -> None:
        """Stop the workers (each finishes its current run first)."""
        self._closed = True
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.close()

    def _forget(self) -> None:
        self._closed = True
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.forget()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_default_pool: SandboxPool | None = None
_default_lock = threading.Lock()


def default_pool() -> SandboxPool:
    """The process-wide pool (`SandboxPool()` defaults), started on first use, closed at exit."""
    global _default_pool
    with _default_lock:
        if _default_pool is None:
            _default_pool = SandboxPool()
        return _default_pool


def set_default_pool(pool: SandboxPool | None) -> SandboxPool | None:
    """Replace the process-wide pool (e.g. with other limits); returns the previous one.

    The caller owns the previous pool (close it when done with it).
    """
    global _default_pool
    with _default_lock:
        previous, _default_pool = _default_pool, pool
        return previous


def _close_default_pool() -> None:
    pool = set_default_pool(None)
    if pool is not None:
        pool.close()


def _forget_default_pool_in_child() -> None:
    # A forked child (e.g. a verify worker) must not share the parent's worker pipes; it
    # starts its own pool on first use.
    global _default_pool, _default_lock
    _default_lock = threading.Lock()
    pool, _default_pool = _default_pool, None
    if pool is not None:
        pool._forget()


atexit.register(_close_default_pool)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_default_pool_in_child)


def run_python(code: str, limits: SandboxLimits | None = None) -> SandboxResult:
    """Run `code` in the process-wide pool (`default_pool().run`).

    Example:
        >>> run_python("print(sorted({3, 1, 2}))").stdout
        '[1, 2, 3]\\n'
    """
    return default_pool().run(code, limits)


def sandbox_capabilities() -> dict[str, bool]:
    """Which `PROTECTIONS` the default pool's sandboxes have on this machine.

    Returns:
        Protection name -> whether it is in force (all False when no sandbox could start).
    """
    result = run_python("pass")
    return {name: bool(result.protections.get(name)) for name in PROTECTIONS}


# -- zygote side: preparing a child, running a call ----------------------------------------------
# Everything below runs in the zygote or its children, never in the host process.
_libc: Any = None


def _libc_call(name: str, *args: Any) -> None:
    """Call a libc function that returns -1 on error; raise OSError with its errno."""
    if _libc is None:
        raise OSError(38, f"libc is not available for {name}")
    if getattr(_libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")


def _prctl(option: int, arg: int = 0) -> None:
    _libc_call(
        "prctl",
        option,
        ctypes.c_ulong(arg),
        ctypes.c_ulong(0),
        ctypes.c_ulong(0),
        ctypes.c_ulong(0),
    )


def _mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    def enc(s: str | None) -> bytes | None:
        return None if s is None else s.encode()

    _libc_call("mount", enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))


def _mountinfo() -> list[tuple[str, set[str]]]:
    """(mount point, its per-mount options) for every mount, from /proc/self/mountinfo."""
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            mounts.append((point, set(fields[5].split(","))))
    return mounts


def _private_filesystem(
    limits: dict[str, Any], uid: int, gid: int, pid_ns: bool, report: dict[str, bool]
) -> str:
    """Read-only view of every mount, a fresh /proc and a tmpfs /tmp; returns the workdir."""
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)  # nothing below propagates to the host
    readonly = True
    for point, options in _mountinfo():
        if "ro" in options:
            continue
        flags = _MS_REMOUNT | _MS_BIND | _MS_RDONLY
        flags |= sum(bit for name, bit in _MOUNT_FLAGS.items() if name in options)
        try:
            _mount(None, point, None, flags)
        except OSError:
            readonly = False  # e.g. a mount hidden under another one; reported, not fatal
    report["readonly_filesystem"] = readonly
    _expose_interpreter([p for p in sys.path if p and os.path.exists(p)])
    if pid_ns:
        try:
            _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
        except OSError:
            report["pid_namespace"] = False  # the host's /proc would still list its processes
    size = int(limits["file_mb"]) << 20
    _mount(
        "tmpfs",
        "/tmp",
        "tmpfs",
        _MS_NOSUID | _MS_NODEV,
        f"size={size},nr_inodes=4096,mode=700,uid={uid},gid={gid}",
    )
    report["private_tmp"] = True
    return "/tmp"


def _closed_ancestor(path: str) -> str | None:
    """The highest folder above `path` (or `path`'s own folder) that others may not enter."""
    parts = os.path.abspath(path).split(os.sep)[1:]
    for i in range(1, len(parts)):
        folder = os.sep + os.path.join(*parts[:i])
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return folder
    return None


def _expose_interpreter(paths: list[str]) -> None:
    """Make the interpreter's import paths readable to the sandbox uid, and nothing beside them.

    An interpreter under a closed folder (pyenv in `/root`, mode 700) would let the sandbox
    import only what the zygote had imported. Each closed folder is covered by an empty,
    read-only tmpfs (hiding whatever else it holds) into which just the import paths are
    bind-mounted, read-only.
    """
    covered: dict[str, list[str]] = {}
    for path in paths:
        ancestor = _closed_ancestor(path)
        if ancestor is not None:
            covered.setdefault(ancestor, []).append(path)
    for ancestor, inside in covered.items():
        # O_PATH handles keep the sources reachable once the tmpfs hides them.
        handles = [(path, os.open(path, os.O_PATH)) for path in inside]
        try:
            _mount("tmpfs", ancestor, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=64k,mode=755")
            for path, fd in handles:
                if os.path.isdir(f"/proc/self/fd/{fd}"):
                    os.makedirs(path, mode=0o755, exist_ok=True)
                else:
                    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
                    open(path, "a").close()  # a file needs a file to be mounted on
                _mount(f"/proc/self/fd/{fd}", path, None, _MS_BIND | _MS_REC)
                _mount(None, path, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID)
            _mount(None, ancestor, None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
        finally:
            for _, fd in handles:
                os.close(fd)


def _cpu_limit_s(limits: dict[str, Any]) -> int:
    """The soft `RLIMIT_CPU` of a run: `cpu_s` rounded up to a whole second, at least 1."""
    return max(1, math.ceil(float(limits["cpu_s"])))


def _set_limits(limits: dict[str, Any]) -> None:
    cpu = _cpu_limit_s(limits)
    memory = int(limits["memory_mb"]) << 20
    files = int(limits["file_mb"]) << 20
    for which, value in (
        (resource.RLIMIT_AS, memory),
        (resource.RLIMIT_FSIZE, files),
        (resource.RLIMIT_NPROC, int(limits["processes"])),
        (resource.RLIMIT_NOFILE, int(limits["open_files"])),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(which, (value, value))
    # Soft below hard: the kernel sends SIGXCPU at the limit (unmistakably the CPU limit) and
    # SIGKILL only `_CPU_HARD_EXTRA_S` later, for code that ignores SIGXCPU.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + _CPU_HARD_EXTRA_S))


def _drop_capabilities() -> None:
    """capset(2) with empty sets: root in a user namespace keeps uid 0 but no capability."""
    header = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = bytes(24)  # two (effective, permitted, inheritable) triples of zeros
    _libc_call("capset", ctypes.c_char_p(header), ctypes.c_char_p(data))


def _seccomp_program() -> bytes | None:
    """A BPF filter failing the denied syscalls with EPERM, or None on other architectures."""
    machine = os.uname().machine
    if machine not in _SECCOMP_ARCHES:
        return None
    arch, denied, x32 = _SECCOMP_ARCHES[machine]
    allow, deny, kill = 0x7FFF0000, 0x00050000 | 1, 0x80000000  # RET_ALLOW, RET_ERRNO|EPERM, KILL
    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    # Layout: [check arch] [load nr] [x32?] [one jeq per denied nr] [allow] [deny]; a jump's
    # offset counts the instructions it skips.
    body: list[tuple[int, int, int, int]] = [
        (ld, 0, 0, 4),
        (jeq, 1, 0, arch),
        (ret, 0, 0, kill),
        (ld, 0, 0, 0),
    ]
    checks = ([(jge, 0x40000000)] if x32 else []) + [(jeq, nr) for nr in denied]
    for i, (op, k) in enumerate(checks):
        to_deny = len(checks) - i  # skip the remaining checks and the allow
        body.append((op, to_deny, 0, k))
    body += [(ret, 0, 0, allow), (ret, 0, 0, deny)]
    return b"".join(struct.pack("HBBI", *insn) for insn in body)


def _install_seccomp(program: bytes) -> None:
    buf = ctypes.create_string_buffer(program)
    prog = struct.pack("HxxxxxxP", len(program) // 8, ctypes.addressof(buf))
    _libc_call(
        "prctl",
        _PR_SET_SECCOMP,
        ctypes.c_ulong(_SECCOMP_MODE_FILTER),
        ctypes.c_char_p(prog),
        ctypes.c_ulong(0),
        ctypes.c_ulong(0),
    )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _report(message: dict[str, Any]) -> None:
    # One write of a short line: atomic on a pipe (PIPE_BUF), never interleaved with another.
    _write_all(_STATUS_FD, (json.dumps(message) + "\n").encode())


def _run_user_code(code: str) -> None:
    """Run the code as `__main__` of a fresh module in this process; exit with its status."""
    import builtins
    import io
    import linecache
    import traceback
    import types

    sys.stdout = io.TextIOWrapper(
        io.FileIO(1, "w", closefd=False),
        encoding="utf-8",
        errors="backslashreplace",
        line_buffering=True,
    )
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False),
        encoding="utf-8",
        errors="backslashreplace",
        line_buffering=True,
    )
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    if "random" in sys.modules:  # preloaded (statistics imports it): not the zygote's state
        sys.modules["random"].seed()
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    sys.argv = ["-c"]
    # Tracebacks then show the model's own lines, as `python -c` would not.
    linecache.cache[_FILENAME] = (len(code), None, code.splitlines(True), _FILENAME)
    status = 0
    try:
        exec(compile(code, _FILENAME, "exec"), main.__dict__)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            status = exc.code or 0
        else:
            sys.stderr.write(f"{exc.code}\n")
            status = 1
    except BaseException as exc:  # the model's error: its traceback, without this frame
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None
        try:
            traceback.print_exception(type(exc), exc, tb)
        except BaseException:
            os.write(2, f"{type(exc).__name__}\n".encode())
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    # Reported before exiting: the kernel dismantles the namespaces (an RCU grace period, a few
    # ms) before the exit becomes visible to the zygote. The code could have written such a
    # line itself, but it could also just have printed what it wanted and exited 0.
    try:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        _report({"exit_code": status & 0xFF, "cpu": usage.ru_utime + usage.ru_stime})
    except BaseException:
        pass
    os._exit(status & 0xFF)


def _clone(flags: int) -> int:
    """fork(), but the child starts in new namespaces (`flags`); returns the pid or 0 in the child.

    One process instead of unshare() + fork(): with CLONE_NEWPID, the process that calls
    unshare() stays outside the namespace, so its child would need a parent of its own. The
    zygote is single-threaded and holds no lock here, which is what makes a raw clone safe for
    CPython (`os.fork` would also run at-fork hooks; the child needs none of them).
    """
    if not flags:
        return os.fork()
    number = _CLONE_SYSCALL.get(os.uname().machine)
    if number is None:
        raise OSError(38, "no raw clone on this architecture")
    _libc.syscall.restype = ctypes.c_long
    pid = _libc.syscall(
        ctypes.c_long(number),
        ctypes.c_ulong(flags | signal.SIGCHLD),
        *(ctypes.c_ulong(0) for _ in range(4)),  # no new stack: the child continues here
    )
    if pid < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"clone: {os.strerror(err)}")
    return pid


def _map_own_ids() -> None:
    """In a new user namespace: uid and gid 0 inside are this process's own ids outside."""
    uid, gid = os.getuid(), os.getgid()
    for path, text in (("uid_map", f"0 {uid} 1"), ("setgroups", "deny"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{path}", "w") as f:
            f.write(text)


def _probe_namespaces(as_root: bool) -> int:
    """The clone flags this process may use (tried in throwaway children)."""
    wanted = [_CLONE_NEWNS, _CLONE_NEWPID, _CLONE_NEWNET, _CLONE_NEWIPC, _CLONE_NEWUTS]
    base = 0 if as_root else _CLONE_NEWUSER
    if os.uname().machine not in _CLONE_SYSCALL:
        return 0

    def works(flags: int) -> bool:
        try:
            pid = _clone(flags)
        except OSError:
            return False
        if pid == 0:
            # What the setup will do, not just the clone: a user namespace may be granted
            # without the right to mount in it (e.g. AppArmor's restriction on Ubuntu 24.04).
            try:
                if flags & _CLONE_NEWUSER:
                    _map_own_ids()
                if flags & _CLONE_NEWNS:
                    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
                    _mount("tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, "size=4k")
            except BaseException:
                os._exit(1)
            os._exit(0)
        return os.waitpid(pid, 0)[1] == 0

    if works(base | sum(wanted)):
        return base | sum(wanted)
    allowed = sum(flag for flag in wanted if works(base | flag))
    return base | allowed if allowed else 0


class _Zygote:
    """The long-lived worker: prepares one sandbox child ahead, runs calls one at a time."""

    def __init__(self) -> None:
        self.as_root = os.geteuid() == 0
        self.namespaces = _probe_namespaces(self.as_root)
        self.seccomp = _seccomp_program()
        self.uid = UID_BASE + os.getpid() if self.as_root else os.getuid()
        self.gid = self.uid if self.as_root else os.getgid()
        self.armed: dict[str, Any] | None = None
        self.finished: dict[str, Any] | None = None
        self.arm_error: str | None = None
        try:
            # Orphans of a sandbox are re-parented here and reaped, never left as zombies.
            _prctl(_PR_SET_CHILD_SUBREAPER, 1)
        except OSError:
            pass

    # -- preparing a child ----------------------------------------------------------------
    def arm(self, limits: dict[str, Any]) -> None:
        """Start the next sandbox child and wait until it is ready for code."""
        self.armed, self.arm_error = None, None
        workdir = None
        if not self.namespaces & _CLONE_NEWNS:
            workdir = tempfile.mkdtemp(prefix="mentor-sandbox-")
            if self.as_root:
                os.chown(workdir, self.uid, self.gid)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        st_r, st_w = os.pipe()
        code_r, code_w = os.pipe()
        try:
            pid = _clone(self.namespaces)
        except OSError as exc:
            pid, self.arm_error = -1, str(exc)
        if pid == 0:
            try:
                self._child(limits, workdir, (out_w, err_w, st_w, code_r))
            finally:
                os._exit(_SETUP_FAILED)
        for fd in (out_w, err_w, st_w, code_r):
            os.close(fd)
        armed = {
            "pid": pid,
            "out": out_r,
            "err": err_r,
            "status": st_r,
            "code": code_w,
            "workdir": workdir,
            "limits": limits,
            "buffer": b"",
            "protections": None,
            "reaped": pid < 0,
        }
        if pid < 0:
            self.teardown(armed, kill=False)
            return
        message = self._ready_message(armed, time.monotonic() + _ARM_TIMEOUT_S)
        if not message or "protections" not in message:
            reason = (message or {}).get("setup_error", "the sandbox child did not start")
            self.arm_error = str(reason)
            self.teardown(armed, kill=True)
            return
        armed["protections"] = message["protections"]
        self.armed = armed

    @staticmethod
    def _ready_message(armed: dict[str, Any], deadline: float) -> dict[str, Any] | None:
        while b"\n" not in armed["buffer"]:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            with selectors.DefaultSelector() as sel:
                sel.register(armed["status"], selectors.EVENT_READ)
                if not sel.select(left):
                    return None
            chunk = os.read(armed["status"], 4096)
            if not chunk:
                return None
            armed["buffer"] += chunk
        line, _, armed["buffer"] = armed["buffer"].partition(b"\n")
        return json.loads(line)

    def _child(self, limits: dict[str, Any], workdir: str | None, fds: tuple[int, ...]) -> None:
        """The sandbox child (G): setup, then wait for the code and run it; never returns."""
        os.setsid()  # its own process group: the zygote kills the group at once
        devnull = os.open(os.devnull, os.O_RDWR)
        # Above the targets first, so that no dup2 overwrites a source not yet moved.
        sources = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (devnull, *fds)]
        for target, fd in zip((0, 1, 2, _STATUS_FD, _CODE_FD), sources, strict=True):
            os.dup2(fd, target)
        # Nothing of the zygote's (its protocol pipes above all) stays open in the sandbox.
        os.closerange(_CODE_FD + 1, os.sysconf("SC_OPEN_MAX"))
        try:
            self._setup(limits, workdir)
        except BaseException as exc:
            try:
                _report({"setup_error": f"{type(exc).__name__}: {exc}"})
            finally:
                os._exit(_SETUP_FAILED)
        chunks = []
        while chunk := os.read(_CODE_FD, 1 << 16):
            chunks.append(chunk)
        os.close(_CODE_FD)
        _run_user_code(b"".join(chunks).decode("utf-8", "surrogatepass"))

    def _setup(self, limits: dict[str, Any], workdir: str | None) -> None:
        """Mounts, limits, privileges, filter; then report the protections in force."""
        flags = self.namespaces
        if flags & _CLONE_NEWUSER:
            _map_own_ids()
        report = {name: False for name in PROTECTIONS}
        report["network_namespace"] = bool(flags & _CLONE_NEWNET)
        report["pid_namespace"] = bool(flags & _CLONE_NEWPID)
        report["mount_namespace"] = bool(flags & _CLONE_NEWNS)
        uid, gid = (self.uid, self.gid) if not flags & _CLONE_NEWUSER else (0, 0)
        if flags & _CLONE_NEWNS:
            workdir = _private_filesystem(limits, uid, gid, bool(flags & _CLONE_NEWPID), report)
        elif flags & _CLONE_NEWPID:
            report["pid_namespace"] = False  # its /proc would still be the host's
        os.chdir(workdir)
        _set_limits(limits)
        report["resource_limits"] = True
        if flags & _CLONE_NEWUSER:
            _drop_capabilities()  # uid 0 of its own namespace, without any capability
            report["unprivileged"] = True
        elif self.as_root:
            os.setgroups([])
            try:
                os.setresgid(gid, gid, gid)
                os.setresuid(uid, uid, uid)
            except OSError:  # a uid map without our range: share nobody's uid instead
                os.setresgid(FALLBACK_UID, FALLBACK_UID, FALLBACK_UID)
                os.setresuid(FALLBACK_UID, FALLBACK_UID, FALLBACK_UID)
            report["unprivileged"] = os.geteuid() != 0
        else:
            report["unprivileged"] = True
        if not report["unprivileged"]:
            raise PermissionError("refusing to run code as root")
        # RLIMIT_NPROC binds every uid but root (and root of a user namespace has no
        # CAP_SYS_RESOURCE in the host's namespace), so it holds wherever we got here.
        report["process_limit"] = True
        _prctl(_PR_SET_NO_NEW_PRIVS, 1)
        report["no_new_privs"] = True
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # after setresuid, which clears it
        if os.getppid() == 1 and not flags & _CLONE_NEWPID:
            raise RuntimeError("the zygote exited during setup")
        os.environ.clear()
        os.environ.update({"PATH": _PATH, "LANG": _LANG, "HOME": workdir})
        report["scrubbed_environment"] = True
        if self.seccomp is not None:
            _install_seccomp(self.seccomp)
            report["socket_filter"] = report["exec_blocked"] = True
        _report({"protections": report})

    # -- running a call ---------------------------------------------------------------------
    def serve(self, code: str, limits: dict[str, Any]) -> dict[str, Any]:
        self.finish()
        armed = self.armed
        if armed is None or armed["limits"] != limits:
            if armed is not None:
                self.teardown(armed, kill=True)
            self.arm(limits)
            armed = self.armed
        if armed is None:
            return {"status": "sandbox_error", "detail": f"setup failed: {self.arm_error}"}
        self.armed = None
        started = time.monotonic()
        try:
            _write_all(armed["code"], code.encode("utf-8", "surrogatepass"))
        except OSError:
            pass  # the child is gone; the collection below reports how it ended
        os.close(armed["code"])
        armed["code"] = None
        return self.collect(armed, started, limits)

    def collect(
        self, armed: dict[str, Any], started: float, limits: dict[str, Any]
    ) -> dict[str, Any]:
        """Read the child's stdout and stderr until it has ended, or a limit stops it."""
        cap = int(limits["output_bytes"])
        stdout, stderr = bytearray(), bytearray()
        stop_reason: str | None = None
        end: dict[str, Any] | None = None  # the child's own exit report, or its wait status
        grace_until = math.inf  # after the end or a kill: how long to wait for pipes to close
        deadline = started + float(limits["wall_s"])
        sel = selectors.DefaultSelector()
        for key in ("out", "err", "status"):
            sel.register(armed[key], selectors.EVENT_READ, key)
        try:
            pidfd = os.pidfd_open(armed["pid"])
            sel.register(pidfd, selectors.EVENT_READ, "exit")
        except (AttributeError, OSError):
            pidfd = None  # no pidfd: poll for the exit below
        try:
            while True:
                streams = [k for k in sel.get_map().values() if k.data in ("out", "err")]
                if end is not None and not streams:
                    break
                now = time.monotonic()
                if stop_reason is None and now >= deadline:
                    stop_reason = "timeout"
                    self.kill(armed)
                    grace_until = min(grace_until, now + _GRACE_S)
                if now >= grace_until:
                    break  # something outlived the sandbox and holds a pipe: stop listening
                wait = min(grace_until, deadline if stop_reason is None else math.inf) - now
                if pidfd is None:
                    wait = min(wait, 0.01)
                events = sel.select(max(wait, 0.0))
                if end is None and pidfd is None and self._reap(armed, block=False):
                    end = armed["end"]
                for key, _ in events:
                    if key.data == "exit":
                        sel.unregister(key.fd)
                        self._reap(armed, block=True)
                        end = end or armed["end"]
                        continue
                    data = os.read(key.fd, 1 << 16)
                    if not data:
                        sel.unregister(key.fd)
                    elif key.data == "out":
                        stdout += data[: cap + 1 - len(stdout)]
                        if len(stdout) > cap and stop_reason is None:
                            stop_reason = "output_limit"
                            self.kill(armed)
                            grace_until = min(grace_until, time.monotonic() + _GRACE_S)
                    elif key.data == "err":
                        stderr = (stderr + data)[-_MAX_STDERR:]
                    elif len(armed["buffer"]) < 1 << 16:  # status: the child's exit report
                        armed["buffer"] += data
                        report = _exit_report(armed["buffer"])
                        if report is not None and end is None:
                            end = report
                    if end is not None and grace_until == math.inf:
                        if not self.namespaces & _CLONE_NEWPID:
                            self.sweep()  # leftovers would otherwise hold the pipes
                        grace_until = time.monotonic() + _GRACE_S
        finally:
            sel.close()
            if pidfd is not None:
                os.close(pidfd)
        if stop_reason is not None and not armed["reaped"]:
            self._reap(armed, block=True)  # killed: its wait status tells what happened
        elapsed = time.monotonic() - started
        # Reaping a child that reported its own end waits for the kernel to dismantle its
        # namespaces; that happens after the answer is sent (`finish`), off the caller's clock.
        self.finished = armed
        return self._outcome(
            stop_reason,
            armed.get("end") if stop_reason else (end or armed.get("end") or {}),
            bytes(stdout[:cap]),
            bytes(stderr),
            elapsed,
            armed["protections"],
            limits,
        )

    @staticmethod
    def _reap(armed: dict[str, Any], block: bool) -> bool:
        """wait4 the child; record its end as `{"status": wait status, "cpu": seconds}`."""
        if armed["reaped"]:
            return True
        pid, status, usage = os.wait4(armed["pid"], 0 if block else os.WNOHANG)
        if pid == 0:
            return False
        armed["reaped"] = True
        armed["end"] = {"status": status, "cpu": usage.ru_utime + usage.ru_stime}
        return True

    @staticmethod
    def _outcome(
        stop_reason: str | None,
        end: dict[str, Any],
        stdout: bytes,
        stderr: bytes,
        elapsed: float,
        protections: dict[str, bool],
        limits: dict[str, Any],
    ) -> dict[str, Any]:
        cpu = float(end.get("cpu", 0.0))
        exit_code = sig = None
        if "exit_code" in end:
            exit_code = end["exit_code"]
        elif "status" in end:
            raw = end["status"]
            exit_code = os.WEXITSTATUS(raw) if os.WIFEXITED(raw) else None
            sig = os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else None
        err_text = stderr.decode("utf-8", "replace")
        last = err_text.rstrip().rsplit("\n", 1)[-1]
        detail = None
        if stop_reason is not None:
            status = stop_reason
        elif exit_code is None and sig is None:
            status, detail = "sandbox_error", "the sandbox ended without a status"
        elif sig is not None:
            # SIGXCPU is the soft CPU limit; SIGKILL with CPU time near the limit, the hard one
            # (the zygote's own kills, wall clock and output, are reported by stop_reason).
            if sig == signal.SIGXCPU or (
                sig == signal.SIGKILL and cpu >= _CPU_KILL_SHARE * _cpu_limit_s(limits)
            ):
                status = "cpu_limit"
            else:
                status, detail = "killed", signal.Signals(sig).name
        elif exit_code == 0:
            status = "ok"
        elif last.startswith("MemoryError"):
            status = "memory_limit"
        else:
            status = "error"
        return {
            "status": status,
            "stdout": stdout.decode("utf-8", "replace"),
            "stderr": err_text,
            "exit_code": exit_code,
            "signal": sig,
            "wall_s": round(elapsed, 6),
            "cpu_s": round(cpu, 6),
            "protections": protections or {},
            "detail": detail,
        }

    @staticmethod
    def kill(armed: dict[str, Any]) -> None:
        """Stop a sandbox: the child (init of its PID namespace: all in it die) and its group."""
        if armed["reaped"]:
            return  # its pid may belong to someone else by now
        for kill in (os.kill, os.killpg):  # unreaped, the pid (and group id) is still ours
            try:
                kill(armed["pid"], signal.SIGKILL)
            except OSError:
                pass

    def sweep(self) -> None:
        """Without a PID namespace: kill whatever still runs as the sandbox's uid."""
        if not self.as_root:
            return  # our own uid: kill(-1) would hit the host
        pid = os.fork()
        if pid == 0:
            try:
                os.setresuid(self.uid, self.uid, self.uid)
                os.kill(-1, signal.SIGKILL)  # every process of this uid, except this one
            finally:
                os._exit(0)
        os.waitpid(pid, 0)

    def finish(self) -> None:
        """Tear down the last run's child, if any."""
        if self.finished is not None:
            armed, self.finished = self.finished, None
            self.teardown(armed, kill=True)

    def teardown(self, armed: dict[str, Any], kill: bool) -> None:
        if kill:
            self.kill(armed)
        for key in ("out", "err", "status", "code"):
            if armed.get(key) is not None:
                try:
                    os.close(armed[key])
                except OSError:
                    pass
                armed[key] = None
        if not armed["reaped"]:
            try:
                self._reap(armed, block=True)
            except ChildProcessError:
                armed["reaped"] = True
        if not self.namespaces & _CLONE_NEWPID:
            self.sweep()
        while True:  # orphans re-parented to us (we are a subreaper)
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if armed.get("workdir"):
            shutil.rmtree(armed["workdir"], ignore_errors=True)


def _exit_report(buffer: bytes) -> dict[str, Any] | None:
    """The child's `{"exit_code", "cpu"}` line in its status output, if it is there and sane."""
    for line in buffer.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and type(message.get("exit_code")) is int:
            cpu = message.get("cpu")
            cpu = float(cpu) if isinstance(cpu, int | float) and math.isfinite(cpu) else 0.0
            return {"exit_code": message["exit_code"] & 0xFF, "cpu": cpu}
    return None


def _zygote_main() -> None:
    """Serve calls on stdin/stdout until EOF: one JSON request line -> one JSON result line."""
    global _libc
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != here]
    proto_in, proto_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)  # a stray print can never corrupt the protocol
    os.dup2(devnull, 1)
    _libc = ctypes.CDLL(None, use_errno=True)
    for name in _PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    zygote = _Zygote()
    limits = asdict(SandboxLimits())
    zygote.arm(limits)
    _write_all(proto_out, (json.dumps({"ready": True}) + "\n").encode())
    with os.fdopen(proto_in, "rb") as requests:
        for line in requests:
            try:
                request = json.loads(line)
                limits = request["limits"]
                answer = zygote.serve(request["code"], limits)
            except Exception as exc:  # a bug here must not take the worker down
                answer = {"status": "sandbox_error", "detail": f"{type(exc).__name__}: {exc}"}
            _write_all(proto_out, (json.dumps(answer) + "\n").encode())
            try:
                zygote.finish()
                if zygote.armed is None:  # the next child is prepared while the host reads
                    zygote.arm(limits)
            except Exception:  # serve() arms again (and reports why it cannot)
                zygote.armed = None
    zygote.finish()  # the host closed the pipe: leave no child and no folder behind
    if zygote.armed is not None:
        zygote.teardown(zygote.armed, kill=True)


if __name__ == "__main__" and sys.argv[1:] == ["--zygote"]:
    _zygote_main()
