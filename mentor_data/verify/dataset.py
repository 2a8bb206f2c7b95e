"""`mentor-data verify` on a store version: every row on all cores, a new verified version.

`verify_dataset(ref)` loads the version, opens the user's tool sources (`--domain`, `--tools`,
`--mcp`), verifies every row with `verify_row` (`mentor_data.verify.rows`) in forked worker
processes that share the Arrow table copy-on-write, keeps the rows `select_rows` picks, and
writes them with the verification columns as a new version whose lineage records the counts.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from mentor_data.domains import DomainError, family_of, fork_safe, get_domain
from mentor_data.domains.session import describe_specs, tool_session
from mentor_data.verify.rows import ABS_TOL, REL_TOL, RowVerdict, reason_codes, verify_rows
from mentor_data.verify.selection import KEEP_CHOICES, select_rows

logger = logging.getLogger(__name__)


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class VerifyConfig:
    """Options of `mentor-data verify`.

    Args:
        keep (`str`, *optional*, defaults to `"passed"`): Rows to write: `passed`, `failed` or
            `all`.
        dedupe (`bool`, *optional*, defaults to `False`): Drop duplicates: rows of the same
            problem with the same calls (names and canonical arguments, in order) and the same
            answer (whitespace removed); the best is kept.
        per_problem (`int` or `None`, *optional*): Keep the K best rows per problem (verified
            first, fewest calls, lowest sample_id).
        workers (`int` or `None`, *optional*): Processes; None means all cores.
        judge_timeout_s (`float`, *optional*, defaults to `5.0`): Limit of one answer check.
        min_calls (`int` or `None`, *optional*): Well-formed tool calls a row must hold to pass
            (else `no_tool_call`); None means each row's domain default (`Domain.min_calls`:
            1, BFCL 0). 0 keeps rows that answered without calling a tool.
        chunk_rows (`int`, *optional*, defaults to `500`): Rows per task sent to a worker.
        domain (`str` or `None`, *optional*): A user domain to load (`pkg.module:attr`,
            `file.py:attr`): the domain of the rows' `domain` column, when it is not built in.
        tools (`list[str]`, *optional*): Python tool sources the rows call (`--tools`).
        mcp (`list[str]`, *optional*): MCP servers the rows call (`--mcp`).
    """

    keep: str = field(default="passed", metadata={"help": "Rows to write: passed, failed, all."})
    dedupe: bool = field(default=False, metadata={"help": "Drop duplicate trajectories."})
    per_problem: int | None = field(default=None, metadata={"help": "Best K rows per problem."})
    workers: int | None = field(default=None, metadata={"help": "Processes (None: all cores)."})
    judge_timeout_s: float = field(default=5.0, metadata={"help": "Seconds per answer check."})
    min_calls: int | None = field(
        default=None, metadata={"help": "Tool calls a passing row needs (None: domain default)."}
    )
    chunk_rows: int = field(default=500, metadata={"help": "Rows per worker task."})
    domain: str | None = field(default=None, metadata={"help": "A user domain to load."})
    tools: list[str] = field(default_factory=list, metadata={"help": "Python tool sources."})
    mcp: list[str] = field(default_factory=list, metadata={"help": "MCP servers."})

    def __post_init__(self) -> None:
        if self.keep not in KEEP_CHOICES:
            raise ValueError(f"keep={self.keep!r} is not valid: use {', '.join(KEEP_CHOICES)}")
        if self.per_problem is not None and self.per_problem < 1:
            raise ValueError(f"per_problem={self.per_problem} is not valid: use K >= 1 or None")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers={self.workers} is not valid: use N >= 1 or None (all)")
        if self.judge_timeout_s <= 0:
            raise ValueError(f"judge_timeout_s={self.judge_timeout_s} is not valid: use > 0")
        if self.min_calls is not None and self.min_calls < 0:
            raise ValueError(f"min_calls={self.min_calls} is not valid: use N >= 0 or None")
        if self.chunk_rows < 1:
            raise ValueError(f"chunk_rows={self.chunk_rows} is not valid: use >= 1")


def _workers_for(rows: int, config: VerifyConfig) -> int:
    """Processes a run uses: as asked (default all cores), at most one per chunk of rows."""
    chunks = max(1, -(-rows // config.chunk_rows))
    return min(config.workers or default_workers(), chunks)


@dataclass
class VerifySummary:
    """What a verify run did.

    Args:
        input_ref (`str`): The version verified.
        output_ref (`str` or `None`): The version written (None when nothing was written).
        rows (`int`): Rows verified.
        kept (`int`): Rows written.
        reasons (`dict[str, int]`): Rows per reason code, every code present, `REASONS` order.
        dropped_by_keep, dropped_duplicates, dropped_per_problem (`int`): Rows each rule dropped.
        uncompared_calls (`int`): Calls of non-deterministic tools re-run but not compared.
        seconds (`float`): Wall-clock time of the checks.
        workers (`int`): Processes used.
    """

    input_ref: str
    output_ref: str | None
    rows: int
    kept: int
    reasons: dict[str, int]
    dropped_by_keep: int = 0
    dropped_duplicates: int = 0
    dropped_per_problem: int = 0
    uncompared_calls: int = 0
    seconds: float = 0.0
    workers: int = 1

    @property
    def passed(self) -> int:
        return self.reasons.get("ok", 0)

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"passed": self.passed}


VERIFY_COLUMNS = (
    "messages",
    "tools",
    "tool_calls",
    "answer",
    "error",
    "finish_reason",
    "domain",
    "metadata",
)
"""The columns `verify_row` reads; only these are decoded and sent to workers."""


def decode_for_verify(table: Any) -> list[dict[str, Any]]:
    """Decode the `VERIFY_COLUMNS` of an Arrow table into rows for `verify_row`.

    JSON columns are decoded with `json.loads`, as `datasets.Json` does, but without building
    whole rows: decoding dominates a verify run otherwise. Rows share one decoded copy of
    equal tool lists (a dataset usually offers one list to every row); do not mutate them.
    `metadata` is decoded for the rows of domains that read it (`Domain.reads_metadata`), else
    None (arithmetic rows carry whole reference programs that nothing in verify reads).
    """
    loads = json.loads
    cols = {c: table.column(c).to_pylist() for c in VERIFY_COLUMNS if c != "metadata"}
    reads = {name: _reads_metadata(name) for name in set(cols["domain"])}
    metadata = (
        table.column("metadata").to_pylist() if any(reads.values()) else [None] * table.num_rows
    )
    tool_lists: dict[tuple[str, ...], list[Any]] = {}
    rows = []
    for i, messages in enumerate(cols["messages"]):
        raw_tools = tuple(cols["tools"][i] or ())
        tools = tool_lists.get(raw_tools)
        if tools is None:
            tools = tool_lists[raw_tools] = [None if t is None else loads(t) for t in raw_tools]
        calls = cols["tool_calls"][i] or []
        for call in calls:
            if call.get("arguments") is not None:
                call["arguments"] = loads(call["arguments"])
        rows.append(
            {
                "messages": [None if m is None else loads(m) for m in messages or []],
                "tools": tools,
                "tool_calls": calls,
                "answer": cols["answer"][i],
                "error": cols["error"][i],
                "finish_reason": cols["finish_reason"][i],
                "domain": cols["domain"][i],
                "metadata": (
                    loads(metadata[i])
                    if reads[cols["domain"][i]] and metadata[i] is not None
                    else None
                ),
            }
        )
    return rows


# The table a forked worker reads its slices from: set in the parent just before the pool forks,
# so children share it copy-on-write instead of receiving pickles (pickling an Arrow slice
# serialises its whole parent buffers).
_FORK_TABLE: Any = None


def _verify_chunk(
    payload: Any, judge_timeout_s: float, min_calls: int | None = None
) -> list[RowVerdict]:
    """Worker task: `(start, length)` of the forked table, or an Arrow IPC stream of a slice."""
    if isinstance(payload, tuple):
        table = _FORK_TABLE.slice(*payload)
    else:
        import pyarrow as pa

        table = pa.ipc.open_stream(payload).read_all()
    return verify_rows(
        decode_for_verify(table), judge_timeout_s=judge_timeout_s, min_calls=min_calls
    )


def _ipc(table: Any) -> Any:
    """A slice as an Arrow IPC stream: only its own rows (a pickle would carry the whole table)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _pool(workers: int) -> tuple[ProcessPoolExecutor, bool]:
    """A process pool and whether it forks (Linux), so that workers can share `_FORK_TABLE`."""
    import multiprocessing as mp

    if sys.platform == "linux" and "fork" in mp.get_all_start_methods():
        return ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")), True
    return ProcessPoolExecutor(workers), False


