"""`mentor-data`: a thin Typer layer over mentor_data (store, tools, generate, verify, export)."""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

app = typer.Typer(
    name="mentor-data",
    help="Make, verify and manage versioned datasets of tool-use trajectories.",
    no_args_is_help=True,
    add_completion=False,
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="MENTOR_DATA_DIR",
        help="Store folder holding NAME/vNNNN datasets (default: ./data, or $MENTOR_DATA_DIR).",
    ),
]


DomainSpec = Annotated[
    str | None,
    typer.Option(
        "--domain",
        help="Your domain: pkg.module:attr or path/file.py:attr (a mentor Domain), or the name "
        "of a built-in or installed one (arithmetic, bfcl). See docs/domains.md.",
    ),
]
ToolSpecs = Annotated[
    list[str] | None,
    typer.Option(
        "--tools",
        help="Your Python tools: pkg.module or path/tools.py, optionally :name1,name2 to pick "
        "functions (typed, with Google-style docstrings). Repeatable.",
    ),
]
McpSpecs = Annotated[
    list[str] | None,
    typer.Option(
        "--mcp",
        help="An MCP server whose tools to offer: 'COMMAND ARGS' (stdio) or an http(s):// URL "
        "(streamable HTTP). Repeatable.",
    ),
]


@contextlib.contextmanager
def _session(domain: str | None, tools: list[str] | None, mcp: list[str] | None):
    """`tool_session` for a command; a bad spec ends it with exit code 2 and the fix."""
    from mentor_data.domains import DomainError
    from mentor_data.domains.session import tool_session

    try:
        with tool_session(domain=domain, tools=tools or (), mcp=mcp or ()) as active:
            yield active
    except DomainError as exc:
        _fail(str(exc), 2)


def _store(data_dir: Path | None):
    from mentor_data.store import Store

    return Store(data_dir)


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _command_line(ctx: typer.Context | None = None) -> str:
    """The command that is running, recorded in manifests so a version says how it was made.

    Pass the command's `ctx` so the line is right when called in-process (tests, notebooks),
    where sys.argv is not ours: it is then rebuilt from the parsed parameters.
    """
    if Path(sys.argv[0]).name == "mentor-data" or ctx is None:
        return shlex.join(["mentor-data", *sys.argv[1:]])
    words = ["mentor-data", *ctx.command_path.split()[1:]]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        source = ctx.get_parameter_source(param.name)
        if value is None or value is False or getattr(source, "name", "") != "COMMANDLINE":
            continue  # defaults and environment values are not part of what was typed
        if param.param_type_name == "argument":
            words.append(str(value))
        else:
            flag = param.opts[0] if getattr(param, "opts", None) else "--" + param.name
            words += [flag] if value is True else [flag, str(value)]
    return shlex.join(words)


# -- store -------------------------------------------------------------------------------------
@app.command("ls")
def ls_cmd(data_dir: DataDir = None) -> None:
    """List datasets and versions (rows, created, parent, command), broken versions, drafts."""
    from rich.console import Console
    from rich.table import Table

    from mentor_data.store import ManifestError

    store = _store(data_dir)
    table = Table("dataset", "version", "rows", "created", "parent", "command")
    broken = []
    for name in store.names():
        for v in store.versions(name):
            try:
                m = store.manifest(f"{name}@v{v}")
            except ManifestError as exc:
                broken.append(exc)
                table.add_row(name, f"v{v}", "-", "", "", "broken (see below)")
                continue
            table.add_row(
                name,
                f"v{v}",
                str(m["rows"]),
                str(m.get("created_at") or ""),
                m.get("parent") or "",
                (m.get("command") or "")[:60],
            )
    drafts = store.drafts()
    if not table.rows:
        typer.echo(f"no datasets in {store.root}")
    else:
        Console().print(table)
    for exc in broken:
        typer.echo(f"broken: {exc}")
    for d in drafts:
        state = "in use by a running command" if d.in_use else "orphaned"
        typer.echo(f"draft: {d.label} ({_age(d.age_s)} old, {_size(d.bytes)}, {state})")
    if any(not d.in_use for d in drafts):
        typer.echo(
            "orphaned drafts are left by killed runs (rerunning the same generate resumes "
            "its draft); `mentor-data drafts --remove` deletes them"
        )


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


