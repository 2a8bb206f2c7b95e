"""BFCL data as problems: specs, the metadata contract, schema conversion, the stable split."""

from __future__ import annotations

import importlib.util
import json

import pytest

pytest.importorskip("bfcl_eval", reason="bfcl-eval is not installed (make setup installs it)")

import jsonschema  # noqa: E402

from mentor_data.bfcl import BFCL_INSTALL  # noqa: E402
from mentor_data.bfcl.data import (  # noqa: E402
    BFCL_TO_JSON_SCHEMA,
    CATEGORIES,
    function_to_tool,
    load_bfcl_problems,
    parse_bfcl_spec,
    split_of,
    to_json_schema,
)
from mentor_data.problems import load_problems  # noqa: E402

SIZES = {
    "simple_python": 400,
    "multiple": 200,
    "parallel": 200,
    "parallel_multiple": 200,
    "irrelevance": 240,
    "live_simple": 258,
    "live_multiple": 1053,
    "live_parallel": 16,
    "live_parallel_multiple": 24,
    "live_irrelevance": 884,
    "multi_turn_base": 200,
}
CONTRACT = {"category", "bfcl_id", "split", "turns", "ground_truth", "functions"}


def test_every_supported_category_loads_whole():
    problems = load_problems("bfcl:all")
    assert len(problems) == sum(SIZES.values())
    assert {p.metadata["category"] for p in problems} == set(CATEGORIES) == set(SIZES)
    for category, n in SIZES.items():
        assert sum(p.metadata["category"] == category for p in problems) == n
    assert len({p.id for p in problems}) == len(problems)


def test_problem_fields_and_the_metadata_contract():
    p = load_problems("bfcl:live_simple?n=3&offset=2")[0]
    assert p.id == p.metadata["bfcl_id"] == "live_simple_2-2-0"
    assert p.domain == "bfcl" and p.source == "bfcl:live_simple"
    assert p.question.startswith("I need a Comfort Uber ride from 2020 Addison Street")
    assert json.loads(p.answer) == p.metadata["ground_truth"]
    assert p.answer == json.dumps(p.metadata["ground_truth"], sort_keys=True)
    assert set(p.metadata) == CONTRACT
    assert p.metadata["split"] in ("train", "held_out")
    assert p.metadata["functions"][0]["name"] == "uber.ride"  # the BFCL doc as shipped
    assert p.metadata["functions"][0]["parameters"]["type"] == "dict"
    tool = p.tools[0]["function"]
    assert tool["name"] == "uber.ride" and tool["parameters"]["type"] == "object"
    assert p.metadata["turns"] == [[{"role": "user", "content": p.question}]]


def test_multi_turn_and_irrelevance_metadata():
    mt = load_problems("bfcl:multi_turn_base?n=1")[0]
    assert set(mt.metadata) == CONTRACT | {"initial_config", "involved_classes"}
    assert mt.metadata["involved_classes"] == ["TwitterAPI", "GorillaFileSystem"]
    assert len(mt.metadata["turns"]) == 4 and len(mt.metadata["ground_truth"]) == 4
    names = [t["function"]["name"] for t in mt.tools]
    assert "cd" in names and "post_tweet" in names  # the docs of every involved class
    assert len(names) == len(mt.metadata["functions"])
    irrelevant = load_problems("bfcl:irrelevance?n=1")[0]
    assert irrelevant.answer is None and irrelevant.metadata["ground_truth"] is None


def test_live_system_messages_stay_in_the_turns():
    rows = [p for p in load_problems("bfcl:live_simple") if len(p.metadata["turns"][0]) > 1]
    assert len(rows) == 11
    first = rows[0].metadata["turns"][0]
    assert first[0]["role"] == "system" and first[-1]["role"] == "user"
    assert rows[0].question == first[-1]["content"]


def test_every_tool_is_valid_json_schema():
    unique = {}
    for p in load_problems("bfcl:all"):
        for tool in p.tools:
            assert tool["type"] == "function"
            assert set(tool["function"]) == {"name", "description", "parameters"}
            unique[json.dumps(tool["function"]["parameters"], sort_keys=True)] = p.id
    validator = jsonschema.Draft202012Validator(jsonschema.Draft202012Validator.META_SCHEMA)
    for text, pid in unique.items():
        assert validator.is_valid(json.loads(text)), pid
        for bfcl_only in ("dict", "float", "tuple", "any"):
            assert f'"type": "{bfcl_only}"' not in text, pid


def test_type_mapping_is_bfcls():
    from bfcl_eval.constants.type_mappings import GORILLA_TO_OPENAPI

    assert BFCL_TO_JSON_SCHEMA == GORILLA_TO_OPENAPI


