"""The pipeline's config: validation, the YAML experiments, and the GRPO batching it implies."""

from __future__ import annotations

from pathlib import Path

import pytest

from mentor_train.configs import load_recipe
from mentor_train.pipeline_config import PipelineConfig, checkpointing, grpo_batch


def test_pipeline_config_names_bad_arms():
    with pytest.raises(ValueError, match="arms: 'sft\\+mentr'.*REWARD one of.*mentor"):
        PipelineConfig(arms=("sft+mentr",))
    with pytest.raises(ValueError, match="START is one of sft, vanilla"):
        PipelineConfig(arms=("instruct+mentor",))
    with pytest.raises(ValueError, match="grpo_micro_batch=3 must divide the 8 rollouts"):
        PipelineConfig(num_generations=4, prompts_per_step=2, grpo_micro_batch=3)
    with pytest.raises(ValueError, match="grpo_micro_batch=2 splits a group of 4 rollouts"):
        PipelineConfig(num_generations=4, prompts_per_step=2, grpo_micro_batch=2)
    with pytest.raises(ValueError, match="num_generations >= 2"):
        PipelineConfig(num_generations=1)
    with pytest.raises(ValueError, match="vllm: 'yes'; use auto, on or off"):
        PipelineConfig(vllm="yes")


def test_grpo_micro_batches_keep_one_generation_batch_per_step():
    config = PipelineConfig(
        num_generations=4, prompts_per_step=2, grpo_micro_batch=2, share_prompt_prefix=False
    )
    batch = grpo_batch(config)
    assert batch == {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 4}
    sets = [f"{k}={v}" for k, v in batch.items()] + ["num_generations=4"]
    args = load_recipe("recipes/tiny-cpu-grpo-mentor.yaml", "grpo", sets).training_args
    assert args.generation_batch_size == 8  # 2 prompts x 4 rollouts generated and scored together
    assert grpo_batch(PipelineConfig(num_generations=4, share_prompt_prefix=False)) == {
        "per_device_train_batch_size": 4
    }


def test_shared_prompt_micro_batches_hold_whole_groups():
    batch = grpo_batch(PipelineConfig(num_generations=4, prompts_per_step=2, grpo_micro_batch=4))
    assert batch == {
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 2,
        "steps_per_generation": 1,  # one group generated per micro-batch, never split by TRL
        "share_prompt_prefix": True,
    }
    sets = [f"{k}={v}" for k, v in batch.items()] + ["num_generations=4"]
    args = load_recipe("recipes/tiny-cpu-grpo-mentor.yaml", "grpo", sets).training_args
    assert args.share_prompt_prefix and args.generation_batch_size == 4
    whole = grpo_batch(PipelineConfig(num_generations=4, prompts_per_step=2))
    assert whole == {"per_device_train_batch_size": 8, "share_prompt_prefix": True}


def test_experiment_recipes_load_as_pipeline_configs():
    for path in sorted(Path("recipes").glob("experiment-*.yaml")):
        config = PipelineConfig.from_yaml(path)
        assert config.run_dir.name == path.stem, path
        assert config.seeds and config.sft_steps > 0 and config.grpo_steps > 0


def test_pipeline_config_yaml_names_unknown_fields(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("sft_step: 10\n")
    with pytest.raises(ValueError, match="unknown field.*sft_step.*known:.*sft_steps"):
        PipelineConfig.from_yaml(path)
    path.write_text("seeds: [0, 1, 2]\nrun_dir: runs/x\n")
    config = PipelineConfig.from_yaml(path, grpo_steps=3)
    assert config.seeds == (0, 1, 2) and config.run_dir.name == "x" and config.grpo_steps == 3


def test_checkpointing_keeps_the_last_checkpoint_or_none():
    assert checkpointing(PipelineConfig(checkpoint_steps=2)) == {
        "save_steps": 2,
        "save_total_limit": 1,
    }
    args = load_recipe(
        "recipes/tiny-cpu-sft.yaml",
        "sft",
        [f"{k}={v}" for k, v in checkpointing(PipelineConfig()).items()],
    ).training_args
    assert args.save_steps == 10**6  # no checkpoint within any run the pipeline makes
