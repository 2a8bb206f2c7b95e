"""`mentor-data generate`: problems in, a teacher's trajectories out, as a new store version.

Rows are written as they finish, in shards (every `shard_rows` rows or `flush_interval_s`
seconds), into a draft of the store (`NAME/.draft-generate-KEY/`). KEY is a hash of everything
that decides the output (the problems, the teacher and its model, sampling, prompts and tool
format, not runtime knobs such as concurrency or timeouts), so re-running the same command after a
crash, Ctrl-C or kill -9 reopens the same draft, skips the (problem_id, sample_id) keys already
on disk and, once every key is written, commits one version: no trajectory is lost and none is
written twice. A request that fails after its retries is an `error` row, so every (problem,
sample) is accounted for.

A teacher whose requests keep failing (a wrong `--base-url`, a server gone, a wrong model) does
not commit a version of error rows: once `MAX_FAILURE_STREAK` requests in a row have failed
(after their retries) with no usable reply between them, or when a run ends without a single
usable reply, `generate` stops with `GenerationAborted`, keeping the draft. Re-running the same
command resumes it, and on resume the draft's `error` rows are dropped and run again, so fixing
the server redoes only what failed.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow.parquet as pq

from mentor_data.domains import get_domain
from mentor_data.domains.session import describe_specs, tool_session
from mentor_data.problems import Problem, load_problems
from mentor_data.schema import prompt_hash
from mentor_data.store import Store, StoreError, VersionInfo, VersionWriter, check_name
from mentor_data.teachers import (
    GenerationConfig,
    RunSummary,
    Teacher,
    make_teacher,
    run_conversations,
)
from mentor_data.teachers.rollout import conversation_prompt, with_prompt

logger = logging.getLogger(__name__)

# Requests failed in a row (after their retries, no usable reply between them) that stop a run.
MAX_FAILURE_STREAK = 8


class GenerationAborted(RuntimeError):
    """The teacher's requests keep failing: the run stopped, its draft is kept for a resume."""


class _FailureStreak(Exception):
    """Raised from the row callback to stop the rollout loop."""