@app.command("drafts")
def drafts_cmd(
    remove: Annotated[
        bool,
        typer.Option(
            "--remove",
            help="Delete the drafts no running command holds (a generate draft is what a rerun "
            "of the same command resumes from).",
        ),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """List unfinished drafts (NAME/.draft-ID, left by killed runs) with their age and size.

    Exit code: 0, or 1 when --remove had to keep a draft a running command holds."""
    store = _store(data_dir)
    if not remove:
        drafts = store.drafts()
        if not drafts:
            typer.echo(f"no drafts in {store.root}")
        for d in drafts:
            state = "in use by a running command" if d.in_use else "orphaned"
            typer.echo(f"{d.path}  {_age(d.age_s)} old  {_size(d.bytes)}  {state}")
        return
    removed, refused = store.remove_drafts()
    if not removed and not refused:
        typer.echo(f"no drafts in {store.root}")
    for d in removed:
        typer.echo(f"removed {d.path} ({_size(d.bytes)})")
    if refused:
        _fail(
            "kept drafts in use by a running command: "
            + ", ".join(str(d.path) for d in refused)
            + "; wait for it to finish or stop it, then run `mentor-data drafts --remove` again"
        )


@app.command("show")
def show_cmd(
    ref: Annotated[str, typer.Argument(help="Dataset reference: NAME, NAME@latest or NAME@vN.")],
    rows: Annotated[int, typer.Option("--rows", "-n", help="How many rows to print.")] = 2,
    data_dir: DataDir = None,
) -> None:
    """Print a version's manifest and its first rows."""
    from mentor_data.store import StoreError

    store = _store(data_dir)
    try:
        info = store.resolve(ref)
        typer.echo(json.dumps(store.manifest(info), indent=2, ensure_ascii=False))
        for i, row in enumerate(store.iter_rows(info)):
            if i >= rows:
                break
            typer.echo(json.dumps(row, ensure_ascii=False, default=str))
    except StoreError as exc:
        _fail(str(exc))


@app.command("import")
def import_cmd(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help="JSONL file: one {id, question, answer, messages} per line.")
    ],
    name: Annotated[str, typer.Option("--name", help="Dataset name to write a new version of.")],
    domain: DomainSpec = None,
    tools: ToolSpecs = None,
    mcp: McpSpecs = None,
    model: Annotated[
        str | None, typer.Option(help="Teacher model recorded on rows without a 'model' field.")
    ] = None,
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="Import the valid rows and report the invalid ones instead of failing.",
        ),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Import chat-format trajectories (tool_calls or <tool_call> text) as a new version.

    Rows get the domain of --domain (or `tools` with --tools/--mcp, else arithmetic); rows
    without a 'tools' field are offered that domain's tools."""
    from mentor_data.ingest import import_jsonl
    from mentor_data.store import StoreError

    with _session(domain, tools, mcp) as active:
        try:
            result = import_jsonl(
                path,
                name,
                store=_store(data_dir),
                domain=active.name,
                tools=active.default_tools(),
                model=model,
                skip_invalid=skip_invalid,
                command=_command_line(ctx),
            )
        except (StoreError, ValueError) as exc:
            _fail(str(exc))
    for err in result.skipped:
        typer.secho(f"skipped {err}", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"imported {result.rows} rows into {result.version.ref} ({result.version.path})")


# -- verify, export, stats, card, publish ------------------------------------------------------
VersionRef = Annotated[str, typer.Argument(help="Dataset reference: NAME, NAME@latest or NAME@vN.")]


