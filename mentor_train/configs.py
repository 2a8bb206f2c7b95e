"""Training configs: script arguments + TRL configs, loaded from a flat YAML recipe with overrides.

A recipe is one flat YAML mapping (open-r1 style). Each key belongs either to the script
arguments (`GRPOScriptArguments` / `SFTScriptArguments`: model, dataset, rewards, tools) or to
the trainer config (`MentorGRPOConfig` / `MentorSFTConfig`, i.e. every `GRPOConfig` /
`SFTConfig` field), plus an optional `trainer: grpo|sft` that guards against passing an SFT
recipe to `mentor-train grpo`:

    trainer: grpo
    model_name_or_path: outputs/tiny-sft
    dataset: arith-verified@v1
    reward_funcs: [mentor]
    learning_rate: 1.0e-6
    model_init_kwargs: {dtype: float32}

`--set key=value` overrides a key (`--set learning_rate=3e-6`), a dotted key sets one entry of a
dict-typed field (`--set model_init_kwargs.dtype=bfloat16`). Values are parsed as YAML and then
typed by the dataclass field (`1e-6` is a float for a float field, `a,b` is a list for a list
field, `null`/`none` is None where None is allowed; quote a string that YAML would read as a
number: `--set run_name='"007"'`). An unknown key fails with the close matches and the list of
valid keys. The resolved recipe is written to `OUTPUT_DIR/mentor_recipe.yaml`.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from trl import GRPOConfig, SFTConfig

TRAINERS = ("grpo", "sft")
NO_REGISTRY = "none"
"""`tool_registry: none`: every row offers its own tools and the trainer executes none."""
DEFAULT_REGISTRY = "arithmetic"
"""The `tool_registry` of a recipe that names none."""
DOMAIN_REGISTRY = "domain"
"""`tool_registry: domain`: every row runs its own tools in its domain's environment."""


def is_tool_spec(entry: str) -> bool:
    """Whether a `tools:` entry is a tool source (`pkg.module`, `file.py`, `...:names`) rather
    than the name of a registry tool (an identifier)."""
    return not str(entry).isidentifier()


class RecipeError(ValueError):
    """A recipe or override that cannot be loaded; the message names the key and the fix."""


def model_init_kwargs_error(
    exc: BaseException, model_init_kwargs: dict[str, Any] | None
) -> RecipeError | None:
    """The `RecipeError` for a `TypeError` the model class raised on a `model_init_kwargs` key.

    `from_pretrained` passes keys it does not know (and the config does not have) to the model
    class, whose `__init__` fails with "got an unexpected keyword argument 'KEY'".

    Returns:
        A `RecipeError` naming `model_init_kwargs.KEY`, or None when `exc` is about something else.
    """
    message = str(exc)
    for key in model_init_kwargs or {}:
        if f"unexpected keyword argument '{key}'" in message:
            return RecipeError(
                f"model_init_kwargs.{key}: the model does not accept this argument ({message}); "
                "remove it, or use a `from_pretrained` argument or a config field "
                "(e.g. model_init_kwargs.dtype=bfloat16)"
            )
    return None


