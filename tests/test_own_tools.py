"""A user's own tools, end to end through the real commands: a tools module and a problems file
that no code of mentor knows, then an MCP server started over stdio, then the bad inputs.

tools list/call -> generate (openai teacher, the local fake server) -> verify (a tampered
observation rejected, nothing passed without the tools) -> export -> reward (a tool the row does
not offer loses the no-hallucination term) -> a short GRPO -> eval.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mentor_data.cli import app as data_app
from mentor_data.domains import DomainError
from mentor_data.domains.session import tool_session
from mentor_data.problems import load_problems
from mentor_data.store import Store
from mentor_train.cli import app as train_app
from tests.fake_openai_server import FakeOpenAIServer
from tests.train_helpers import CPU, tiny_student  # noqa: F401

TOOLS = '''"""A shop's own tools (a user module that mentor does not know)."""

PRICES = {"pen": 1.5, "notebook": 4.25, "stapler": 12.0}


def unit_price(item: str) -> float:
    """The unit price of an item in the shop.

    Args:
        item: The item name, e.g. "pen".
    """
    if item not in PRICES:
        raise KeyError(f"no item {item!r}; known: {', '.join(PRICES)}")
    return PRICES[item]


def order_total(price: float, qty: int) -> float:
    """The total of an order line.

    Args:
        price: The unit price.
        qty: How many units.
    """
    return round(price * qty, 2)
