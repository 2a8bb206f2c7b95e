"""GRPO environments for each row's own tools (`tool_registry: domain`)."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset

from mentor_data.tools import ARITHMETIC, PYTHON
from mentor_train.environments import (
    ENVIRONMENT_COLUMN,
    environment_factories,
    tool_method,
    with_environments,
)
from tests.train_helpers import CPU, grpo_rows, tiny_student, tool_student  # noqa: F401


def test_a_method_shows_trl_the_offered_schema():
    from transformers.utils import get_json_schema

    for tool in [ARITHMETIC.get("add"), ARITHMETIC.get("round_number"), *PYTHON]:
        method = tool_method(tool.schema)
        schema = get_json_schema(method)["function"]
        offered = tool.schema["function"]
        assert schema["name"] == offered["name"]
        assert (
            schema["parameters"]["properties"].keys() == offered["parameters"]["properties"].keys()
        )
        assert set(schema["parameters"].get("required", [])) == set(
            offered["parameters"].get("required", [])
        )


def test_each_rollout_gets_a_fresh_state_of_its_domain():
    """Two environments of one stateful row do not share state; calls go through the executor."""
    from pathlib import Path

    from mentor_data.domains import register_domain, unregister_domain
    from mentor_data.domains.session import load_domain

    example = Path(__file__).resolve().parent.parent / "examples/inventory/domain.py"
    domain = load_domain(f"{example}:DOMAIN")
    register_domain(domain)
    try:
        row = {
            "domain": "inventory",
            "tools": json.dumps(domain.default_tools()),
            "metadata": "{}",
        }
        [factory] = environment_factories(Dataset.from_list([row])).values()
        first, second = factory(), factory()
        first.reset(**row)
        second.reset(**row)
        before = second.stock_level(sku="KT-102", warehouse="north")
        assert first.reserve(sku="KT-102", warehouse="north", qty=2).startswith("reserved")
        assert first.stock_level(sku="KT-102", warehouse="north") == str(int(before) - 2)
        assert second.stock_level(sku="KT-102", warehouse="north") == before
        assert first.reserve(sku="KT-102", warehouse="north", qty=99).startswith("Error:")
    finally:
        unregister_domain("inventory")


def test_rows_with_one_tool_set_share_a_factory():
    add = json.dumps(ARITHMETIC.subset(["add"]).schemas())
    both = json.dumps(ARITHMETIC.subset(["add", "multiply"]).schemas())
    data = Dataset.from_list(
        [{"domain": "arithmetic", "tools": t, "prompt": "x"} for t in (add, both, add)]
    )
    factories = environment_factories(data)
    assert len(factories) == 2
    keyed = with_environments(data)
    assert (
        keyed[0][ENVIRONMENT_COLUMN] == keyed[2][ENVIRONMENT_COLUMN] != keyed[1][ENVIRONMENT_COLUMN]
    )
    with pytest.raises(ValueError, match="no domain, tools column"):
        environment_factories(Dataset.from_list([{"prompt": "x"}]))


def test_grpo_runs_each_rows_tools_in_its_domain_environment(tool_student, tmp_path):  # noqa: F811
    """The tool student calls `add`; with tool_registry: domain TRL runs it in the row's env."""
    from mentor_train.configs import load_recipe
    from mentor_train.grpo import train

    rows = []
    for row in grpo_rows(2):
        rows.append(
            {
                **row,
                "domain": "arithmetic",
                "metadata": "{}",
                "tools": json.dumps(ARITHMETIC.subset(row["tool_names"]).schemas()),
            }
        )
    recipe = load_recipe(
        None,
        "grpo",
        [
            f"model_name_or_path={tool_student}",
            "dataset=unused",
            f"output_dir={tmp_path}",
            "tool_registry=domain",
            "num_generations=2",
            "per_device_train_batch_size=2",
            "max_completion_length=64",
            "max_tool_calling_iterations=2",
            "num_completions_to_print=0",
            "max_steps=2",
            *CPU,
        ],
    )
    result = train(recipe, train_dataset=Dataset.from_list(rows))
    assert result.global_step == 2
    assert result.last("tools/call_frequency") > 0  # TRL ran the row's add in its environment
    assert result.last("tools/failure_frequency") == 0