# -- script arguments ---------------------------------------------------------------------------
@dataclass
class ScriptArguments:
    """Arguments shared by `mentor-train grpo` and `mentor-train sft`.

    > Parameters of the student and the data

    Args:
        model_name_or_path (`str`):
            The student: a local model folder (`mentor-train init-tiny`, `init-student`, a
            checkpoint); models are not downloaded at run time, so a Hub id must be a folder here.
        dataset (`str`):
            Training data: a store version `NAME@vN` (a verified version, exported on the fly with
            `mentor_data.export.to_grpo` / `to_sft`), or a path: a `save_to_disk` folder, a
            `.parquet`/`.jsonl`/`.json` file or a folder of them, holding either the exported view
            (a `prompt` / `messages` column) or verified trajectories.
        data_dir (`str` or `None`, *optional*, defaults to `None`):
            Store folder for `NAME@vN` datasets; None means `$MENTOR_DATA_DIR` or `./data`.
        max_train_samples (`int` or `None`, *optional*, defaults to `None`):
            Keep the first N training rows (smoke runs); None keeps all.
        check_student (`bool`, *optional*, defaults to `True`):
            Check at start-up that the student's chat template renders tool calls, is
            prefix-preserving and gives a non-empty assistant mask (`students.check_student`).
    """

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Student model folder (local; nothing is downloaded)."}
    )
    dataset: str | None = field(
        default=None, metadata={"help": "Store version NAME@vN or a path to the training data."}
    )
    data_dir: str | None = field(
        default=None, metadata={"help": "Store folder (default $MENTOR_DATA_DIR or ./data)."}
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Keep only the first N training rows."}
    )
    check_student: bool = field(
        default=True, metadata={"help": "Check the student's chat template at start-up."}
    )

    def __post_init__(self) -> None:
        if not self.model_name_or_path:
            raise RecipeError(
                "model_name_or_path is not set: give the student's folder or id "
                "(e.g. `--set model_name_or_path=outputs/tiny`)"
            )
        if not self.dataset:
            raise RecipeError(
                "dataset is not set: give a store version NAME@vN or a path "
                "(e.g. `--set dataset=arith-verified@v1`)"
            )
        if self.max_train_samples is not None and self.max_train_samples < 1:
            raise RecipeError(f"max_train_samples={self.max_train_samples}: use N >= 1 or null")


