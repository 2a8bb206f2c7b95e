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
from mentor_data.problems import load_problems

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