def verify_table(
    table: Any, config: VerifyConfig | None = None, *, progress: bool = False
) -> list[RowVerdict]:
    """Verify every row of an Arrow table of trajectories, on `config.workers` processes.

    Rows go to the workers in chunks of `config.chunk_rows`; forked workers (Linux) read their
    chunks from the parent's table, others receive them as Arrow IPC streams.

    Args:
        table: a `pyarrow.Table` with the trajectory columns and their `datasets` metadata.
        config: options (workers, chunk size, judge timeout).
        progress: show a rich progress bar.

    Returns:
        One verdict per row, in table order.
    """
    global _FORK_TABLE
    config = config or VerifyConfig()
    n = table.num_rows
    table = table.select(list(VERIFY_COLUMNS))
    size = config.chunk_rows
    # A loaded MCP session (or a domain that says so) lives in this process only.
    workers = _workers_for(n, config) if fork_safe() else 1
    starts = list(range(0, n, size))
    results: list[list[RowVerdict]] = [[] for _ in starts]
    if workers <= 1:
        with _Bar(n, progress) as bar:
            for k, start in enumerate(starts):
                chunk = decode_for_verify(table.slice(start, size))
                results[k] = verify_rows(
                    chunk, judge_timeout_s=config.judge_timeout_s, min_calls=config.min_calls
                )
                bar.advance(len(results[k]))
        return [v for chunk in results for v in chunk]
    pool, forks = _pool(workers)
    _FORK_TABLE = table if forks else None
    try:
        with pool:
            futures = {
                pool.submit(
                    _verify_chunk,
                    (start, size) if forks else _ipc(table.slice(start, size)),
                    config.judge_timeout_s,
                    config.min_calls,
                ): k
                for k, start in enumerate(starts)
            }
            # The bar's refresh thread starts only now: the workers were forked at the first
            # submit, and forking a process with running threads can deadlock the children.
            with _Bar(n, progress) as bar:
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    bar.advance(len(results[futures[future]]))
    finally:
        _FORK_TABLE = None
    return [v for chunk in results for v in chunk]