@app.command("verify")
def verify_cmd(
    ctx: typer.Context,
    ref: VersionRef,
    keep: Annotated[
        str | None, typer.Option(help="Rows to write: passed, failed or all (default: passed).")
    ] = None,
    dedupe: Annotated[
        bool,
        typer.Option(
            "--dedupe",
            help="Drop rows of a problem with the same calls (names + arguments) and answer.",
        ),
    ] = False,
    per_problem: Annotated[
        int | None,
        typer.Option(
            help="Keep the K best rows per problem (verified, fewest calls, lowest sample_id)."
        ),
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Processes (default: all cores).")] = None,
    judge_timeout: Annotated[
        float | None, typer.Option(help="Seconds per answer check (default: 5).")
    ] = None,
    min_calls: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Tool calls a row needs to pass, else no_tool_call (default: the domain's: "
            "1, BFCL 0; 0 keeps rows that answered without tools).",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="Dataset to write (default: the input's name, as a new version)."),
    ] = None,
    domain: DomainSpec = None,
    tools: ToolSpecs = None,
    mcp: McpSpecs = None,
    data_dir: DataDir = None,
) -> None:
    """Check every trajectory (structure, re-executed calls, answer); write a verified version.

    Rows of your own domain or tools need the same --domain/--tools/--mcp as generate: every
    recorded call is re-executed, and a call no loaded tool implements fails as tool_not_loaded."""
    from rich.console import Console
    from rich.table import Table

    from mentor_data.domains import DomainError
    from mentor_data.store import StoreError
    from mentor_data.verify import VerifyConfig, verify_dataset

    given = {
        "keep": keep,
        "per_problem": per_problem,
        "workers": workers,
        "judge_timeout_s": judge_timeout,
        "min_calls": min_calls,
        "domain": domain,
        "tools": tools,
        "mcp": mcp,
    }
    try:
        config = VerifyConfig(dedupe=dedupe, **{k: v for k, v in given.items() if v is not None})
        s = verify_dataset(
            ref,
            store=_store(data_dir),
            config=config,
            name=name,
            command=_command_line(ctx),
            progress=True,
        )
    except DomainError as exc:
        _fail(str(exc), 2)
    except (StoreError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"{s.input_ref}: {s.passed}/{s.rows} verified")
    table = Table("reason", "rows", "%")
    for reason, n in s.reasons.items():
        if n:
            table.add_row(reason, str(n), f"{100 * n / max(s.rows, 1):.1f}")
    Console().print(table)
    rate = s.rows / max(s.seconds, 1e-9) / s.workers
    typer.echo(
        f"kept {s.kept} rows -> {s.output_ref} (dropped {s.dropped_by_keep} by --keep, "
        f"{s.dropped_duplicates} duplicates, {s.dropped_per_problem} over --per-problem; "
        f"{s.seconds:.1f} s, {rate:,.0f} rows/s per worker, {s.workers} workers)"
    )
    if s.reasons.get("tool_not_loaded"):
        typer.secho(
            f"warning: {s.reasons['tool_not_loaded']} rows call tools that are not loaded; pass "
            "the --tools/--mcp/--domain that generated them",
            fg=typer.colors.YELLOW,
            err=True,
        )
    if s.reasons.get("no_tool_call"):
        typer.secho(
            f"warning: {s.reasons['no_tool_call']} rows reached the answer without calling a "
            "tool and were not verified (no_tool_call); --min-calls 0 keeps them",
            fg=typer.colors.YELLOW,
            err=True,
        )


