"""Every recipe loads into its dataclasses; recipe loading, typing and overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from mentor_train.configs import (
    GRPOScriptArguments,
    MentorGRPOConfig,
    MentorSFTConfig,
    RecipeError,
    SFTScriptArguments,
    build_configs,
    coerce,
    load_recipe,
    model_init_kwargs_error,
    parse_overrides,
    read_recipe,
)

# experiment-*.yaml are pipeline configs (tests/test_pipeline.py), not trainer recipes.
RECIPES = sorted(
    p
    for p in (Path(__file__).parent.parent / "recipes").glob("*.yaml")
    if not p.name.startswith("experiment-")
)
BASE = {
    "model_name_or_path": "m",
    "dataset": "d@v1",
    "output_dir": "/tmp/unused",
    "use_cpu": True,
    "bf16": False,
}


@pytest.fixture
def gpu_checks_pass(monkeypatch):
    """Let TrainingArguments accept bf16 on this CPU machine (the GPU recipes ask for it)."""
    import transformers.training_args as ta

    monkeypatch.setattr(ta, "is_torch_bf16_gpu_available", lambda: True)


def test_recipes_exist():
    names = {p.name for p in RECIPES}
    assert {
        "tiny-cpu-sft.yaml",
        "tiny-cpu-grpo-mentor.yaml",
        "tiny-cpu-grpo-sparse.yaml",
        "qwen2.5-1.5b-instruct-grpo-mentor.yaml",
        "qwen2.5-7b-instruct-grpo-mentor.yaml",
    } <= names
    assert (RECIPES[0].parent / "accelerate" / "zero3.yaml").is_file()


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_every_recipe_loads(path, gpu_checks_pass):
    raw = read_recipe(path)
    recipe = load_recipe(path, raw["trainer"])
    if raw["trainer"] == "grpo":
        assert isinstance(recipe.script_args, GRPOScriptArguments)
        assert isinstance(recipe.training_args, MentorGRPOConfig)
        assert recipe.training_args.max_tool_calling_iterations >= 1
        if recipe.script_args.row_tools or recipe.script_args.domain_tools:
            # BFCL: each row offers its own functions; RAG/user domains run each row's own tools
            assert recipe.script_args.registry() is None
        else:
            assert recipe.script_args.registry().names()
    else:
        assert isinstance(recipe.script_args, SFTScriptArguments)
        assert isinstance(recipe.training_args, MentorSFTConfig)
        assert recipe.training_args.assistant_only_loss
        assert recipe.training_args.max_length >= 1024
    # every value in the file is typed and reaches a config
    for key in raw:
        if key == "trainer":
            continue
        target = recipe.script_args if hasattr(recipe.script_args, key) else recipe.training_args
        assert hasattr(target, key), key
    gpu = "qwen" in path.name
    assert recipe.training_args.use_cpu is not gpu
    text = path.read_text()
    if gpu:
        assert "NOT YET RUN ON A GPU" in text
    if raw["trainer"] == "grpo" and gpu:
        assert recipe.training_args.use_vllm and recipe.training_args.vllm_mode == "colocate"


def test_tiny_recipes_train_on_cpu():
    for name in (
        "tiny-cpu-sft.yaml",
        "tiny-cpu-grpo-mentor.yaml",
        "tiny-cpu-grpo-sparse.yaml",
        "tiny-cpu-bfcl-sft.yaml",
        "tiny-cpu-bfcl-grpo-mentor.yaml",
        "tiny-cpu-bfcl-grpo-sparse.yaml",
    ):
        path = RECIPES[0].parent / name
        recipe = load_recipe(path, read_recipe(path)["trainer"])
        assert recipe.training_args.use_cpu and not recipe.training_args.bf16
        assert recipe.training_args.report_to in ([], ["none"], "none")
    sparse = load_recipe(RECIPES[0].parent / "tiny-cpu-grpo-sparse.yaml", "grpo")
    assert sparse.script_args.reward_funcs == ["sparse"]
    for variant in ("mentor", "sparse"):
        bfcl = load_recipe(RECIPES[0].parent / f"tiny-cpu-bfcl-grpo-{variant}.yaml", "grpo")
        assert bfcl.script_args.reward_funcs == [variant]
        assert bfcl.script_args.row_tools and bfcl.script_args.registry() is None


def test_row_tools_refuse_a_tools_subset():
    with pytest.raises(RecipeError, match="tool_registry: none"):
        build_configs({**BASE, "tool_registry": "none", "tools": ["add"]}, "grpo")


def test_overrides_are_typed_by_the_fields():
    path = RECIPES[0].parent / "tiny-cpu-grpo-mentor.yaml"
    recipe = load_recipe(
        path,
        "grpo",
        [
            "learning_rate=3e-6",
            "max_steps=7",
            "log_completions=false",
            "reward_funcs=mentor,sparse",
            "reward_weights=[1, 0.5]",
            "model_init_kwargs.dtype=float32",
            "save_strategy=no",
            "tools=[add, multiply]",
            "max_train_samples=null",
        ],
    )
    args, script = recipe.training_args, recipe.script_args
    assert args.learning_rate == 3e-6 and isinstance(args.learning_rate, float)
    assert args.max_steps == 7 and args.log_completions is False
    assert args.reward_weights == [1.0, 0.5]
    assert args.model_init_kwargs == {"dtype": "float32"}
    assert (
        str(
            args.save_strategy.value if hasattr(args.save_strategy, "value") else args.save_strategy
        )
        == "no"
    )
    assert script.reward_funcs == ["mentor", "sparse"]
    assert script.registry().names() == ["add", "multiply"]
    assert recipe.values["learning_rate"] == 3e-6  # what mentor_recipe.yaml records
    again = build_configs(__import__("yaml").safe_load(recipe.to_yaml()), "grpo")
    assert again.training_args.learning_rate == 3e-6 and again.script_args.tools == [
        "add",
        "multiply",
    ]


def test_unknown_key_lists_valid_keys():
    with pytest.raises(RecipeError) as err:
        build_configs({**BASE, "lerning_rate": 1e-5}, "grpo")
    message = str(err.value)
    assert "did you mean learning_rate" in message
    assert "reward_funcs" in message and "max_tool_calling_iterations" in message


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"max_steps": "ten"}, "max_steps='ten': expected int"),
        ({"reward_funcs": ["dense"]}, "unknown reward 'dense'"),
        ({"max_tool_calling_iterations": None}, "max_tool_calling_iterations=None"),
        ({"tools": ["add", "launch"]}, None),
        ({"learning_rate.x": 1}, None),
        ({"trainer": "sft"}, "this recipe is for `mentor-train sft`"),
        ({"model_name_or_path": None}, "model_name_or_path is not set"),
    ],
)
def test_bad_values_fail_clearly(values, match):
    kwargs = {**BASE, **values}
    if "learning_rate.x" in kwargs:
        kwargs = {**BASE, **parse_overrides(["learning_rate.x=1"])}
        match = "learning_rate is not a mapping"
    with pytest.raises(RecipeError, match=match):
        recipe = build_configs(kwargs, "grpo")
        recipe.script_args.registry()


def test_sft_max_length_floor():
    with pytest.raises(RecipeError, match="max_length=512: use >= 1024"):
        build_configs({**BASE, "max_length": 512}, "sft")
    assert build_configs({**BASE, "max_length": None}, "sft").training_args.max_length is None


def test_yaml_words_and_none():
    assert coerce("save_strategy", False, str) == "no"
    assert coerce("report_to", "none", str | list[str] | None) == "none"
    assert coerce("max_train_samples", "null", int | None) is None
    assert coerce("warmup_steps", 10, float) == 10.0
    with pytest.raises(RecipeError):
        coerce("use_vllm", "maybe", bool)


def test_override_syntax():
    assert parse_overrides(["a.b.c=1", "a.b.d=x"]) == {"a": {"b": {"c": 1, "d": "x"}}}
    with pytest.raises(RecipeError, match="KEY=VALUE"):
        parse_overrides(["learning_rate"])


def test_missing_recipe_file(tmp_path):
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml", "grpo")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(RecipeError, match="must be a mapping"):
        load_recipe(bad, "grpo")


def test_a_model_init_kwargs_type_error_names_the_key():
    exc = TypeError("Qwen2ForCausalLM.__init__() got an unexpected keyword argument 'nosuch'")
    error = model_init_kwargs_error(exc, {"dtype": "float32", "nosuch": 1})
    assert isinstance(error, RecipeError)
    assert str(error).startswith("model_init_kwargs.nosuch: the model does not accept")
    assert model_init_kwargs_error(exc, {"dtype": "float32"}) is None
    assert model_init_kwargs_error(TypeError("unsupported operand"), {"nosuch": 1}) is None
    assert model_init_kwargs_error(exc, None) is None