class _Bar:
    """A rich progress bar, or nothing; a context manager."""

    def __init__(self, total: int, enabled: bool):
        self._progress = None
        if enabled:
            from rich.progress import Progress

            self._progress = Progress(transient=True)
            self._task = self._progress.add_task("verifying", total=total)

    def __enter__(self) -> _Bar:
        if self._progress is not None:
            self._progress.start()
        return self

    def advance(self, k: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, k)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def add_verification_columns(table: Any, verdicts: Sequence[RowVerdict]) -> Any:
    """The trajectory columns of `table` followed by the verification columns of `verdicts`.

    Verification columns already in `table` (re-verifying a verified version) are replaced.
    The result carries the `datasets` features of `verified_features()` in its metadata.
    """
    from datasets import Dataset

    from mentor_data.schema import TRAJECTORY_FEATURES, VERIFICATION_FEATURES, verified_features

    missing = [c for c in TRAJECTORY_FEATURES if c not in table.column_names]
    if missing:
        raise ValueError(f"not a trajectory table: missing column(s) {', '.join(missing)}")
    base = table.select(list(TRAJECTORY_FEATURES))
    columns = [v.columns() for v in verdicts]
    extra = (
        Dataset.from_list(columns, features=VERIFICATION_FEATURES).data.table
        if columns
        else Dataset.from_dict(
            {k: [] for k in VERIFICATION_FEATURES}, features=VERIFICATION_FEATURES
        ).data.table
    )
    for name in VERIFICATION_FEATURES:
        base = base.append_column(extra.schema.field(name), extra.column(name))
    return base.replace_schema_metadata(verified_features().arrow_schema.metadata)


def _reads_metadata(name: Any) -> bool:
    """Whether a domain's rows need their `metadata` decoded (unknown domains: yes)."""
    try:
        return get_domain(name).reads_metadata
    except DomainError:
        return True


