"""Domains: the registry, the plug-in rule (no domain names in the core), the shared pieces."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mentor_data.domains import (
    BUILTIN_DOMAINS,
    Domain,
    DomainError,
    ToolEnv,
    domain_for_spec,
    domain_of,
    executable_tools,
    family_of,
    get_domain,
    register_domain,
    unregister_domain,
)
from mentor_data.tools import ARITHMETIC, PYTHON, ToolRegistry

ROOT = Path(__file__).resolve().parent.parent
# The domain packages: the only places that may know a domain by its name.
DOMAIN_PACKAGES = ("mentor_data/bfcl/", "mentor_data/arithmetic/", "mentor_data/rag/")
NAME_TESTS = re.compile(
    r"""==\s*["'](bfcl|arithmetic|rag)["']|["'](bfcl|arithmetic|rag)["']\s*==|!=\s*["'](bfcl|arithmetic|rag)["']"""
    r"""|\bBFCL_DOMAIN\b|\bis_bfcl\(|\{\s*["'](bfcl|arithmetic|rag)["']\s*\}"""
    r"""|["'](bfcl|arithmetic|rag)["']\s+(not\s+)?in\b"""
)


def test_no_module_outside_the_domain_packages_tests_a_domain_name():
    """The core reaches every domain through `domain_of(row)`; a third domain needs no fork."""
    offenders = []
    for package in ("mentor_data", "mentor_train"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(DOMAIN_PACKAGES):
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if NAME_TESTS.search(line):
                    offenders.append(f"{rel}:{number}: {line.strip()}")
    assert not offenders, "domain names tested outside the domain packages:\n" + "\n".join(
        offenders
    )


def test_the_rule_catches_a_name_test():
    assert NAME_TESTS.search('if row.get("domain") == "bfcl":')
    assert NAME_TESTS.search("bfcl = BFCL_DOMAIN in cols")
    assert NAME_TESTS.search('arithmetic = "arithmetic" in stats["domains"]')
    assert NAME_TESTS.search('if set(domains) == {"bfcl"}:')
    assert not NAME_TESTS.search('get_domain(row.get("domain"))')


def test_builtins_are_found_by_name_and_prefix():
    assert set(BUILTIN_DOMAINS) == {"arithmetic", "bfcl", "rag", "tools"}
    assert get_domain("arithmetic").tools().names() == ARITHMETIC.names()
    assert get_domain(None).name == "arithmetic"  # a row that names no domain
    assert domain_for_spec("builtin:shopping?n=2").name == "arithmetic"
    assert domain_for_spec("bfcl:simple_python").name == "bfcl"
    assert domain_for_spec("problems.jsonl") is None
    assert domain_of({"domain": "bfcl"}).user_turns


def test_unknown_domain_says_how_to_load_it():
    with pytest.raises(DomainError) as info:
        get_domain("inventory")
    message = str(info.value)
    assert "unknown domain 'inventory'" in message and "--domain pkg.module:attr" in message
    assert "mentor.domains" in message


def test_a_registered_domain_plugs_in_everywhere():
    class Shop(Domain):
        name = "shop-test"

    try:
        register_domain(Shop(ARITHMETIC.subset(["add"])))
        assert domain_of({"domain": "shop-test"}).tools().names() == ["add"]
        assert family_of("shop-test", '{"family": "till"}') == "till"
    finally:
        unregister_domain("shop-test")
    # not loaded: the family is still read (stats and cards never need the domain)
    assert family_of("shop-test", {"family": "till"}) == "till"


def test_entry_point_domains_load_by_name(monkeypatch):
    from importlib import metadata

    class EntryPoint:
        name, value = "ep-test", "tests.test_domains:EP_DOMAIN"

        def load(self):
            return EP_DOMAIN

    monkeypatch.setattr(metadata, "entry_points", lambda group: [EntryPoint()])
    try:
        assert get_domain("ep-test") is EP_DOMAIN
    finally:
        unregister_domain("ep-test")


EP_DOMAIN = Domain(ARITHMETIC.subset(["multiply"]), name="ep-test")


def test_executable_tools_match_name_and_parameters():
    offered = ARITHMETIC.subset(["add"]).schemas()
    other_add = {
        "type": "function",
        "function": {
            "name": "add",
            "parameters": {"type": "object", "properties": {"x": {"type": "number"}}},
        },
    }
    assert executable_tools(ARITHMETIC, offered).names() == ["add"]
    assert executable_tools(ARITHMETIC, [other_add]).names() == []  # same name, other tool
    # the python tool is every domain's when a row offers it
    assert executable_tools(ToolRegistry(), PYTHON.schemas()).names() == ["python"]


def test_executable_tools_never_serve_a_freed_registry():
    """A stateful domain builds a registry per conversation; a reused id must not hit the cache."""
    offered = ARITHMETIC.subset(["add"]).schemas()
    seen = set()
    for _ in range(50):
        own = ToolRegistry(ARITHMETIC.subset(["add"]))
        got = executable_tools(own, offered)
        assert got.get("add") is own.get("add")
        seen.add(id(own))
        del own


def test_the_base_judge_reads_the_boxed_answer():
    judge = Domain().judge
    assert judge({"answer": "12"}, "so \\boxed{12}").reason == "ok"
    assert judge({"answer": "12"}, "so \\boxed{13}").reason == "wrong_answer"
    assert judge({"answer": "12"}, "no box").reason == "no_answer"
    assert judge({"answer": None}, "\\boxed{1}").reason == "no_ground_truth"


def test_tool_env_runs_through_the_executor():
    env = ToolEnv(ARITHMETIC)
    assert env.run("add", {"a": 1, "b": 2}).output == "3"
    assert env.run("nope", {}).code == "unknown_tool"
    assert env.implements("add") and not env.implements("nope")


def test_a_nested_session_with_the_same_tools_loads_them_once(tmp_path):
    from mentor_data.domains import extra_tools
    from mentor_data.domains.session import tool_session

    tools = tmp_path / "t.py"
    tools.write_text(
        "def f(x: int) -> int:\n    '''F.\n\n    Args:\n        x: X.\n    '''\n    return x\n"
    )
    before = extra_tools().names()
    with tool_session(tools=[str(tools)]), tool_session(tools=[str(tools)]) as inner:
        assert extra_tools().names().count("f") == 1 and inner.name == "tools"
    assert extra_tools().names() == before  # the session leaves nothing behind
