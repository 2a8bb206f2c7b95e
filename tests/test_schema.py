"""The JSON Schema and the Features in code are one schema; every column is documented."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from mentor_data.schema import (
    SCHEMA_VERSION,
    TRAJECTORY_FEATURES,
    VERIFICATION_FEATURES,
    features_for,
    features_from_json_schema,
    prompt_hash,
    verified_features,
)
from tests.conftest import sample_row

ROOT = Path(__file__).resolve().parents[1]
JSON_SCHEMA = json.loads((ROOT / "schemas" / "trajectory.schema.json").read_text())


def test_json_schema_and_features_are_identical():
    assert features_from_json_schema(JSON_SCHEMA) == verified_features()


def test_required_columns_are_the_trajectory_columns():
    assert JSON_SCHEMA["required"] == list(TRAJECTORY_FEATURES)
    assert JSON_SCHEMA["x-verification-columns"] == list(VERIFICATION_FEATURES)
    assert JSON_SCHEMA["x-schema-version"] == SCHEMA_VERSION


def test_json_schema_is_valid_and_accepts_a_row():
    jsonschema.Draft202012Validator.check_schema(JSON_SCHEMA)
    jsonschema.validate(sample_row(), JSON_SCHEMA)


def test_json_schema_rejects_a_bad_row():
    row = sample_row()
    row["finish_reason"] = "exploded"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(row, JSON_SCHEMA)


def test_every_column_is_documented_in_the_schema_readme():
    readme = (ROOT / "schemas" / "README.md").read_text()

    def names(props, prefix=""):
        for key, prop in props.items():
            yield prefix + key
            if prop.get("type") == "object" or "object" in (prop.get("type") or []):
                yield from names(prop.get("properties", {}), f"{prefix}{key}.")
            items = prop.get("items", {})
            if items.get("type") == "object":
                yield from names(items["properties"], f"{prefix}{key}[].")

    missing = [n for n in names(JSON_SCHEMA["properties"]) if f"`{n}`" not in readme]
    assert not missing, f"undocumented columns in schemas/README.md: {missing}"


def test_features_for_rejects_unknown_columns():
    assert list(features_for(["problem_id", "verified"])) == ["problem_id", "verified"]
    with pytest.raises(KeyError, match="bogus"):
        features_for(["bogus"])


def test_prompt_hash_depends_on_prompt_and_tools():
    assert prompt_hash("a", []) == prompt_hash("a", [])
    assert prompt_hash("a", []) != prompt_hash("b", [])
    assert prompt_hash("a", []) != prompt_hash("a", [{"type": "function"}])
