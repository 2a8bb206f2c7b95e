"""The offline end-to-end demo in its quick form: every stage runs, the report is written, and a
re-run reuses the finished stages."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest

from mentor_train.pipeline import format_table, main, run_pipeline
from mentor_train.pipeline_config import PipelineConfig


def test_quick_pipeline_runs_every_stage_and_reuses_them(tmp_path, caplog):
    config = PipelineConfig.quick(run_dir=tmp_path / "run", data_dir=tmp_path / "data")
    with caplog.at_level(logging.INFO, logger="mentor_train"):
        results = run_pipeline(config)
    ran = [r.getMessage().split("]")[0][1:] for r in caplog.records if "running" in r.getMessage()]
    # every model is evaluated as soon as it is trained: a run cut short reports what finished
    assert ran.index("eval-sft-held_out") < ran.index("grpo-sft+sparse-s0")
    assert ran.index("eval-sft+sparse-s0-held_out") < ran.index("grpo-sft+mentor-s0")

    labels = [r["model"] for r in results["rows"]]
    assert labels == ["vanilla", "sft", "sft+sparse-s0", "sft+mentor-s0"]
    assert all(r["status"] == "done" for r in results["rows"])
    for r in results["rows"][2:]:  # TRL logged the zero-variance share of every GRPO step
        assert 0.0 <= r["zero_variance"] <= 1.0
    for row in results["rows"]:
        for split in ("in_domain", "held_out"):
            assert 0.0 <= row[f"{split}_accuracy"] <= 1.0
            assert row[f"{split}_similarity"] is None or 0.0 <= row[f"{split}_similarity"] <= 1.0
            assert 0.0 <= row[f"{split}_set_match"] <= 1.0  # built-in problems have programs
    run = tmp_path / "run"
    assert (run / "results.md").read_text().startswith("| model |")
    assert (run / "accuracy_vs_similarity.png").stat().st_size > 1000
    assert json.loads((run / "results.json").read_text())["rows"] == results["rows"]
    assert (run / "cards" / "demo-quick-verified.md").is_file()  # never a tracked file
    for stage in ("data", "verify", "card", "student", "sft", "grpo-sft+sparse-s0"):
        assert (run / "stages" / f"{stage}.json").is_file(), stage
    # The verified dataset the models trained on is in the store, one trajectory per problem.
    verify = json.loads((run / "stages" / "verify.json").read_text())["result"]
    assert verify["kept"] == config.train_problems

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mentor_train"):
        again = run_pipeline(config)
    assert again["rows"] == results["rows"]
    reused = [r.getMessage() for r in caplog.records if "reused" in r.getMessage()]
    assert len(reused) >= 7 and not any("running" in r.getMessage() for r in caplog.records)

    # --report with a seed and an arm more: nothing runs, the missing runs are marked
    wider = replace(config, seeds=(0, 1), arms=(*config.arms, "vanilla+mentor"))
    report = run_pipeline(wider, report_only=True)
    status = {r["model"]: r["status"] for r in report["rows"]}
    assert status["sft+mentor-s0"] == "done" and status["sft+mentor-s1"] == "not started"
    assert status["vanilla+mentor-s0"] == "not started"
    assert "| sft+mentor | 1/2 |" in report["table"]
    # a model whose evaluation is pending does not hold back the arms that train from it
    for marker in (run / "stages").glob("eval-vanilla-*.json"):
        marker.unlink()
    status = {r["model"]: r["status"] for r in run_pipeline(wider, report_only=True)["rows"]}
    assert status["vanilla"] == "eval pending" and status["vanilla+mentor-s0"] == "not started"
    assert not (run / "stages" / "grpo-sft+mentor-s1.json").exists()

    # an SFT stage that has not finished (here: more steps asked for) marks everything after it
    longer = run_pipeline(replace(config, sft_steps=config.sft_steps + 5), report_only=True)
    status = {r["model"]: r["status"] for r in longer["rows"]}
    assert status["sft"] == f"training {config.sft_steps}/{config.sft_steps + 5} steps"
    assert status["sft+mentor-s0"] == "waiting for sft"


def test_pipeline_cli_reports_a_bad_config_in_one_line(tmp_path, capsys):
    bad = tmp_path / "exp.yaml"
    bad.write_text("arms: [sft+nope]\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(bad), "--report"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: arms: 'sft+nope'") and "Traceback" not in err


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


@pytest.mark.vllm
@pytest.mark.skipif(
    __import__("importlib").util.find_spec("vllm") is None,
    reason="needs vLLM: `make setup-vllm`, then `make test-vllm`",
)
def test_quick_pipeline_with_vllm_rollouts_and_eval(tmp_path, monkeypatch):
    """Where vLLM imports (`vllm: auto`), GRPO samples its rollouts from a colocated engine kept in
    sync with the policy, and the models are evaluated with the vllm backend."""
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    config = PipelineConfig.quick(
        run_dir=tmp_path / "run", data_dir=tmp_path / "data", arms=("sft+sparse", "sft+mentor")
    )
    assert config.uses_vllm()
    results = run_pipeline(config)
    # two colocated-vLLM GRPO runs: the second once ran in the first one's process, got wrapped
    # in DDP by its leftover torch.distributed group and stalled (each now has its own process)
    assert [r["status"] for r in results["rows"]] == ["done"] * 4
    grpo = json.loads((tmp_path / "run" / "stages" / "grpo-sft+mentor-s0.json").read_text())
    assert grpo["params"]["use_vllm"] is True and grpo["result"]["global_step"] == 2
    # on vLLM's CPU backend the engine runs the policy's dtype: no importance-sampling pass
    assert grpo["params"]["vllm_importance_sampling_correction"] is False
    assert grpo["params"]["share_prompt_prefix"] is True
    evals = json.loads((tmp_path / "run" / "stages" / "eval-sft-held_out.json").read_text())
    assert evals["params"]["backend"] == "vllm"
