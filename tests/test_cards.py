"""cards: the Hub YAML header (parses, has the fields the Hub reads) and the body."""

from __future__ import annotations

import pytest
import yaml
from datasets import DatasetInfo
from typer.testing import CliRunner

from mentor_data.cards import CARD_END, CARD_START, build_card, lineage_chain, size_category
from mentor_data.cli import app
from mentor_data.schema import TRAJECTORY_FEATURES, verified_features
from mentor_data.store import Store
from mentor_data.verify import VerifyConfig, verify_dataset
from tests.trajectory_fixtures import mixed_rows, traj


@pytest.fixture
def store(data_dir):
    store = Store(data_dir)
    store.write_version(
        "arith",
        mixed_rows(),
        command="mentor-data generate --name arith",
        lineage={"teacher": {"backend": "solver", "model": None}},
    )
    verify_dataset(
        "arith", store=store, config=VerifyConfig(workers=1), command="mentor-data verify arith"
    )
    return store


def split_card(card: str) -> tuple[dict, str]:
    assert card.startswith("---\n")
    header, body = card[4:].split("\n---\n", 1)
    return yaml.safe_load(header), body


def test_yaml_header_has_the_hub_fields(store):
    meta, _ = split_card(build_card("arith@v2", store=store, repo_id="org/arith"))
    assert meta["license"] == "apache-2.0" and meta["pretty_name"] == "arith"
    assert meta["task_categories"] == ["text-generation"]
    assert "tool-use" in meta["tags"] and meta["size_categories"] == ["n<1K"]
    assert meta["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}
    ]
    info = meta["dataset_info"]
    assert info["splits"] == [
        {"name": "train", "num_bytes": info["dataset_size"], "num_examples": 9}
    ]
    assert info["download_size"] == sum(s["bytes"] for s in store.manifest("arith@v2")["shards"])
    assert info["features"] == DatasetInfo(features=verified_features())._to_yaml_dict()["features"]
    assert DatasetInfo._from_yaml_dict(info).features == verified_features()


def test_body_has_lineage_verification_tools(store):
    _, body = split_card(
        build_card("arith@v2", store=store, repo_id="org/arith", license="cc-by-4.0")
    )
    assert body.strip().startswith(CARD_START) and body.strip().endswith(CARD_END)
    for section in (
        "## Loading",
        "## Lineage",
        "## Verification",
        "## Tool distribution",
        "## Intended use",
        "## Limitations",
    ):
        assert section in body
    assert 'load_dataset("org/arith", split="train")' in body
    assert "| arith@v2 | 9 |" in body and "| arith@v1 | 12 |" in body  # the version chain
    assert "`mentor-data verify arith`" in body and "`mentor-data generate --name arith`" in body
    assert "| ok | 9 | 75.0% |" in body and "| wrong_answer | 1 | 8.3% |" in body
    assert "By problem family (verified)" in body and "| tally | 6 | 5 | 83.3% |" in body
    assert "| `multiply` | 13 |" in body  # 5 one-call rows + 4 two-call rows
    assert '"backend": "solver"' in body  # the generation settings of the manifest
    assert "| solver/- | 9 | 100.0% |" in body


def test_card_reports_no_tool_call_rows(data_dir):
    store = Store(data_dir)
    mental = traj([], "36", "36", problem_id="p9")  # right, but never called a tool
    store.write_version("arith", [*mixed_rows(), mental])
    verify_dataset("arith", store=store, config=VerifyConfig(workers=1))
    _, body = split_card(build_card("arith@v2", store=store, repo_id="org/arith"))
    assert "| no_tool_call | 1 | 7.7% |" in body
    assert "is rejected as `no_tool_call` (1 rows)" in body
    assert "calls than its domain requires" in body


def test_card_of_an_unverified_version(store):
    meta, body = split_card(build_card("arith@v1", store=store))
    assert "Not verified" in body
    assert DatasetInfo._from_yaml_dict(meta["dataset_info"]).features == TRAJECTORY_FEATURES


def test_lineage_chain_stops_outside_the_store(store):
    chain = lineage_chain(store, store.resolve("arith@v2"))
    assert [m["version"] for m in chain] == [2, 1]


def test_size_category():
    assert [size_category(n) for n in (0, 999, 1000, 9_999, 10_000, 2_000_000)] == [
        "n<1K",
        "n<1K",
        "1K<n<10K",
        "1K<n<10K",
        "10K<n<100K",
        "1M<n<10M",
    ]


def test_card_cli(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["card", "arith@v2", "--pretty-name", "Arith demo"])
    assert result.exit_code == 0, result.output
    meta, _ = split_card((tmp_path / "data_cards" / "arith.md").read_text())
    assert meta["pretty_name"] == "Arith demo"
    out = tmp_path / "elsewhere.md"
    assert CliRunner().invoke(app, ["card", "arith", "--out", str(out)]).exit_code == 0
    assert out.read_text().startswith("---\n")
