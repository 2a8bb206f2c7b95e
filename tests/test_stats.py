"""stats: polars statistics of a version, the plot, the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mentor_data.cli import app
from mentor_data.stats import compute_stats, plot_stats, version_stats
from mentor_data.store import Store
from mentor_data.verify import VerifyConfig, verify_dataset
from tests.trajectory_fixtures import mixed_rows, traj


@pytest.fixture
def store(data_dir):
    store = Store(data_dir)
    store.write_version("arith", mixed_rows())
    verify_dataset("arith", store=store, config=VerifyConfig(workers=1, keep="all"))
    return store


def test_stats_of_a_verified_version(store):
    s = version_stats("arith@v2", store=store)
    assert s["ref"] == "arith@v2" and s["rows"] == 12 and s["verified"]
    assert s["passed"] == 9 and s["pass_rate"] == pytest.approx(9 / 12)
    assert s["reasons"] == {"no_answer": 1, "ok": 9, "truncated": 1, "wrong_answer": 1}
    assert s["by_family"]["shopping"] == {"rows": 6, "passed": 4, "pass_rate": pytest.approx(4 / 6)}
    assert s["by_family"]["tally"]["rows"] == 6
    assert s["tools"] == {"multiply": 16}  # 4 rows with 2 calls, 8 with 1
    assert s["tool_rows"] == {"multiply": 12}
    assert s["calls_histogram"] == {"1": 8, "2": 4}
    assert s["turns_histogram"] == {"2": 8, "3": 4}
    assert s["finish_reasons"] == {"length": 1, "stop": 11}
    assert s["teachers"] == {"solver/-": 12}
    assert s["tokens"]["prompt"]["sum"] == 1200 and s["tokens"]["completion"]["mean"] == 20
    assert s["latency_s"]["p95"] == 0.5 and s["tool_errors"] == 0
    json.dumps(s)


def test_stats_count_no_tool_call_rows(data_dir):
    store = Store(data_dir)
    mental = traj([], "36", "36", problem_id="p9")  # right, but never called a tool
    store.write_version("arith", [*mixed_rows(), mental])
    verify_dataset("arith", store=store, config=VerifyConfig(workers=1, keep="all"))
    s = version_stats("arith@v2", store=store)
    assert s["reasons"]["no_tool_call"] == 1 and s["passed"] == 9
    assert s["calls_histogram"]["0"] == 1


def test_stats_of_an_unverified_version(store):
    s = compute_stats(store.load_polars("arith@v1"))
    assert not s["verified"] and s["pass_rate"] is None and s["reasons"] == {}
    assert s["by_family"]["tally"]["pass_rate"] is None


def test_plot(store, tmp_path):
    for ref in ("arith@v1", "arith@v2"):
        path = plot_stats(version_stats(ref, store=store), tmp_path / "plots" / f"{ref}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stats_cli(store, tmp_path):
    result = CliRunner().invoke(app, ["stats", "arith@v2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["passed"] == 9
    plot = tmp_path / "s.png"
    result = CliRunner().invoke(app, ["stats", "arith", "--plot", str(plot)])
    assert result.exit_code == 0 and "arith@v2: 12 rows, 75.0% verified" in result.output
    assert plot.is_file()
    assert CliRunner().invoke(app, ["stats", "nope"]).exit_code == 1