@dataclass
class GenerateConfig:
    """What to generate and where.

    > Problems

    Args:
        problems (`str`):
            Problem spec: `builtin:FAMILY[,...]`, `builtin:in_domain|held_out|all` with
            `?n=N&offset=K&seed=S`, `bfcl:CATEGORY[,...]?split=train&n=N` (function calling),
            a JSONL/JSON/Parquet/CSV file, a `save_to_disk` folder or a store reference
            `NAME@vN` (see `mentor_data.problems`).
        limit (`int` or `None`, *optional*, defaults to `None`):
            Use only the first `limit` problems (for built-ins also the default `n`).
        id_field (`str`, *optional*, defaults to `"id"`), question_field (`str`, *optional*,
            defaults to `"question"`), answer_field (`str`, *optional*, defaults to `"answer"`):
            Field names of the problems in files.

    > Domain and tools (see `mentor_data.domains.session`)

    Args:
        domain (`str` or `None`, *optional*, defaults to `None`):
            A user domain, `pkg.module:attr` or `file.py:attr`, or a domain name; problems that
            name no domain belong to it.
        tools (`list[str]`, *optional*, defaults to `[]`):
            Python tool sources (`pkg.module`, `path/tools.py`, optionally `:name1,name2`).
        mcp (`list[str]`, *optional*, defaults to `[]`):
            MCP servers: `COMMAND ARGS` (stdio) or an `http(s)://` URL.

    > Teacher

    Args:
        teacher (`str`, *optional*, defaults to `"solver"`):
            `solver` (offline, reference programs), `oracle` (offline, BFCL ground truth),
            `openai`, `vllm` or `hf`.
        model (`str` or `None`, *optional*, defaults to `None`):
            Model name (openai, vllm) or folder (hf).
        base_url (`str` or `None`, *optional*, defaults to `None`):
            Endpoint of the openai teacher, e.g. `http://localhost:8000/v1`.
        api_key_env (`str`, *optional*, defaults to `"OPENAI_API_KEY"`):
            Environment variable with the API key (a local `base_url` needs none).
        tensor_parallel_size (`int`, *optional*, defaults to `1`): GPUs per vLLM engine.
        engine_kwargs (`dict`, *optional*, defaults to `{}`):
            More `vllm.LLM(...)` arguments of the vllm teacher (`--engine-arg KEY=VALUE`), e.g.
            `{"enforce_eager": True, "dtype": "float32"}` on CPU. Recorded in the lineage and,
            when set, hashed into the resume key (`dtype` or `max_model_len` change the output).
        device (`str` or `None`, *optional*, defaults to `None`): Device of the hf teacher.
        generation (`GenerationConfig`): Sampling, limits, prompts and concurrency.

    > Output

    Args:
        name (`str`): Dataset name; the run writes the next version `NAME@vN`.
        shard_rows (`int`, *optional*, defaults to `1000`): Rows per shard (flush size).
        flush_interval_s (`float`, *optional*, defaults to `30.0`):
            Also flush buffered rows this often, so a slow teacher loses at most this much work.
        progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar on stderr (only when it is a terminal).
    """

    problems: str
    name: str
    teacher: str = "solver"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    tensor_parallel_size: int = 1
    engine_kwargs: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    limit: int | None = None
    id_field: str = "id"
    question_field: str = "question"
    answer_field: str = "answer"
    shard_rows: int = 1000
    flush_interval_s: float = 30.0
    progress: bool = True
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    domain: str | None = None
    tools: list[str] = field(default_factory=list)
    mcp: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.shard_rows < 1:
            raise ValueError(f"shard_rows={self.shard_rows}: must be >= 1")
        if self.flush_interval_s <= 0:
            raise ValueError(f"flush_interval_s={self.flush_interval_s}: must be > 0")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit={self.limit}: must be >= 1")
        if self.engine_kwargs:
            from mentor_data.teachers.vllm_teacher import check_engine_kwargs

            if self.teacher != "vllm":
                raise ValueError(
                    f"--engine-arg ({', '.join(self.engine_kwargs)}) is for --teacher vllm only, "
                    f"not {self.teacher}"
                )
            check_engine_kwargs(self.engine_kwargs, None)  # the names vLLM knows: at make_teacher


@dataclass
class GenerateResult:
    """The outcome of `generate`.

    Args:
        version (`VersionInfo`): The committed version.
        rows (`int`): Rows in the version.
        new_rows (`int`): Rows produced by this run (the rest were resumed from the draft).
        resumed_rows (`int`): Rows found in the draft from an interrupted run.
        finish_reasons (`dict`): Rows of the version by finish reason.
        prompt_tokens (`int`), completion_tokens (`int`): Token totals of the version.
        retries (`int`): Request retries of this run.
        elapsed_s (`float`): Wall-clock seconds of this run.
        retries_by_reason (`dict`): Retries of this run by reason (`status 429`, `timeout`,
            `connection`, ...), where the backend counts them.
        served_models (`dict`): Replies by the model the server reported (openai).
        warnings (`list[str]`): The backend's warnings (e.g. a server that ignores `tools=`).
    """

    version: VersionInfo
    rows: int
    new_rows: int
    resumed_rows: int
    finish_reasons: dict[str, int]
    prompt_tokens: int
    completion_tokens: int
    retries: int
    elapsed_s: float
    retries_by_reason: dict[str, int] = field(default_factory=dict)
    served_models: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def problems_digest(problems: list[Problem]) -> str:
    """A hash of the problems' ids, questions, answers and offered tools (order included)."""
    h = hashlib.sha256()
    tool_digests: dict[tuple, str] = {}
    for p in problems:
        key = (p.domain, id(p.tools))
        if key not in tool_digests:  # built-ins share one tools tuple: hash it once
            tool_digests[key] = hashlib.sha256(
                json.dumps(p.offered_tools(), sort_keys=True).encode()
            ).hexdigest()
        h.update(json.dumps([p.id, p.question, p.answer, tool_digests[key]]).encode())
    return h.hexdigest()


