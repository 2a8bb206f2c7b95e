"""The example user domain in examples/inventory: its data replays, its state is per conversation.

The domain is imported from its file (as `--domain examples/inventory/domain.py:DOMAIN` would),
so these tests need no CLI.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from mentor_data.domains import ToolEnv, register_domain, unregister_domain
from mentor_data.domains.session import tool_session
from mentor_data.problems import load_problems
from tests.train_helpers import CPU, tiny_student, tool_student  # noqa: F401

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "inventory"


def _import(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def inventory():
    return _import(EXAMPLE / "domain.py", "example_inventory_domain")


@pytest.fixture(scope="module")
def problems():
    lines = (EXAMPLE / "problems.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _env(domain, metadata=None) -> ToolEnv:
    return domain.environment({"tools": domain.default_tools(), "metadata": metadata})


def test_problems_file_shape(problems):
    assert len(problems) >= 30
    ids = [p["id"] for p in problems]
    assert len(set(ids)) == len(ids)
    assert len({p["question"] for p in problems}) == len(problems)  # the fake server's key
    families = {p["metadata"]["family"] for p in problems}
    assert len(families) >= 3
    for p in problems:
        assert p["domain"] == "inventory"
        assert "tools" not in p  # the domain's default tools are offered
        assert isinstance(p["answer"], str) and p["answer"]
        for step in p["metadata"]["program"]:
            assert set(step) == {"tool", "arguments", "note"}
            # Literal arguments only: no "$k" references.
            values = step["arguments"].values()
            assert not any(isinstance(v, str) and v.startswith("$") for v in values)


def test_programs_replay_to_the_answers(inventory, problems):
    domain = inventory.DOMAIN
    for p in problems:
        env = _env(domain, p["metadata"])
        results = [env.run(s["tool"], s["arguments"]) for s in p["metadata"]["program"]]
        assert all(r.ok for r in results), (p["id"], results)
        assert results[-1].output == p["answer"], p["id"]
        row = {"answer": p["answer"], "metadata": p["metadata"]}
        assert domain.judge(row, f"The answer is \\boxed{{{p['answer']}}}.").correct, p["id"]


def test_generator_reproduces_the_file(problems):
    make = _import(EXAMPLE / "make_problems.py", "example_inventory_make")
    assert make.make() == problems


KETTLE_NORTH = {"sku": "KT-101", "warehouse": "north"}


def _level(env: ToolEnv) -> int:
    return int(env.run("stock_level", KETTLE_NORTH).output)


def test_reserve_state_is_per_environment(inventory):
    domain = inventory.DOMAIN
    first, second = _env(domain), _env(domain)
    before = _level(first)
    assert first.run("reserve", {**KETTLE_NORTH, "qty": 4}).ok
    assert _level(first) == before - 4
    # Another conversation, and the module's starting stock, are untouched.
    assert _level(second) == before
    assert _level(_env(domain)) == before == inventory.STOCK["KT-101"]["north"]
    # Too many: an error result the model reads, not an exception; the stock is unchanged.
    result = first.run("reserve", {**KETTLE_NORTH, "qty": 1000})
    assert not result.ok and result.code == "tool_error" and "only" in result.error
    assert _level(first) == before - 4
    # Bad arguments are checked against the schema (the warehouse is an enum).
    bad = first.run("stock_level", {**KETTLE_NORTH, "warehouse": "east"})
    assert bad.code == "invalid_arguments"
    assert first.implements("reserve") and first.deterministic("reserve")


def test_environment_runs_only_offered_tools(inventory):
    domain = inventory.DOMAIN
    quote_only = [s for s in domain.default_tools() if s["function"]["name"] == "price_quote"]
    env = domain.environment({"tools": quote_only, "metadata": None})
    assert env.implements("price_quote") and not env.implements("reserve")
    assert env.run("reserve", {**KETTLE_NORTH, "qty": 1}).code == "unknown_tool"


def test_every_tool_has_a_schema_with_its_parameters(inventory):
    domain = inventory.DOMAIN
    expected = {
        "find_product": {"name"},
        "stock_level": {"sku", "warehouse"},
        "reserve": {"sku", "warehouse", "qty"},
        "price_quote": {"sku", "qty"},
        "add": {"a", "b"},
    }
    schemas = {s["function"]["name"]: s["function"] for s in domain.default_tools()}
    assert set(schemas) == set(expected) == set(domain.tools().names())
    for name, params in expected.items():
        assert schemas[name]["description"]
        parameters = schemas[name]["parameters"]
        assert set(parameters["properties"]) == params
        assert set(parameters["required"]) == params
        assert all(p.get("description") for p in parameters["properties"].values())
    assert schemas["reserve"]["parameters"]["properties"]["warehouse"]["enum"] == ["north", "south"]


def test_problems_load_as_the_domain(inventory):
    register_domain(inventory.DOMAIN)
    try:
        loaded = load_problems(str(EXAMPLE / "problems.jsonl"))
        assert {p.domain for p in loaded} == {"inventory"}
        problem = loaded[0]
        offered = [s["function"]["name"] for s in problem.offered_tools()]
        assert offered == inventory.DOMAIN.tools().names()
        opening = inventory.DOMAIN.open_conversation(problem, inventory.DOMAIN.system_prompt)
        assert opening.messages[0]["role"] == "system"
        assert opening.messages[-1] == {"role": "user", "content": problem.question}
        assert isinstance(opening.env, inventory.InventoryEnv)
    finally:
        unregister_domain("inventory")


# -- the example end to end, through the real commands --------------------------------------------
def test_the_example_domain_end_to_end(tool_student, tmp_path):  # noqa: F811
    """problems -> generate (openai teacher, the local fake server) -> verify (a tampered
    observation rejected) -> export -> 2 GRPO steps with the domain's tools running -> eval."""
    from typer.testing import CliRunner

    from mentor_data.cli import app as data_app
    from mentor_data.store import Store
    from mentor_train.cli import app as train_app
    from tests.fake_openai_server import FakeOpenAIServer
    from tests.test_own_tools import tamper

    domain = f"{EXAMPLE / 'domain.py'}:DOMAIN"
    problems = EXAMPLE / "problems.jsonl"
    env = {"MENTOR_DATA_DIR": str(tmp_path / "data")}

    def run(app, *args):
        result = CliRunner().invoke(app, [str(a) for a in args], env=env)
        assert result.exit_code == 0, result.output
        return result

    with tool_session(domain=domain):  # the fake server reads the problems of the domain
        served = load_problems(str(problems))
    with FakeOpenAIServer(served) as server:
        run(
            data_app, "generate", "--domain", domain, "--problems", problems, "--teacher",
            "openai", "--base-url", server.base_url, "--model", "teacher", "--name", "inv",
            "--max-turns", "8",
        )  # fmt: skip
    store = Store(tmp_path / "data")
    rows = store.load("inv@v1").to_list()
    assert len(rows) == 36 and {r["domain"] for r in rows} == {"inventory"}
    tamper(store, "inv@v1", "inv-tampered")
    run(data_app, "verify", "inv-tampered", "--domain", domain, "--keep", "all", "--name", "chk")
    reasons = [r["reason"] for r in store.load("chk@v1").to_list()]
    assert reasons.count("tool_output_mismatch") == 1 and reasons.count("ok") == 35
    run(data_app, "verify", "inv", "--domain", domain)  # every stateful call replayed: all ok
    assert len(store.load("inv@v2")) == 36
    out = tmp_path / "grpo"
    run(data_app, "export", "inv@v2", "--format", "grpo", "--out", out)

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "\n".join(
            [
                f"model_name_or_path: {tool_student}",
                f"dataset: {out}",
                f"output_dir: {tmp_path / 'student'}",
                f"domain: {domain}",
                "max_train_samples: 4",
                "num_generations: 2",
                "per_device_train_batch_size: 2",
                "max_completion_length: 64",
                "max_tool_calling_iterations: 2",
                "max_steps: 2",
                "smoke_check_steps: 0",
                "num_completions_to_print: 0",
                *[line.replace("=", ": ", 1) for line in CPU],
            ]
        )
        + "\n"
    )
    trained = json.loads(run(train_app, "grpo", "--recipe", recipe).stdout.splitlines()[-1])
    assert trained["global_step"] == 2
    history = json.loads((tmp_path / "student" / "log_history.json").read_text())
    assert any("tools/call_frequency" in entry for entry in history)

    evaluated = run(
        train_app, "eval", "--model", tmp_path / "student", "--problems", problems,
        "--domain", domain, "--max-tokens", "24", "--max-turns", "2", "--backend", "hf",
        "--device", "cpu", "--out", tmp_path / "eval",
    )  # fmt: skip
    summary = json.loads(evaluated.stdout.splitlines()[-1])
    assert summary["n"] == 36 and set(summary["per_family"]) == {
        "quote",
        "total_stock",
        "reserve",
        "order",
    }