def test_schema_conversion_recurses_and_marks_floats():
    doc = {
        "type": "dict",
        "properties": {
            "pos": {"type": "tuple", "items": {"type": "float"}, "description": "xy"},
            "opts": {
                "type": "dict",
                "properties": {"deep": {"type": "array", "items": {"type": "dict"}}},
            },
            "anything": {"type": "any"},
            "untyped": {"description": "no type"},
        },
    }
    out = to_json_schema(doc)
    assert out["type"] == "object"
    assert out["properties"]["pos"]["items"] == {
        "type": "number",
        "format": "float",
        "description": " This is a float type value.",
    }
    assert out["properties"]["opts"]["properties"]["deep"]["items"]["type"] == "object"
    assert out["properties"]["anything"]["type"] == "string"
    assert out["properties"]["untyped"]["type"] == "string"
    assert doc["properties"]["pos"]["type"] == "tuple"  # the input is not changed
    with pytest.raises(ValueError, match=r"f.parameters.x: unknown BFCL type 'complex'"):
        function_to_tool({"name": "f", "parameters": {"properties": {"x": {"type": "complex"}}}})
    with pytest.raises(ValueError, match="without a name"):
        function_to_tool({"description": "no name"})


def test_names_underscore_for_openai():
    keep = load_problems("bfcl:live_simple?n=3&offset=2")[0]
    under = load_problems("bfcl:live_simple?n=3&offset=2&names=underscore")[0]
    assert keep.tools[0]["function"]["name"] == "uber.ride"
    assert under.tools[0]["function"]["name"] == "uber_ride"
    assert under.metadata["underscore_to_dot"] is True and "underscore_to_dot" not in keep.metadata
    assert under.metadata["functions"] == keep.metadata["functions"]  # docs as shipped


def test_split_is_stable_and_partitions():
    train = load_problems("bfcl:simple_python,multiple?split=train")
    held = load_problems("bfcl:simple_python,multiple?split=held_out")
    everything = load_problems("bfcl:simple_python,multiple")
    assert {p.id for p in train} | {p.id for p in held} == {p.id for p in everything}
    assert not {p.id for p in train} & {p.id for p in held}
    assert 0.12 < len(held) / len(everything) < 0.28
    assert all(p.metadata["split"] == "held_out" for p in held)
    # The split of an id depends on the id alone (not on the categories loaded with it).
    alone = {p.id for p in load_problems("bfcl:multiple?split=held_out")}
    assert alone == {p.id for p in held if p.metadata["category"] == "multiple"}
    assert split_of("simple_python_7") == split_of("simple_python_7")
    more = load_problems("bfcl:simple_python?split=held_out&held_out_fraction=0.5")
    assert len(more) > len([p for p in held if p.metadata["category"] == "simple_python"])


def test_windows_interleave_and_do_not_overlap():
    first = load_problems("bfcl:simple_python,multiple?n=4")
    assert [p.metadata["category"] for p in first] == ["simple_python", "multiple"] * 2
    second = load_problems("bfcl:simple_python,multiple?n=4&offset=4")
    assert not {p.id for p in first} & {p.id for p in second}
    assert len(load_problems("bfcl:simple_python", limit=5)) == 5
    assert len(load_problems("bfcl:simple_python?n=7", limit=5)) == 5


@pytest.mark.parametrize(
    "spec, message",
    [
        ("bfcl:simple_java", "unknown BFCL category 'simple_java'; supported: simple_python"),
        ("bfcl:memory_kv", "multi_turn_base"),
        ("bfcl:simple_python?split=test", "split='test'; use one of train, held_out, all"),
        ("bfcl:simple_python?n=-1", "n='-1' must be a non-negative integer"),
        ("bfcl:simple_python?seed=1", "unknown option 'seed'"),
        ("bfcl:simple_python?held_out_fraction=2", "must be in \\[0, 1\\]"),
        ("bfcl:simple_python?names=dots", "names='dots'; use one of keep, underscore"),
    ],
)
def test_bad_specs_are_clear_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        load_problems(spec)


def test_spec_defaults():
    assert parse_bfcl_spec("bfcl:all")[1] == {
        "split": "all",
        "n": None,
        "offset": 0,
        "held_out_fraction": 0.2,
        "names": "keep",
    }


def test_missing_bfcl_eval_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "bfcl_eval" else real(name, *a),
    )
    with pytest.raises(ImportError) as info:
        load_bfcl_problems("bfcl:simple_python")
    assert BFCL_INSTALL in str(info.value)
    assert "pip install --no-deps bfcl-eval==2026.3.23 mpmath" in str(info.value)