def resume_key(config: GenerateConfig, problems: list[Problem], teacher: Teacher) -> str:
    """The draft key: a hash of everything that determines the output, nothing else."""
    payload = {
        "problems": problems_digest(problems),
        "teacher": teacher.backend,
        "model": teacher.model,
        "generation": config.generation.output_fields(),
    }
    engine_kwargs = getattr(teacher, "engine_kwargs", None)
    if engine_kwargs:  # only when set: runs without them keep their keys
        payload["engine_kwargs"] = engine_kwargs
    gen = config.generation
    defaults = {p.domain: conversation_prompt(p, gen) for p in problems}
    if any(prompt != gen.prompt for prompt in defaults.values()):
        payload["domain_prompts"] = defaults  # a domain's default prompt (BFCL) decides too
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@contextlib.contextmanager
def _draft_lock(writer: VersionWriter) -> Iterator[None]:
    """Hold an exclusive lock on the draft, so two runs of one command never interleave.

    The lock is taken before the draft folder exists and its file is removed safely on release
    (see `VersionWriter.lock`): a run starting as another commits gets a clear error while the
    lock is held, or a fresh draft after it, never the vanished draft of the committed run.
    """
    with writer.lock("another `mentor-data generate`"):
        yield


def _draft_stats(writer: VersionWriter) -> tuple[collections.Counter, int, int]:
    reasons: collections.Counter = collections.Counter()
    prompt = completion = 0
    for path in writer.shard_files():
        table = pq.read_table(path, columns=["finish_reason", "usage"])
        reasons.update(table["finish_reason"].to_pylist())
        for usage in table["usage"].to_pylist():
            prompt += (usage or {}).get("prompt_tokens") or 0
            completion += (usage or {}).get("completion_tokens") or 0
    return reasons, prompt, completion


def _drop_error_rows(writer: VersionWriter) -> int:
    """Remove the `error` rows from the draft's shards (so a resume runs them again).

    Each shard holding one is rewritten atomically without it (an emptied shard stays, empty,
    so the shard numbering goes on); returns the rows dropped.
    """
    import pyarrow.compute as pc

    from mentor_data.store import write_parquet_atomic

    dropped = 0
    for path in writer.shard_files():
        reasons = pq.read_table(path, columns=["finish_reason"])["finish_reason"]
        errors = pc.sum(pc.equal(reasons, "error")).as_py() or 0
        if errors:
            table = pq.read_table(path)
            keep = pc.invert(pc.fill_null(pc.equal(table["finish_reason"], "error"), False))
            write_parquet_atomic(table.filter(keep), path)
            dropped += errors
    return dropped


def _aborted(writer: VersionWriter, stats: dict[str, Any], why: str) -> GenerationAborted:
    good = sum(n for r, n in _draft_stats(writer)[0].items() if r != "error")
    return GenerationAborted(
        f"stopped: {why}; last error: {stats.get('last_error')}. Nothing was committed: "
        f"{good} finished rows are kept in {writer.path}; fix the teacher (--base-url, --model, "
        "the server) and run the same command again to resume (error rows are run again)"
    )


class _Flusher:
    """Buffers rows and writes them as shards by size or age."""

    def __init__(self, writer: VersionWriter, shard_rows: int, interval_s: float) -> None:
        self.writer, self.shard_rows, self.interval_s = writer, shard_rows, interval_s
        self.buffer: list[dict] = []
        self.last = time.monotonic()

    def add(self, row: dict) -> None:
        self.buffer.append(row)
        if len(self.buffer) >= self.shard_rows or time.monotonic() - self.last >= self.interval_s:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.writer.write_rows(self.buffer)
            logger.debug("flushed %d rows to %s", len(self.buffer), self.writer.path)
            self.buffer = []
        self.last = time.monotonic()