@dataclass
class GRPOScriptArguments(ScriptArguments):
    """Script arguments of `mentor-train grpo`.

    > Parameters of the rewards and the tools

    Args:
        reward_funcs (`list[str]`, *optional*, defaults to `["mentor"]`):
            Reward variants (`mentor`, `sparse`, `ablation-partial`, `ablation-hallucination`,
            `ablation-f1`); weight them with `reward_weights`.
        tool_registry (`str`, *optional*, defaults to `"arithmetic"`):
            The tools the student may call: a registry name `mentor_data.tools.get_registry`
            knows (`arithmetic`, `python`, `arithmetic+python`), which TRL executes in its
            multi-turn loop for every row; `domain`: each row runs its own offered tools (its
            `tools` column) in a fresh environment of its domain, per rollout (TRL's
            `environment_factory`; what a user's domain or tools train with, and the default
            when `domain`, a tool source in `tools` or `mcp` is set); or `none`: each row offers
            its own tools (rendered into its prompt by the student's chat template) and nothing
            executes, so a completion is one assistant turn of calls (single-turn function
            calling: BFCL).
        tools (`list[str]` or `None`, *optional*, defaults to `None`):
            Names: offer only these tools of the registry (in this order); None offers all.
            Tool sources (`pkg.module`, `path/tools.py`, optionally `:name1,name2`): load the
            user's Python tools for the rows that offer them (as `--tools` does).
        mcp (`list[str]` or `None`, *optional*, defaults to `None`):
            MCP servers whose tools the rows offer: `COMMAND ARGS` (stdio) or a URL.
        domain (`str` or `None`, *optional*, defaults to `None`):
            A user domain the rows belong to: `pkg.module:attr` or `file.py:attr`.
        smoke_check_steps (`int`, *optional*, defaults to `1`):
            Fail loudly when the first N logged steps make no tool call at all (a student that
            never calls tools trains nothing about tools: run SFT first or fix the template);
            0 disables the check.
    """

    reward_funcs: list[str] = field(
        default_factory=lambda: ["mentor"], metadata={"help": "Reward variants to sum."}
    )
    tool_registry: str = field(
        default=DEFAULT_REGISTRY, metadata={"help": "Tool registry the student may call."}
    )
    tools: list[str] | None = field(
        default=None,
        metadata={"help": "Registry tool names to offer, or tool sources (pkg.module, file.py)."},
    )
    mcp: list[str] | None = field(
        default=None, metadata={"help": "MCP servers: 'COMMAND ARGS' or a URL."}
    )
    domain: str | None = field(
        default=None, metadata={"help": "A user domain: pkg.module:attr or file.py:attr."}
    )
    smoke_check_steps: int = field(
        default=1, metadata={"help": "Fail when the first N logged steps make no tool call."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        from mentor_train.rewards import get_reward

        if not self.reward_funcs:
            raise RecipeError("reward_funcs is empty: name at least one variant, e.g. [mentor]")
        for name in self.reward_funcs:
            try:
                get_reward(name, tools=[])
            except ValueError as exc:
                raise RecipeError(f"reward_funcs: {exc}") from None
        if self.smoke_check_steps < 0:
            raise RecipeError(f"smoke_check_steps={self.smoke_check_steps}: use N >= 0")
        sources = self.domain or self.mcp or self.tool_specs
        if sources and self.tool_registry == DEFAULT_REGISTRY:  # the default: a user's tools
            self.tool_registry = DOMAIN_REGISTRY
        if (self.row_tools or self.domain_tools) and self.tool_names:
            raise RecipeError(
                f"tools={self.tool_names} with tool_registry: {self.tool_registry}: each row "
                "offers its own tools (its `tools` column); remove the names from `tools:` or "
                "name a registry"
            )

    @property
    def tool_specs(self) -> list[str]:
        """The tool sources among `tools` (`pkg.module`, `file.py`)."""
        return [t for t in self.tools or [] if is_tool_spec(t)]

    @property
    def tool_names(self) -> list[str]:
        """The registry tool names among `tools`."""
        return [t for t in self.tools or [] if not is_tool_spec(t)]

    @property
    def domain_tools(self) -> bool:
        """Whether each row runs its own tools in its domain (`tool_registry: domain`)."""
        return self.tool_registry.strip().lower() == DOMAIN_REGISTRY

    @property
    def row_tools(self) -> bool:
        """Whether each row offers its own tools (`tool_registry: none`): nothing executes."""
        return self.tool_registry.strip().lower() == NO_REGISTRY

    def registry(self):
        """The `ToolRegistry` offered to the student (the `tools` subset when set); None for
        `tool_registry: none` and `domain` (each row offers its own)."""
        from mentor_data.tools import get_registry

        if self.row_tools or self.domain_tools:
            return None
        try:
            registry = get_registry(self.tool_registry)
            return registry.subset(self.tool_names) if self.tool_names else registry
        except (KeyError, ValueError) as exc:
            raise RecipeError(f"tool_registry/tools: {exc}") from None


@dataclass
class SFTScriptArguments(ScriptArguments):
    """Script arguments of `mentor-train sft` (the shared ones; SFT reads tools from its rows)."""


# -- trainer configs ----------------------------------------------------------------------------
@dataclass
class MentorGRPOConfig(GRPOConfig):
    """`trl.GRPOConfig` with mentor's defaults; every GRPOConfig field is a recipe key.

    > Defaults that differ from TRL

    Args:
        max_tool_calling_iterations (`int`, *optional*, defaults to `5`):
            Tool rounds per completion (the method uses up to 5). TRL's default is unbounded,
            and unbounded tool loops have run out of memory (TRL#4751), so None is refused.
        logging_steps (`float`, *optional*, defaults to `1`):
            Log every step: the tool-call rate of the first steps is the smoke check.

    > Colocated vLLM engine (`use_vllm: true, vllm_mode: colocate`; `mentor_train.vllm_sync`)

    Args:
        vllm_dtype (`str`, *optional*, defaults to `"auto"`):
            dtype of the engine: `auto` is the policy's dtype on vLLM's CPU backend (on-policy
            rollouts) and vLLM's own choice elsewhere; or `float32`, `bfloat16`, `float16`.
        vllm_enforce_eager (`bool` or `None`, *optional*, defaults to `None`):
            Run the engine without torch.compile. None: True on the CPU backend (compiling
            costs 100-170 s per start there for about the same speed), vLLM's default elsewhere.

    > The loss's forward pass (`mentor_train.shared_prefix`)

    Args:
        share_prompt_prefix (`bool`, *optional*, defaults to `False`):
            Compute each group's prompt once in the loss instead of once per rollout: the same
            log-probs and gradient, for a fraction of the compute when the prompt is long (the
            12 tool schemas are ~1.2k tokens). Each micro-batch must hold whole groups:
            `steps_per_generation: 1` (each micro-batch generates its own groups) and
            `per_device_train_batch_size` a multiple of `num_generations`. Plain causal LMs
            without activation checkpointing only.
    """

    max_tool_calling_iterations: int | None = field(
        default=5, metadata={"help": "Tool rounds per completion (required, >= 1)."}
    )
    logging_steps: float = field(default=1, metadata={"help": "Log every N steps."})
    vllm_dtype: str = field(
        default="auto",
        metadata={"help": "Colocated vLLM dtype: auto (policy's on CPU), float32, bfloat16."},
    )
    vllm_enforce_eager: bool | None = field(
        default=None,
        metadata={"help": "Colocated vLLM without torch.compile (None: True on CPU)."},
    )
    share_prompt_prefix: bool = field(
        default=False,
        metadata={
            "help": "Compute each group's prompt once in the loss (exact; needs "
            "steps_per_generation: 1)."
        },
    )

    def __post_init__(self) -> None:
        from mentor_train.vllm_sync import DTYPES

        if self.vllm_dtype not in DTYPES:
            raise RecipeError(f"vllm_dtype={self.vllm_dtype!r}: use one of {list(DTYPES)}")
        if self.max_tool_calling_iterations is None or self.max_tool_calling_iterations < 1:
            raise RecipeError(
                f"max_tool_calling_iterations={self.max_tool_calling_iterations}: set a cap >= 1 "
                "(e.g. 5); unbounded tool loops can exhaust memory"
            )
        super().__post_init__()
        if self.share_prompt_prefix and self.steps_per_generation != 1:
            raise RecipeError(
                f"share_prompt_prefix with steps_per_generation={self.steps_per_generation}: TRL "
                "shuffles one generation's rollouts across its micro-batches, so a micro-batch "
                "rarely holds a whole group; set steps_per_generation: 1 (with "
                "per_device_train_batch_size a multiple of num_generations)"
            )


SFT_MIN_MAX_LENGTH = 1024
"""SFT silently trains nothing on examples whose assistant turns are truncated away; the tool
system prompt alone is 600-1,100 tokens (notes/trl.md)."""


@dataclass
class MentorSFTConfig(SFTConfig):
    """`trl.SFTConfig` with mentor's defaults; every SFTConfig field is a recipe key.

    > Defaults that differ from TRL

    Args:
        assistant_only_loss (`bool`, *optional*, defaults to `True`):
            Train on the assistant turns only (tool calls and answers), not on prompts or tool
            observations.
        max_length (`int` or `None`, *optional*, defaults to `2048`):
            Longest tokenized conversation; must be >= 1024 (or None) so the tool system prompt
            does not push the assistant turns out of the window. The system prompt with the twelve
            arithmetic tools is ~1.1k tokens (tiny tokenizer and SmolLM2 alike), hence 2048.
    """

    assistant_only_loss: bool = field(
        default=True, metadata={"help": "Train on assistant turns only."}
    )
    max_length: int | None = field(
        default=2048, metadata={"help": "Longest conversation in tokens (>= 1024)."}
    )

    def __post_init__(self) -> None:
        if self.max_length is not None and self.max_length < SFT_MIN_MAX_LENGTH:
            raise RecipeError(
                f"max_length={self.max_length}: use >= {SFT_MIN_MAX_LENGTH} (or null); the tool "
                "system prompt alone takes 600-1,100 tokens and truncated assistant turns train "
                "nothing"
            )
        super().__post_init__()


CONFIGS: dict[str, tuple[type, type]] = {
    "grpo": (GRPOScriptArguments, MentorGRPOConfig),
    "sft": (SFTScriptArguments, MentorSFTConfig),
}


# -- typing values by dataclass fields ------------------------------------------------------------
_NONE_WORDS = {"none", "null", "~"}
_TRUE_WORDS = {"true", "yes", "on", "1"}
_FALSE_WORDS = {"false", "no", "off", "0"}


def _fail(key: str, value: Any, tp: Any) -> RecipeError:
    name = getattr(tp, "__name__", None) or str(tp).replace("typing.", "")
    return RecipeError(f"{key}={value!r}: expected {name}")


def coerce(key: str, value: Any, tp: Any) -> Any:
    """Type a recipe value by its dataclass field type.

    Raises:
        RecipeError: the value does not fit the type (the message names the key).

    Example:
        >>> coerce("learning_rate", "1e-6", float)
        1e-06
        >>> coerce("reward_funcs", "mentor,sparse", list[str])
        ['mentor', 'sparse']
    """
    if tp is Any or tp is typing.Any:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        arms = [a for a in args if a is not type(None)]
        if value is None or (
            isinstance(value, str)
            and value.strip().lower() in _NONE_WORDS
            and type(None) in args
            and str not in arms
        ):
            if type(None) in args:
                return None
            raise _fail(key, value, tp)
        for arm in arms:  # an arm the value already is wins (a str stays a str)
            if _is_instance(value, arm):
                return coerce(key, value, arm)
        for arm in arms:
            try:
                return coerce(key, value, arm)
            except RecipeError:
                continue
        raise _fail(key, value, tp)
    if origin is typing.Literal:
        if value in args:
            return value
        raise RecipeError(f"{key}={value!r}: use one of {list(args)}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS | _FALSE_WORDS:
            return value.strip().lower() in _TRUE_WORDS
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise _fail(key, value, tp)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise _fail(key, value, tp)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise _fail(key, value, tp)
    if isinstance(value, bool) and (
        tp is str or (isinstance(tp, type) and issubclass(tp, enum.Enum))
    ):
        # YAML 1.1 reads `save_strategy: no` as False: give such fields their word back.
        value = "yes" if value else "no"
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise _fail(key, value, tp)
    if origin in (list, tuple) or tp in (list, tuple):
        item = args[0] if args else Any
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            value = [value]
        return [coerce(f"{key}[{i}]", v, item) for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if isinstance(value, dict):
            return value
        raise _fail(key, value, "a mapping")
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value).value
        except ValueError:
            raise RecipeError(f"{key}={value!r}: use one of {[e.value for e in tp]}") from None
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise _fail(key, value, tp)
    return value


def _is_instance(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp) or tp
    if origin is typing.Literal:
        return value in typing.get_args(tp)
    if not isinstance(origin, type):
        return False
    if origin is float:
        return isinstance(value, float)
    if origin is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if issubclass(origin, enum.Enum):
        return False
    return isinstance(value, origin)


def field_types(cls: type) -> dict[str, Any]:
    """Init fields of a dataclass and their resolved types."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls) if f.init}


# -- recipes --------------------------------------------------------------------------------------
def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`["a=1", "b.c=x"]` -> `{"a": 1, "b": {"c": "x"}}`; values parsed as YAML.

    Raises:
        RecipeError: an item without `=`.

    Example:
        >>> parse_overrides(["learning_rate=3e-6", "model_init_kwargs.dtype=float32"])
        {'learning_rate': '3e-6', 'model_init_kwargs': {'dtype': 'float32'}}
        >>> parse_overrides(["max_steps=3", "reward_funcs=[mentor, sparse]"])
        {'max_steps': 3, 'reward_funcs': ['mentor', 'sparse']}
    """
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise RecipeError(f"--set {item!r}: write KEY=VALUE (dotted keys set dict entries)")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        target = out
        parts = key.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise RecipeError(f"--set {item!r}: {part} is set both as a value and a mapping")
        target[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _unknown_key_error(
    key: str, script_keys: list[str], train_keys: list[str], train_cls: type
) -> RecipeError:
    close = difflib.get_close_matches(key, script_keys + train_keys, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return RecipeError(
        f"unknown recipe key {key!r}{hint}. Valid keys: trainer, {', '.join(script_keys)}; and "
        f"every {train_cls.__base__.__name__} field: {', '.join(train_keys)}"
    )


@dataclass
class Recipe:
    """A loaded recipe.

    Attributes:
        trainer: `grpo` or `sft`.
        values: the typed recipe mapping (file + overrides), as written to
            `OUTPUT_DIR/mentor_recipe.yaml`.
        script_args: `GRPOScriptArguments` or `SFTScriptArguments`.
        training_args: `MentorGRPOConfig` or `MentorSFTConfig`.
    """

    trainer: str
    values: dict[str, Any]
    script_args: Any
    training_args: Any

    def to_yaml(self) -> str:
        """The recipe as YAML (loads back to the same configs)."""
        return yaml.safe_dump({"trainer": self.trainer, **_plain(self.values)}, sort_keys=False)


def build_configs(values: dict[str, Any], trainer: str) -> Recipe:
    """Split a flat recipe mapping into script arguments and trainer config, typing every value.

    Raises:
        RecipeError: an unknown key, a value of the wrong type, a recipe for another trainer, or
            a value the config's own checks refuse.
    """
    if trainer not in CONFIGS:
        raise RecipeError(f"unknown trainer {trainer!r}; use one of {', '.join(TRAINERS)}")
    script_cls, train_cls = CONFIGS[trainer]
    values = dict(values)
    declared = values.pop("trainer", trainer)
    if declared != trainer:
        raise RecipeError(
            f"this recipe is for `mentor-train {declared}`, not `{trainer}` "
            f"(its `trainer:` key says {declared!r})"
        )
    script_types, train_types = field_types(script_cls), field_types(train_cls)
    typed: dict[str, Any] = {}
    script_kwargs: dict[str, Any] = {}
    train_kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key in script_types:
            script_kwargs[key] = typed[key] = coerce(key, value, script_types[key])
        elif key in train_types:
            tp = train_types[key]
            if isinstance(value, dict) and not _accepts_dict(tp):
                raise RecipeError(
                    f"{key} is not a mapping: dotted keys ({key}.x=...) only set "
                    "entries of dict-typed fields"
                )
            train_kwargs[key] = typed[key] = coerce(key, value, tp)
        else:
            raise _unknown_key_error(key, sorted(script_types), sorted(train_types), train_cls)
    try:
        script_args = script_cls(**script_kwargs)
        train_args = train_cls(**train_kwargs)
    except RecipeError:
        raise
    except (ValueError, TypeError) as exc:
        raise RecipeError(f"invalid recipe: {exc}") from exc
    return Recipe(trainer, typed, script_args, train_args)


def _accepts_dict(tp: Any) -> bool:
    if tp is dict or typing.get_origin(tp) is dict:
        return True
    return any(
        _accepts_dict(a)
        for a in typing.get_args(tp)
        if typing.get_origin(tp) in (typing.Union, types.UnionType)
    )


def read_recipe(path: str | Path) -> dict[str, Any]:
    """The mapping of a YAML recipe file.

    Raises:
        RecipeError: a missing file, invalid YAML or a document that is not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe {path} does not exist (recipes live in recipes/*.yaml)")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"recipe {path} must be a mapping of keys to values")
    return data


def load_recipe(
    path: str | Path | None, trainer: str, overrides: list[str] | tuple[str, ...] = ()
) -> Recipe:
    """Load a recipe file and `--set` overrides into (script arguments, trainer config).

    Args:
        path: the YAML recipe (None: overrides only).
        trainer: `grpo` or `sft`.
        overrides: `KEY=VALUE` strings; dotted keys set entries of dict-typed fields.

    Returns:
        A `Recipe` holding `GRPOScriptArguments` + `MentorGRPOConfig` or `SFTScriptArguments` +
        `MentorSFTConfig`.

    Raises:
        RecipeError: see `build_configs`.
    """
    values = read_recipe(path) if path is not None else {}
    return build_configs(_merge(values, parse_overrides(list(overrides))), trainer)


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


__all__ = [
    "CONFIGS",
    "GRPOScriptArguments",
    "MentorGRPOConfig",
    "MentorSFTConfig",
    "RecipeError",
    "SFTScriptArguments",
    "ScriptArguments",
    "build_configs",
    "coerce",
    "load_recipe",
    "model_init_kwargs_error",
    "parse_overrides",
    "Recipe",
    "read_recipe",
]
