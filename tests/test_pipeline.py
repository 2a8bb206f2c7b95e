"""The offline end-to-end demo in its quick form: every stage runs, the report is written, and a
re-run reuses the finished stages."""

from __future__ import annotations

import json
import logging

from mentor_train.pipeline import PipelineConfig, format_table, run_pipeline


def test_quick_pipeline_runs_every_stage_and_reuses_them(tmp_path, caplog):
    config = PipelineConfig.quick(
        run_dir=tmp_path / "run", data_dir=tmp_path / "data", card_dir=tmp_path / "cards"
    )
    results = run_pipeline(config)

    labels = [r["model"] for r in results["rows"]]
    assert labels == ["base", "sft", "grpo-sparse-s0", "grpo-mentor-s0"]
    for row in results["rows"]:
        for split in ("in_domain", "held_out"):
            assert 0.0 <= row[f"{split}_accuracy"] <= 1.0
            assert row[f"{split}_similarity"] is None or 0.0 <= row[f"{split}_similarity"] <= 1.0
            assert 0.0 <= row[f"{split}_set_match"] <= 1.0  # built-in problems have programs
    run = tmp_path / "run"
    assert (run / "results.md").read_text().startswith("| model |")
    assert (run / "accuracy_vs_similarity.png").stat().st_size > 1000
    assert json.loads((run / "results.json").read_text())["rows"] == results["rows"]
    assert (tmp_path / "cards" / "demo-quick-verified.md").is_file()
    for stage in ("data", "verify", "card", "student", "sft", "grpo-sparse-s0", "grpo-mentor-s0"):
        assert (run / "stages" / f"{stage}.json").is_file(), stage
    # The verified dataset the models trained on is in the store, one trajectory per problem.
    verify = json.loads((run / "stages" / "verify.json").read_text())["result"]
    assert verify["kept"] == config.train_problems

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mentor_train.pipeline"):
        again = run_pipeline(config)
    assert again["rows"] == results["rows"]
    reused = [r.getMessage() for r in caplog.records if "reused" in r.getMessage()]
    assert len(reused) >= 7 and not any("running" in r.getMessage() for r in caplog.records)


def test_format_table_marks_missing_values():
    table = format_table(
        [
            {
                "model": "m",
                "in_domain_accuracy": 0.5,
                "in_domain_similarity": None,
                "in_domain_tool_call_rate": 1.0,
                "in_domain_set_match": 0.5,
                "held_out_accuracy": 0.25,
                "held_out_similarity": 0.8,
                "held_out_tool_call_rate": 0.0,
                "held_out_set_match": None,
            }
        ]
    )
    assert "| m | 50.0% | - | 50.0% | 100.0% | 25.0% | 0.80 | - | 0.0% |" in table


def test_experiment_recipes_load_as_pipeline_configs():
    from pathlib import Path

    for path in sorted(Path("recipes").glob("experiment-*.yaml")):
        config = PipelineConfig.from_yaml(path)
        assert config.run_dir.name == path.stem, path
        assert config.seeds and config.sft_steps > 0 and config.grpo_steps > 0


def test_pipeline_config_yaml_names_unknown_fields(tmp_path):
    import pytest

    path = tmp_path / "exp.yaml"
    path.write_text("sft_step: 10\n")
    with pytest.raises(ValueError, match="unknown field.*sft_step.*known:.*sft_steps"):
        PipelineConfig.from_yaml(path)
    path.write_text("seeds: [0, 1, 2]\nrun_dir: runs/x\n")
    config = PipelineConfig.from_yaml(path, grpo_steps=3)
    assert config.seeds == (0, 1, 2) and config.run_dir.name == "x" and config.grpo_steps == 3