@contextlib.contextmanager
def _progress(total: int, done: int, enabled: bool) -> Iterator[Any]:
    """A rich progress bar on stderr (rows, rate, ETA); a no-op when disabled or not a TTY."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(f"{task.speed:.1f} rows/s" if task.speed else "- rows/s")

    console = Console(stderr=True)
    progress = Progress(
        TextColumn("generate"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not (enabled and console.is_terminal),
    )
    with progress:
        task = progress.add_task("generate", total=total, completed=done)
        yield lambda: progress.advance(task)


def generate(
    config: GenerateConfig,
    *,
    store: Store | None = None,
    teacher: Teacher | None = None,
    command: str | None = None,
) -> GenerateResult:
    """Generate trajectories for every (problem, sample) and commit them as a new version.

    Resumable: see the module docstring. Raises before touching the store when the problems or
    the teacher cannot be set up.

    Args:
        config: What to generate (problems, teacher, sampling, output name).
        store: Target store (default: `Store()`, i.e. `$MENTOR_DATA_DIR` or `./data`).
        teacher: A ready teacher, instead of building one from `config.teacher`.
        command: The command line, recorded in the manifest.

    Returns:
        A `GenerateResult` with the version and the counts of the whole version.

    Raises:
        ValueError: bad problems (the message names the line and field) or options.
        StoreError: a bad dataset name, or the draft is locked by another run.
    """
    with tool_session(domain=config.domain, tools=config.tools, mcp=config.mcp):
        return _generate(config, store or Store(), teacher, command)


def _generate(
    config: GenerateConfig, store: Store, teacher: Teacher | None, command: str | None
) -> GenerateResult:
    started = time.perf_counter()
    check_name(config.name)
    gen = config.generation
    problems = load_problems(
        config.problems,
        id_field=config.id_field,
        question_field=config.question_field,
        answer_field=config.answer_field,
        limit=config.limit,
        store=store,
    )
    if not problems:
        raise ValueError(f"--problems {config.problems!r}: no problems found")
    if teacher is None:
        teacher = make_teacher(
            config.teacher,
            model=config.model,
            base_url=config.base_url,
            api_key_env=config.api_key_env,
            tensor_parallel_size=config.tensor_parallel_size,
            device=config.device,
            engine_kwargs=config.engine_kwargs or None,
        )
    key = resume_key(config, problems, teacher)
    writer = store.writer(config.name, draft_id=f"generate-{key}")
    expected = {(p.id, s) for p in problems for s in range(gen.samples_per_problem)}
    with _draft_lock(writer):
        for stale in writer.path.glob(".*.tmp"):  # a shard cut by kill -9 mid-write
            stale.unlink()
        if dropped := _drop_error_rows(writer):
            logger.info("resuming %s: running %d error rows again", writer.path, dropped)
        done = writer.existing_keys()
        if done:
            logger.info(
                "resuming %s: %d of %d rows already written", writer.path, len(done), len(expected)
            )
        if done - expected:
            raise StoreError(f"{writer.path} holds rows of other problems; remove the draft")
        flusher = _Flusher(writer, config.shard_rows, config.flush_interval_s)
        with _progress(len(expected), len(done), config.progress) as advance:

            def on_row(row: dict) -> None:
                flusher.add(row)
                advance()
                if row["finish_reason"] == "error":
                    if teacher.stats().get("failure_streak", 0) >= MAX_FAILURE_STREAK:
                        raise _FailureStreak

            try:
                summary: RunSummary = run_conversations(
                    teacher, problems, gen, skip_keys=done, on_row=on_row
                )
            except _FailureStreak:
                flusher.flush()
                raise _aborted(
                    writer,
                    teacher.stats(),
                    f"{MAX_FAILURE_STREAK} requests in a row failed "
                    f"(retries by reason: {teacher.stats().get('retries_by_reason') or {}})",
                ) from None
            finally:
                flusher.flush()  # Ctrl-C or a crash: what finished is kept for the resume
        stats = summary.teacher_stats
        if stats.get("failed") and not stats.get("replies"):
            raise _aborted(
                writer,
                stats,
                f"all {stats['failed']} requests failed (retries by reason: "
                f"{stats.get('retries_by_reason') or {}})",
            )
        written = writer.existing_keys()
        if written != expected:
            raise StoreError(
                f"{writer.path}: {len(expected - written)} rows missing after the "
                "run; run the same command again to finish them"
            )
        reasons, prompt_tokens, completion_tokens = _draft_stats(writer)
        lineage = _lineage(config, problems, teacher, key, reasons)
        served = stats.get("served_models") or {}
        if served:  # the model(s) the server says answered; `model` is the one requested
            lineage["teacher"]["served_model"] = (
                next(iter(served)) if len(served) == 1 else dict(served)
            )
        if stats:
            lineage["requests"] = {
                k: stats[k]
                for k in ("requests", "retries", "retries_by_reason", "failed")
                if k in stats
            }
        info = writer.commit(command=command, lineage=lineage)
    result = GenerateResult(
        version=info,
        rows=len(written),
        new_rows=summary.n_rows,
        resumed_rows=len(done),
        finish_reasons=dict(reasons),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        retries=summary.retries,
        elapsed_s=time.perf_counter() - started,
        retries_by_reason=dict(stats.get("retries_by_reason") or {}),
        served_models=dict(served),
        warnings=list(stats.get("warnings") or []),
    )
    logger.info(
        "generated %s: %d rows (%d new), finish reasons %s",
        info.ref,
        result.rows,
        result.new_rows,
        result.finish_reasons,
    )
    return result


def _lineage(
    config: GenerateConfig,
    problems: list[Problem],
    teacher: Teacher,
    key: str,
    reasons: collections.Counter,
) -> dict[str, Any]:
    gen = config.generation
    prompts = {p.domain: conversation_prompt(p, gen) for p in problems}  # a domain default
    hashes = sorted(
        {
            prompt_hash(
                teacher.system_prompt(with_prompt(gen, prompts[p.domain]), p.offered_tools()) or "",
                p.offered_tools(),
            )
            for p in {id(p.tools): p for p in problems}.values()
        }
    )
    families = collections.Counter(
        family for p in problems if (family := get_domain(p.domain).family(p.metadata))
    )
    splits = collections.Counter(
        p.metadata.get("split")
        for p in problems
        if isinstance(p.metadata, dict) and p.metadata.get("split")
    )
    sampling = {k: v for k, v in asdict(gen).items() if k != "system_prompt"}
    teacher_lineage = {
        "backend": teacher.backend,
        "model": teacher.model,
        "base_url": getattr(teacher, "base_url", None),
    }
    if teacher.backend == "vllm":  # the engine's own settings (dtype, eager mode, ...)
        teacher_lineage["engine_kwargs"] = dict(getattr(teacher, "engine_kwargs", None) or {})
    return {
        "generator": "mentor-data generate",
        "teacher": teacher_lineage,
        "sampling": sampling,
        # One prompt, or domain -> prompt when a domain has its own default (BFCL).
        "system_prompt": (
            next(iter(prompts.values())) if len(set(prompts.values())) == 1 else prompts
        ),
        "prompt_hashes": hashes,
        "problems": {
            "spec": config.problems,
            "limit": config.limit,
            "count": len(problems),
            "digest": problems_digest(problems)[:16],
            "families": dict(families),
            "splits": dict(splits),
        },
        "resume_key": key,
        "finish_reasons": dict(reasons),
        **describe_specs(config.domain, config.tools, config.mcp),
    }