@app.command("export")
def export_cmd(
    ctx: typer.Context,
    ref: VersionRef,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="Training view: grpo (prompt, answer, teacher targets) or sft (messages, tools).",
        ),
    ],
    out: Annotated[
        Path | None, typer.Option(help="Write OUT/train.parquet instead of a store version.")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Store dataset to write (default: NAME-FORMAT).")
    ] = None,
    include_failed: Annotated[
        bool, typer.Option("--include-failed", help="Export rows that failed verification too.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Export a verified version as GRPO or SFT training rows."""
    from mentor_data.export import export_version
    from mentor_data.store import StoreError

    if out is not None and name is not None:
        raise typer.BadParameter("give --out or --name, not both")
    try:
        result = export_version(
            ref,
            fmt,
            store=_store(data_dir),
            out=out,
            name=name,
            include_failed=include_failed,
            command=_command_line(ctx),
        )
    except (StoreError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"exported {result.rows} {fmt} rows -> {result.path or result.ref}")


@app.command("stats")
def stats_cmd(
    ref: VersionRef,
    as_json: Annotated[bool, typer.Option("--json", help="Print the statistics as JSON.")] = False,
    plot: Annotated[
        Path | None,
        typer.Option(help="Also draw the tool distribution and pass rates into this PNG."),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Rows, pass rates by family and reason, tool distribution, calls, turns, tokens, latency."""
    from mentor_data.stats import plot_stats, version_stats
    from mentor_data.store import StoreError

    try:
        stats = version_stats(ref, store=_store(data_dir))
    except StoreError as exc:
        _fail(str(exc))
    if plot is not None:
        plot_stats(stats, plot)
    if as_json:
        typer.echo(json.dumps(stats, indent=2))
        return
    rate = "not verified" if stats["pass_rate"] is None else f"{stats['pass_rate']:.1%} verified"
    typer.echo(f"{stats['ref']}: {stats['rows']} rows, {rate}")
    for key in (
        "reasons",
        "by_family",
        "finish_reasons",
        "tools",
        "calls_histogram",
        "turns_histogram",
        "tokens",
        "latency_s",
    ):
        typer.echo(f"{key}: {json.dumps(stats[key])}")
    if plot is not None:
        typer.echo(f"plot -> {plot}")


CardLicense = Annotated[
    str | None,
    typer.Option(help="License id for the Hub card: apache-2.0 (default), cc-by-4.0, other, ..."),
]


@app.command("card")
def card_cmd(
    ref: VersionRef,
    out: Annotated[
        Path | None, typer.Option(help="Card file (default: data_cards/NAME.md).")
    ] = None,
    license: CardLicense = None,
    pretty_name: Annotated[
        str | None, typer.Option(help="Display name (default: the dataset name).")
    ] = None,
    repo_id: Annotated[
        str | None, typer.Option(help="Hub repository shown in the loading example.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Write a Hugging Face dataset card (YAML header + lineage, verification, tools)."""
    from mentor_data.cards import write_card
    from mentor_data.store import StoreError

    try:
        path = write_card(
            ref,
            out,
            store=_store(data_dir),
            license=license,
            pretty_name=pretty_name,
            repo_id=repo_id,
        )
    except StoreError as exc:
        _fail(str(exc))
    typer.echo(f"wrote {path}")


@app.command("publish")
def publish_cmd(
    ref: VersionRef,
    repo_id: Annotated[
        str, typer.Option(help="Hub dataset repository, ORG/NAME (created when missing).")
    ],
    private: Annotated[
        bool, typer.Option("--private", help="Create the repository private.")
    ] = False,
    revision: Annotated[
        str | None, typer.Option(help="Branch to commit to (default: the main branch).")
    ] = None,
    dry_run: Annotated[
        Path | None,
        typer.Option(help="Write the folder that would be uploaded here; upload nothing."),
    ] = None,
    license: CardLicense = None,
    data_dir: DataDir = None,
) -> None:
    """Upload a version's Parquet shards and card to the Hub: one commit and a tag vN."""
    from mentor_data.hub import HubError, RepoIdError, check_repo_id, publish, write_upload_folder
    from mentor_data.store import StoreError

    try:
        check_repo_id(repo_id)
    except RepoIdError as exc:
        _fail(str(exc), 2)
    try:
        if dry_run is not None:
            r = write_upload_folder(
                ref, dry_run, store=_store(data_dir), repo_id=repo_id, license=license
            )
            typer.echo(f"dry run: {len(r.files)} files of {r.ref} -> {r.folder}")
            return
        r = publish(
            ref,
            repo_id,
            store=_store(data_dir),
            private=private,
            revision=revision,
            license=license,
        )
    except (StoreError, FileExistsError, HubError) as exc:
        _fail(str(exc))
    typer.echo(
        f"published {r.ref} to {r.repo_id}: {r.commit_url}" + (f" (tag {r.tag})" if r.tag else "")
    )


# -- tools -------------------------------------------------------------------------------------
tools_app = typer.Typer(
    help="List the tools and call them through the safe executor.", no_args_is_help=True
)
app.add_typer(tools_app, name="tools")

RegistryName = Annotated[
    str, typer.Option("--registry", help="Tool registry to use (known: arithmetic).")
]


def _tool_registry(name: str):
    from mentor_data.tools import get_registry

    try:
        return get_registry(name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--registry") from exc


def _text_lines(path: Path):
    """The lines of a text file, or of stdin for "-", without line endings."""
    if str(path) == "-":
        yield from (line.rstrip("\r\n") for line in sys.stdin)
        return
    # errors="replace": a bad byte becomes a bad JSON line with its own error, not a crash.
    with path.open(encoding="utf-8", errors="replace") as f:
        yield from (line.rstrip("\r\n") for line in f)


@tools_app.command("list")
def tools_list_cmd(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the OpenAI function schemas as JSON.")
    ] = False,
    registry: RegistryName = "arithmetic",
    domain: DomainSpec = None,
    tools: ToolSpecs = None,
    mcp: McpSpecs = None,
) -> None:
    """List the tools: name, description and parameters (`?` marks an optional one).

    With --domain, --tools or --mcp: the tools they bring (else the --registry's)."""
    from rich.console import Console
    from rich.table import Table

    with _session(domain, tools, mcp) as active:
        listed = _session_tools(active, registry, domain, tools, mcp)
        if as_json:
            typer.echo(json.dumps(listed.schemas(), indent=2, ensure_ascii=False))
            return
        table = Table("name", "description", "parameters")
        for tool in listed:
            table.add_row(tool.name, tool.description, tool.signature.partition("(")[2][:-1])
        Console().print(table)


@tools_app.command("call")
def tools_call_cmd(
    name: Annotated[
        str | None, typer.Argument(metavar="NAME", help="Tool name, e.g. multiply.")
    ] = None,
    arguments: Annotated[
        str,
        typer.Argument(
            metavar="JSON_ARGS", help='Arguments as a JSON object: \'{"a": 3, "b": 12}\'.'
        ),
    ] = "{}",
    batch: Annotated[
        Path | None,
        typer.Option(
            "--batch",
            help='JSONL file of {"name": ..., "arguments": {...}} lines, "-" for stdin: one result '
            "line per input line, exit 0 unless the file cannot be read.",
        ),
    ] = None,
    registry: RegistryName = "arithmetic",
    domain: DomainSpec = None,
    tools: ToolSpecs = None,
    mcp: McpSpecs = None,
) -> None:
    """Call a tool; print {"ok", "output"} or {"ok", "error", "code"} as one JSON line.

    With --domain, --tools or --mcp: their tools, in one fresh environment of the domain (a
    stateful domain's calls of one --batch share its state).
    Exit code: 0 on a result, 1 on a tool error, 2 on bad usage (e.g. JSON_ARGS not a JSON object).
    """
    with _session(domain, tools, mcp) as active:
        listed = _session_tools(active, registry, domain, tools, mcp)
        from mentor_data.domains import ToolEnv

        env = active.environment({"tools": listed.schemas(), "metadata": {}})
        _call_tools(name, arguments, batch, ToolEnv(listed) if env is None else env)


def _session_tools(active, registry: str, domain, tools, mcp):
    """The tools a `tools` command shows: the session's (domain and user tools), else the
    --registry's."""
    from mentor_data.domains import extra_tools
    from mentor_data.tools import PYTHON, ToolRegistry

    if not (domain or tools or mcp):
        return _tool_registry(registry)
    own = active.tools()
    user = [t for t in extra_tools() if t.name not in own and t.name not in PYTHON]
    return ToolRegistry([*own, *user])


def _call_tools(name, arguments, batch, env) -> None:
    """Run one call (or a --batch file) in `env` and print the results."""
    from mentor_data.tools import execute_batch

    if batch is not None:
        if name is not None:
            raise typer.BadParameter("give either NAME JSON_ARGS or --batch FILE, not both")
        from mentor_data.ingest import input_file_problem

        # Any readable non-directory: a file, a FIFO, /dev/stdin, /dev/fd/N.
        problem = None if str(batch) == "-" else input_file_problem(batch)
        if problem is not None:
            raise typer.BadParameter(problem, param_hint="--batch")
        calls = errors = 0
        for result in execute_batch(_text_lines(batch), run=env.run):
            typer.echo(json.dumps(result, ensure_ascii=False))
            calls, errors = calls + 1, errors + (not result["ok"])
        typer.echo(f"{calls} calls, {errors} errors", err=True)
        return
    if name is None:
        raise typer.BadParameter("missing NAME (or give --batch FILE)", param_hint="NAME")
    try:
        parsed = json.loads(arguments)
    except ValueError as exc:
        raise typer.BadParameter(f"not valid JSON ({exc})", param_hint="JSON_ARGS") from exc
    if not isinstance(parsed, dict):
        example = '{"a": 3, "b": 12}'
        raise typer.BadParameter(f"must be a JSON object, e.g. '{example}'", param_hint="JSON_ARGS")
    result = env.run(name, parsed)
    typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
    raise typer.Exit(0 if result.ok else 1)


# -- generate, problems ------------------------------------------------------------------------
ProblemFields = {
    "id_field": typer.Option(help="Field holding the problem id in files (default: id)."),
    "question_field": typer.Option(help="Field holding the question (default: question)."),
    "answer_field": typer.Option(help="Field holding the answer (default: answer)."),
}


@app.command("generate")
def generate_cmd(
    ctx: typer.Context,
    problems: Annotated[
        str,
        typer.Option(
            help=(
                "Problems: builtin:FAMILY[,FAMILY...] or builtin:in_domain|held_out|all, "
                "optionally with ?n=N&offset=K&seed=S; bfcl:CATEGORY[,...] (function calling, "
                "with ?split=train|held_out|all&n=N&offset=K); a .jsonl/.json/.parquet/.csv "
                "file; a save_to_disk folder; or a store reference NAME@vN."
            )
        ),
    ],
    name: Annotated[str, typer.Option(help="Dataset name; the run writes its next version.")],
    teacher: Annotated[
        str | None,
        typer.Option(
            help="Teacher backend: solver (reference programs, metadata.program), oracle (BFCL "
            "ground truth), openai, vllm or hf (default: solver)."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model: API model name (openai), name or path (vllm), local folder (hf)."
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (openai)."),
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(
            help="Environment variable with the API key (default: OPENAI_API_KEY); not needed "
            "with --base-url."
        ),
    ] = None,
    samples_per_problem: Annotated[
        int | None, typer.Option(help="Attempts per problem (default: 1).")
    ] = None,
    temperature: Annotated[
        float | None, typer.Option(help="Sampling temperature (default: 0.7).")
    ] = None,
    top_p: Annotated[float | None, typer.Option(help="Nucleus sampling (default: 1.0).")] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="Token limit of one assistant turn (default: 1024).")
    ] = None,
    max_turns: Annotated[
        int | None, typer.Option(help="Limit on assistant turns per conversation (default: 6).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed (default: 0).")] = None,
    system_prompt: Annotated[
        Path | None,
        typer.Option(help="File with the system prompt (default: the built-in tool-use prompt)."),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Use only the first N problems.")] = None,
    concurrency: Annotated[
        int | None, typer.Option(help="Requests in flight (openai) (default: 16).")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="Conversations per generation call (vllm, hf, solver) (default: per backend)."
        ),
    ] = None,
    tool_format: Annotated[
        str | None,
        typer.Option(
            help="native (tools= / tool_calls) or text (<tool_call> tags in the prompt and the "
            "reply, for servers without a tool parser) (default: native)."
        ),
    ] = None,
    request_timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds per API request before it is retried (default: 120); raise it for a "
            "slow local server."
        ),
    ] = None,
    extra_body: Annotated[
        str | None,
        typer.Option(
            help="A JSON object merged into every request body (openai), e.g. "
            '\'{"tool_choice": "required"}\' or a server\'s "grammar".'
        ),
    ] = None,
    max_retries: Annotated[
        int | None,
        typer.Option(help="Retries on 429, 5xx, timeouts and dropped connections (default: 5)."),
    ] = None,
    tensor_parallel_size: Annotated[
        int | None, typer.Option(help="GPUs per vLLM engine (default: 1).")
    ] = None,
    engine_arg: Annotated[
        list[str] | None,
        typer.Option(
            "--engine-arg",
            help="A vllm.LLM argument of the vllm teacher, KEY=VALUE (a YAML scalar or JSON). "
            "Repeatable: on CPU e.g. --engine-arg enforce_eager=true --engine-arg dtype=float32.",
        ),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            help="Device of the hf teacher, e.g. cpu or cuda (default: cuda if available)."
        ),
    ] = None,
    id_field: Annotated[str | None, ProblemFields["id_field"]] = None,
    question_field: Annotated[str | None, ProblemFields["question_field"]] = None,
    answer_field: Annotated[str | None, ProblemFields["answer_field"]] = None,
    shard_rows: Annotated[
        int | None, typer.Option(help="Rows per shard written as the run goes (default: 1000).")
    ] = None,
    domain: DomainSpec = None,
    tools: ToolSpecs = None,
    mcp: McpSpecs = None,
    data_dir: DataDir = None,
) -> None:
    """Generate tool-use trajectories with a teacher into a new version (resumable: re-run the
    same command after a crash to continue)."""
    from rich.console import Console
    from rich.table import Table

    from mentor_data.domains import DomainError
    from mentor_data.generate import GenerateConfig, GenerationAborted, generate
    from mentor_data.store import StoreError
    from mentor_data.teachers import GenerationConfig
    from mentor_data.teachers.vllm_teacher import VLLMStartError, parse_engine_args

    def given(**kwargs):
        return {k: v for k, v in kwargs.items() if v is not None}

    try:
        prompt = None
        if system_prompt is not None:
            prompt = system_prompt.read_text(encoding="utf-8").strip()
        body = None
        if extra_body is not None:
            try:
                body = json.loads(extra_body)
            except ValueError as exc:
                _fail(f"--extra-body is not valid JSON ({exc}): {extra_body!r}", 2)
            if not isinstance(body, dict):
                _fail(
                    f'--extra-body must be a JSON object, e.g. \'{{"tool_choice": "required"}}\''
                    f", not {extra_body!r}",
                    2,
                )
        try:
            engine_kwargs = parse_engine_args(engine_arg or [])
        except ValueError as exc:
            _fail(str(exc), 2)
        gen = GenerationConfig(
            **given(
                samples_per_problem=samples_per_problem,
                temperature=temperature,
                top_p=top_p,
                max_tokens=max_tokens,
                max_turns=max_turns,
                seed=seed,
                system_prompt=prompt,
                tool_format=tool_format,
                concurrency=concurrency,
                batch_size=batch_size,
                request_timeout_s=request_timeout,
                max_retries=max_retries,
                extra_body=body,
            )
        )
        config = GenerateConfig(
            problems=problems,
            name=name,
            generation=gen,
            **given(
                teacher=teacher,
                model=model,
                base_url=base_url,
                api_key_env=api_key_env,
                tensor_parallel_size=tensor_parallel_size,
                engine_kwargs=engine_kwargs or None,
                device=device,
                limit=limit,
                id_field=id_field,
                question_field=question_field,
                answer_field=answer_field,
                shard_rows=shard_rows,
                domain=domain,
                tools=tools,
                mcp=mcp,
            ),
        )
        r = generate(config, store=_store(data_dir), command=_command_line(ctx))
    except DomainError as exc:
        _fail(str(exc), 2)
    except (OSError, StoreError, ValueError, ImportError, GenerationAborted, VLLMStartError) as exc:
        _fail(str(exc))
    table = Table("finish reason", "rows", "%", title=f"{r.version.ref}: {r.rows} rows")
    for reason, n in sorted(r.finish_reasons.items(), key=lambda kv: -kv[1]):
        table.add_row(reason, str(n), f"{100 * n / max(r.rows, 1):.1f}")
    Console().print(table)
    by_reason = ", ".join(f"{k}: {v}" for k, v in sorted(r.retries_by_reason.items()))
    typer.echo(
        f"wrote {r.version.ref} ({r.version.path}): {r.new_rows} new rows, {r.resumed_rows} "
        f"resumed; tokens {r.prompt_tokens:,} prompt + {r.completion_tokens:,} completion; "
        f"{r.retries} retries{f' ({by_reason})' if by_reason else ''}; {r.elapsed_s:.1f} s"
    )
    if r.served_models and set(r.served_models) != {model}:
        typer.echo(f"served by: {', '.join(sorted(r.served_models))} (requested {model})")
    for warning in r.warnings:
        typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)