def _families(table: Any) -> list[str]:
    """The family of every row as its domain reads it ("(none)" when absent), for the
    per-family summary."""
    domains = table.column("domain").to_pylist()
    metadata = table.column("metadata").to_pylist()
    return [family_of(d, m) or "(none)" for d, m in zip(domains, metadata, strict=True)]


def verify_dataset(
    ref: str,
    *,
    store: Any = None,
    config: VerifyConfig | None = None,
    name: str | None = None,
    command: str | None = None,
    progress: bool = False,
) -> VerifySummary:
    """Verify a store version and write the kept rows as a new version.

    Args:
        ref: the input version (`NAME`, `NAME@vN`).
        store: the `Store` (default: `Store()`).
        config: options (`VerifyConfig`).
        name: dataset to write to (default: the input's name); the new version's parent is the
            input reference, its lineage the input's plus a `verify` block (options, counts).
        command: the command line recorded in the manifest.
        progress: show a progress bar.

    Returns:
        A `VerifySummary`.
    """

    from mentor_data.store import Store

    config = config or VerifyConfig()
    store = store or Store()
    info = store.resolve(ref)
    table = store.load_table(info)
    with tool_session(domain=config.domain, tools=config.tools, mcp=config.mcp):
        return _verify_version(store, info, table, config, name, command, progress)


def _verify_version(
    store: Any,
    info: Any,
    table: Any,
    config: VerifyConfig,
    name: str | None,
    command: str | None,
    progress: bool,
) -> VerifySummary:
    import pyarrow as pa

    from mentor_data.schema import verified_features

    started = time.perf_counter()
    verdicts = verify_table(table, config, progress=progress)
    seconds = time.perf_counter() - started
    selection = select_rows(
        verdicts,
        table.column("problem_id").to_pylist(),
        table.column("sample_id").to_pylist(),
        keep=config.keep,
        dedupe=config.dedupe,
        per_problem=config.per_problem,
    )
    counts = Counter(v.reason for v in verdicts)
    codes = reason_codes(set(table.column("domain").to_pylist()) - {None})
    reasons = {r: counts.get(r, 0) for r in (*codes, *sorted(set(counts) - set(codes)))}
    verified = add_verification_columns(table, verdicts)
    # Typed indices: an empty Python list would be Arrow `null`, which `take` refuses.
    kept = verified.take(pa.array(selection.indices, type=pa.int64()))
    summary = VerifySummary(
        input_ref=info.ref,
        output_ref=None,
        rows=len(verdicts),
        kept=kept.num_rows,
        reasons=reasons,
        dropped_by_keep=selection.dropped_by_keep,
        dropped_duplicates=selection.dropped_duplicates,
        dropped_per_problem=selection.dropped_per_problem,
        uncompared_calls=sum(v.uncompared_calls for v in verdicts),
        seconds=seconds,
        workers=_workers_for(len(verdicts), config),
    )
    by_family: dict[str, dict[str, int]] = {}
    for family, verdict in zip(_families(table), verdicts, strict=True):
        counts_f = by_family.setdefault(family, {"rows": 0, "passed": 0})
        counts_f["rows"] += 1
        counts_f["passed"] += verdict.verified
    lineage = dict(store.manifest(info).get("lineage") or {})
    lineage["verify"] = {
        "input": info.ref,
        "keep": config.keep,
        "dedupe": config.dedupe,
        "per_problem": config.per_problem,
        "min_calls": config.min_calls,
        "rows": summary.rows,
        "kept": summary.kept,
        "reasons": reasons,
        "by_family": dict(sorted(by_family.items())),
        "dropped_duplicates": summary.dropped_duplicates,
        "dropped_per_problem": summary.dropped_per_problem,
        "uncompared_calls": summary.uncompared_calls,
        **describe_specs(config.domain, config.tools, config.mcp),
        "rel_tol": REL_TOL,
        "abs_tol": ABS_TOL,
    }
    out = store.write_version(
        name or info.name,
        kept,
        features=verified_features(),
        command=command,
        parent=info.ref,
        lineage=lineage,
    )
    summary.output_ref = out.ref
    logger.info(
        "verified %s: %d/%d ok, wrote %s (%d rows)",
        info.ref,
        summary.passed,
        summary.rows,
        out.ref,
        summary.kept,
    )
    return summary
