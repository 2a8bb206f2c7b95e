"""`mentor-data`: a thin Typer layer over the mentor_data library (generate, verify, store, tools)."""

from __future__ import annotations

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
        help="Store folder holding NAME/vNNNN datasets [default: ./data, or $MENTOR_DATA_DIR].",
    ),
]


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
    for key, value in ctx.params.items():
        if value is not None and value is not False:
            flag = "--" + key.replace("_", "-")
            words += [flag] if value is True else [flag, str(value)]
    return shlex.join(words)


# -- store -------------------------------------------------------------------------------------
@app.command("ls")
def ls_cmd(data_dir: DataDir = None) -> None:
    """List datasets and their versions (rows, created, parent, command)."""
    from rich.console import Console
    from rich.table import Table

    store = _store(data_dir)
    table = Table("dataset", "version", "rows", "created", "parent", "command")
    for name in store.names():
        for v in store.versions(name):
            m = store.manifest(f"{name}@v{v}")
            table.add_row(name, f"v{v}", str(m["rows"]), m["created_at"], m.get("parent") or "",
                          (m.get("command") or "")[:60])
    if not table.rows:
        typer.echo(f"no datasets in {store.root}")
        return
    Console().print(table)


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
    path: Annotated[Path, typer.Argument(help="JSONL file: one {id, question, answer, messages} per line.")],
    name: Annotated[str, typer.Option("--name", help="Dataset name to write a new version of.")],
    domain: Annotated[str, typer.Option(help="Value of the domain column.")] = "arithmetic",
    tools: Annotated[str, typer.Option(help="Tool registry offered on rows without a 'tools' field.")] = "arithmetic",
    model: Annotated[str | None, typer.Option(help="Teacher model recorded on rows without a 'model' field.")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Import the valid rows and report the invalid ones instead of failing.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Import chat-format trajectories (tool_calls or <tool_call> text) as a new version."""
    from mentor_data.ingest import import_jsonl
    from mentor_data.store import StoreError
    from mentor_data.tools import get_registry

    try:
        result = import_jsonl(path, name, store=_store(data_dir), domain=domain,
                              tools=get_registry(tools).schemas(), model=model,
                              skip_invalid=skip_invalid, command=_command_line(ctx))
    except (StoreError, ValueError) as exc:
        _fail(str(exc))
    for err in result.skipped:
        typer.secho(f"skipped {err}", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"imported {result.rows} rows into {result.version.ref} ({result.version.path})")


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
) -> None:
    """List the tools: name, description and parameters (`?` marks an optional one)."""
    from rich.console import Console
    from rich.table import Table

    tools = _tool_registry(registry)
    if as_json:
        typer.echo(json.dumps(tools.schemas(), indent=2, ensure_ascii=False))
        return
    table = Table("name", "description", "parameters")
    for tool in tools:
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
) -> None:
    """Call a tool; print {"ok", "output"} or {"ok", "error", "code"} as one JSON line.

    Exit code: 0 on a result, 1 on a tool error, 2 on bad usage (e.g. JSON_ARGS not a JSON object).
    """
    from mentor_data.tools import execute, execute_batch

    tools = _tool_registry(registry)
    if batch is not None:
        if name is not None:
            raise typer.BadParameter("give either NAME JSON_ARGS or --batch FILE, not both")
        if str(batch) != "-" and not batch.is_file():
            raise typer.BadParameter(f"no such file: {batch}", param_hint="--batch")
        calls = errors = 0
        for result in execute_batch(_text_lines(batch), tools):
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
    result = execute(name, parsed, tools)
    typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
    raise typer.Exit(0 if result.ok else 1)


if __name__ == "__main__":
    app()