@app.command("problems")
def problems_cmd(
    spec: Annotated[
        str | None,
        typer.Argument(
            help="Problem spec to preview, as for generate --problems; omit it to list the "
            "built-in families."
        ),
    ] = None,
    n: Annotated[int, typer.Option("--n", "-n", help="How many problems to print.")] = 3,
    id_field: Annotated[str | None, ProblemFields["id_field"]] = None,
    question_field: Annotated[str | None, ProblemFields["question_field"]] = None,
    answer_field: Annotated[str | None, ProblemFields["answer_field"]] = None,
    domain: DomainSpec = None,
    data_dir: DataDir = None,
) -> None:
    """List the built-in problem families, or load a problem spec and print its first problems
    (--domain: a domain whose problems or problem prefix the spec names)."""
    from rich.console import Console
    from rich.table import Table

    from mentor_data.problems import FAMILIES, load_problems

    if spec is None:
        table = Table("family", "split", "tools", "description")
        for family in FAMILIES.values():
            table.add_row(family.name, family.split, ", ".join(family.tools), family.description)
        Console().print(table)
        return
    fields = {
        k: v
        for k, v in {
            "id_field": id_field,
            "question_field": question_field,
            "answer_field": answer_field,
        }.items()
        if v is not None
    }
    with _session(domain, None, None):
        try:
            found = load_problems(spec, store=_store(data_dir), **fields)
        except ValueError as exc:
            _fail(str(exc))
    for p in found[:n]:
        meta = p.metadata if isinstance(p.metadata, dict) else {}
        typer.echo(
            json.dumps(
                {
                    "id": p.id,
                    "question": p.question,
                    "answer": p.answer,
                    "source": p.source,
                    "family": meta.get("family"),
                    "split": meta.get("split"),
                    "n_steps": meta.get("n_steps"),
                },
                ensure_ascii=False,
            )
        )
    typer.echo(f"{len(found)} problems")


if __name__ == "__main__":
    app()