'''

ORDERS = [("pen", 4), ("notebook", 3), ("stapler", 2), ("pen", 10), ("notebook", 7), ("pen", 1)]
PRICES = {"pen": 1.5, "notebook": 4.25, "stapler": 12.0}


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """The user's files: tools.py and problems.jsonl (reference programs with literal arguments,
    which the fake server plays one call per turn)."""
    root = tmp_path_factory.mktemp("shop")
    (root / "tools.py").write_text(TOOLS)
    lines = []
    for i, (item, qty) in enumerate(ORDERS):
        total = round(PRICES[item] * qty, 2)
        program = [
            {"tool": "unit_price", "arguments": {"item": item}},
            {"tool": "order_total", "arguments": {"price": PRICES[item], "qty": qty}},
        ]
        lines.append(
            json.dumps(
                {
                    "id": f"order-{i}",
                    "question": f"What do {qty} units of the {item} cost?",
                    "answer": _number(total),
                    "metadata": {"family": "order", "program": program},
                }
            )
        )
    (root / "problems.jsonl").write_text("\n".join(lines) + "\n")
    return root


def run(app, args, data_dir: Path):
    result = CliRunner().invoke(app, [str(a) for a in args], env={"MENTOR_DATA_DIR": str(data_dir)})
    return result


def tamper(store: Store, ref: str, name: str) -> None:
    """Write `name@v1`: `ref` with one recorded tool observation changed."""
    rows = store.load(ref).to_list()
    row = rows[0]
    for message in row["messages"]:
        if message.get("role") == "tool":
            message["content"] = "999"
            break
    for call in row["tool_calls"]:
        if call["output"] is not None:
            call["output"] = "999"
            break
    store.write_version(name, rows)


def test_tools_list_and_call(shop, tmp_path):
    listed = run(data_app, ["tools", "list", "--json", "--tools", shop / "tools.py"], tmp_path)
    assert listed.exit_code == 0, listed.output
    schemas = json.loads(listed.stdout)
    assert [s["function"]["name"] for s in schemas] == ["unit_price", "order_total"]
    called = run(
        data_app,
        ["tools", "call", "unit_price", '{"item": "pen"}', "--tools", shop / "tools.py"],
        tmp_path,
    )
    assert called.exit_code == 0 and json.loads(called.stdout) == {"ok": True, "output": "1.5"}
    raised = run(
        data_app,
        ["tools", "call", "unit_price", '{"item": "cup"}', "--tools", shop / "tools.py"],
        tmp_path,
    )
    assert raised.exit_code == 1
    assert json.loads(raised.stdout)["code"] == "tool_error" and "no item 'cup'" in raised.stdout


@pytest.fixture(scope="module")
def pipeline(shop, tmp_path_factory):
    """generate -> tamper -> verify -> export, with the user's tools; returns (data dir, paths)."""
    data = tmp_path_factory.mktemp("data")
    tools = shop / "tools.py"
    problems = shop / "problems.jsonl"
    with FakeOpenAIServer(load_problems(str(problems))) as server:
        generated = run(
            data_app,
            [
                "generate",
                "--problems",
                problems,
                "--tools",
                tools,
                "--teacher",
                "openai",
                "--base-url",
                server.base_url,
                "--model",
                "teacher",
                "--name",
                "shop",
            ],
            data,
        )
    assert generated.exit_code == 0, generated.output
    store = Store(data)
    tamper(store, "shop@v1", "shop-tampered")
    return data, store, tools, problems


def test_generate_offers_and_runs_the_users_tools(pipeline):
    data, store, tools, _ = pipeline
    rows = store.load("shop@v1").to_list()
    assert len(rows) == len(ORDERS) and {r["domain"] for r in rows} == {"tools"}
    assert {t["function"]["name"] for t in rows[0]["tools"]} == {"unit_price", "order_total"}
    outputs = [c["output"] for r in rows for c in r["tool_calls"]]
    assert "1.5" in outputs and all(r["finish_reason"] == "stop" for r in rows)
    lineage = store.manifest(store.resolve("shop@v1"))["lineage"]
    assert lineage["tools"] == [str(tools)]


def test_verify_rejects_a_tampered_observation_of_a_user_tool(pipeline):
    data, store, tools, _ = pipeline
    result = run(
        data_app,
        ["verify", "shop-tampered", "--tools", tools, "--keep", "all", "--name", "checked"],
        data,
    )
    assert result.exit_code == 0, result.output
    reasons = [r["reason"] for r in store.load("checked@v1").to_list()]
    assert reasons.count("tool_output_mismatch") == 1
    assert reasons.count("ok") == len(ORDERS) - 1


def test_verify_without_the_tools_passes_nothing(pipeline):
    data, store, _, _ = pipeline
    result = run(data_app, ["verify", "shop", "--keep", "all", "--name", "unloaded"], data)
    assert result.exit_code == 0, result.output
    assert "not loaded" in result.output
    assert {r["reason"] for r in store.load("unloaded@v1").to_list()} == {"tool_not_loaded"}


def test_export_reward_grpo_and_eval_with_the_users_tools(pipeline, tiny_student, tmp_path):  # noqa: F811
    data, store, tools, problems = pipeline
    assert run(data_app, ["verify", "shop", "--tools", tools], data).exit_code == 0
    out = tmp_path / "grpo"
    exported = run(data_app, ["export", "shop@v2", "--format", "grpo", "--out", out], data)
    assert exported.exit_code == 0, exported.output
    from datasets import load_dataset

    grpo = load_dataset(str(out), split="train", cache_dir=str(tmp_path / "cache"))
    row = grpo[0]
    assert row["domain"] == "tools" and json.loads(row["tools"]) and row["metadata"]

    # reward: the same correct answer, once with an offered tool and once with a tool it lacks
    good = [
        {"role": "assistant", "content": "", "tool_calls": [_call("unit_price", item="pen")]},
        {"role": "tool", "content": "1.5"},
        {"role": "assistant", "content": f"\\boxed{{{row['answer']}}}"},
    ]
    bad = [dict(good[0], tool_calls=[_call("lookup", item="pen")]), *good[1:]]
    lines = [
        {
            "completion": c,
            "answer": row["answer"],
            "teacher_tools": row["teacher_tools"],
            "domain": "tools",
        }
        for c in (good, bad)
    ]
    rows_file = tmp_path / "rows.jsonl"
    rows_file.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    scored = run(train_app, ["reward", rows_file, "--tools", tools], data)
    assert scored.exit_code == 0, scored.output
    first, second = (json.loads(x) for x in scored.stdout.strip().splitlines())
    assert first["no_hallucination"] and not second["no_hallucination"]
    assert first["invalid_tools"] == [] and second["invalid_tools"] == ["lookup"]
    assert round(first["total"] - second["total"], 6) == 0.1

    # two GRPO steps, every rollout running the row's own tools in a fresh environment
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "\n".join(
            [
                f"model_name_or_path: {tiny_student}",
                f"dataset: {out}",
                f"output_dir: {tmp_path / 'student'}",
                f"tools: [{tools}]",
                "reward_funcs: [mentor]",
                "num_generations: 2",
                "per_device_train_batch_size: 2",
                "max_completion_length: 32",
                "max_tool_calling_iterations: 2",
                "max_steps: 2",
                "smoke_check_steps: 0",
                "num_completions_to_print: 0",
                *[line.replace("=", ": ", 1) for line in CPU],
            ]
        )
        + "\n"
    )
    trained = run(train_app, ["grpo", "--recipe", recipe], data)
    assert trained.exit_code == 0, trained.output
    summary = json.loads(trained.stdout.strip().splitlines()[-1])
    assert summary["global_step"] == 2

    evaluated = run(
        train_app,
        [
            "eval",
            "--model",
            tmp_path / "student",
            "--problems",
            problems,
            "--tools",
            tools,
            "--max-tokens",
            "16",
            "--max-turns",
            "2",
            "--backend",
            "hf",
            "--device",
            "cpu",
        ],
        data,
    )
    assert evaluated.exit_code == 0, evaluated.output
    result = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert result["n"] == len(ORDERS) and 0.0 <= result["accuracy"] <= 1.0


def _call(name: str, **arguments) -> dict:
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


# -- an MCP server as the tool source -------------------------------------------------------------
SERVER = f"{sys.executable} {Path(__file__).with_name('mcp_inventory_server.py')}"


def test_an_mcp_servers_tools_generate_and_verify(tmp_path):
    problems = tmp_path / "stock.jsonl"
    questions = [("apple", 12), ("pear", 3), ("plum", 0)]
    problems.write_text(
        "\n".join(
            json.dumps(
                {
                    "id": f"stock-{sku}",
                    "question": f"How many units of {sku} are in stock?",
                    "answer": str(n),
                    "metadata": {"program": [{"tool": "stock", "arguments": {"sku": sku}}]},
                }
            )
            for sku, n in questions
        )
        + "\n"
    )
    data = tmp_path / "data"
    with FakeOpenAIServer(load_problems(str(problems))) as server:
        generated = run(
            data_app,
            [
                "generate",
                "--problems",
                problems,
                "--mcp",
                SERVER,
                "--teacher",
                "openai",
                "--base-url",
                server.base_url,
                "--model",
                "teacher",
                "--name",
                "stock",
            ],
            data,
        )
    assert generated.exit_code == 0, generated.output
    store = Store(data)
    rows = store.load("stock@v1").to_list()
    assert sorted(c["output"] for r in rows for c in r["tool_calls"]) == ["0", "12", "3"]
    tamper(store, "stock@v1", "stock-tampered")
    checked = run(
        data_app,
        ["verify", "stock-tampered", "--mcp", SERVER, "--keep", "all", "--name", "checked"],
        data,
    )
    assert checked.exit_code == 0, checked.output
    reasons = sorted(r["reason"] for r in store.load("checked@v1").to_list())
    assert reasons == ["ok", "ok", "tool_output_mismatch"]


# -- bad input: a clear message, exit code 2, nothing written ------------------------------------
def _generate_with(data: Path, *options) -> object:
    return run(
        data_app, ["generate", "--problems", "builtin:shopping?n=2", "--name", "x", *options], data
    )


@pytest.mark.parametrize(
    ("files", "options", "expected"),
    [
        ({}, ["--tools", "nosuch_pkg.tools"], "no module named 'nosuch_pkg'"),
        ({}, ["--tools", "missing/tools.py"], "no file"),
        (
            {"hints.py": "def f(x):\n    '''F.\n\n    Args:\n        x: X.\n    '''\n"},
            ["--tools", "{root}/hints.py"],
            "parameter 'x' has no type hint",
        ),
        (
            {
                "a.py": "def f(x: int) -> int:\n    '''F.\n\n    Args:\n        x: X.\n    '''\n",
                "b.py": "def f(y: int) -> int:\n    '''F.\n\n    Args:\n        y: Y.\n    '''\n",
            },
            ["--tools", "{root}/a.py", "--tools", "{root}/b.py"],
            "two tools are called 'f'",
        ),
        ({}, ["--mcp", "no-such-mcp-command --stdio"], "not found"),
        ({}, ["--domain", "nosuch_pkg.domains:DOMAIN"], "no module named 'nosuch_pkg'"),
        ({"d.py": "X = 1\n"}, ["--domain", "{root}/d.py:DOMAIN"], "has no attribute 'DOMAIN'"),
        ({"d.py": "X = 1\n"}, ["--domain", "{root}/d.py:X"], "not a mentor Domain"),
    ],
)
def test_bad_sources_fail_clearly_and_write_nothing(tmp_path, files, options, expected):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    data = tmp_path / "data"
    result = _generate_with(data, *(o.format(root=tmp_path) for o in options))
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output
    assert not data.exists() or not any(data.iterdir())


def test_an_mcp_server_that_never_answers_fails_within_its_timeout(tmp_path):
    import time

    hang = f"{sys.executable} -c 'import time; time.sleep(60)'"
    started = time.monotonic()
    with pytest.raises(DomainError) as info, tool_session(mcp=[hang], mcp_timeout_s=2):
        pass
    assert time.monotonic() - started < 15
    assert "--mcp" in str(info.value)


def test_import_offers_the_users_tools_and_verify_checks_them(shop, tmp_path):
    """Trajectories made elsewhere, imported with --tools: offered the user's tools, verified."""
    lines = []
    for i, output in enumerate(["1.5", "2.5"]):  # the second records a wrong price
        lines.append(
            {
                "id": f"imp-{i}",
                "question": "What does one pen cost?",
                "answer": "1.5",
                "messages": [
                    {"role": "user", "content": "What does one pen cost?"},
                    {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [_call("unit_price", item="pen")],
                    },
                    {"role": "tool", "content": output},
                    {"role": "assistant", "content": "\\boxed{1.5}"},
                ],
            }
        )
    path = tmp_path / "made-elsewhere.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    data = tmp_path / "data"
    tools = shop / "tools.py"
    imported = run(data_app, ["import", path, "--name", "imp", "--tools", tools], data)
    assert imported.exit_code == 0, imported.output
    store = Store(data)
    rows = store.load("imp@v1").to_list()
    assert {r["domain"] for r in rows} == {"tools"}
    assert [t["function"]["name"] for t in rows[0]["tools"]] == ["unit_price", "order_total"]
    checked = run(data_app, ["verify", "imp", "--tools", tools, "--keep", "all"], data)
    assert checked.exit_code == 0, checked.output
    assert [r["reason"] for r in store.load("imp@v2").to_list()] == ["ok", "tool_output_mismatch"]
