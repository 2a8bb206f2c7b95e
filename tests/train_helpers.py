"""Shared fixtures of the mentor_train tests: tiny students and hand-made training rows.

`tool_student` is a tiny Qwen2 model taught by `mentor_train.sft` (the SFT path under test) to
answer "What is 1 + 2?" with an `add` call and `\\boxed{3}`, so the GRPO and eval tests exercise
real tool calls. It is built once per session and cached in pytest's cache folder across sessions
(the key covers its recipe and the library versions); `pytest --cache-clear` rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from mentor_data.teachers import DEFAULT_SYSTEM_PROMPT
from mentor_data.tools import get_registry

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs 2 workers on 2 cores: one torch thread each, or they thrash (5x slower)
    import torch

    torch.set_num_threads(1)

QUESTION = "What is 1 + 2?"
ADD_TOOLS = get_registry().subset(["add"]).schemas()
TINY = {"hidden_size": 128, "num_layers": 4, "vocab_size": 2048, "seed": 0}
FIXTURE_SFT = [
    "per_device_train_batch_size=1",
    "learning_rate=3e-3",
    "lr_scheduler_type=constant",
    "warmup_steps=0",
    "max_steps=60",
    "logging_steps=20",
    "save_strategy=no",
    "max_length=1024",
]
CPU = [
    "bf16=false",
    "use_cpu=true",
    "activation_checkpointing=false",
    "report_to=none",
    "seed=0",
    "disable_tqdm=true",
]


def conversation(a: int = 1, b: int = 2) -> list[dict]:
    """The conversation the tool student imitates: one add call, then the boxed result."""
    return [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        {"role": "user", "content": f"What is {a} + {b}?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_0",
                    "type": "function",
                    "function": {"name": "add", "arguments": {"a": a, "b": b}},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_0", "name": "add", "content": str(a + b)},
        {"role": "assistant", "content": f"\\boxed{{{a + b}}}"},
    ]


def sft_rows(n: int = 8) -> list[dict]:
    """SFT rows in the `to_sft` format: messages + tools as a JSON string."""
    return [{"messages": conversation(), "tools": json.dumps(ADD_TOOLS)} for _ in range(n)]


def grpo_rows(n: int = 2) -> list[dict]:
    """GRPO rows with exactly the `to_grpo` column names."""
    return [
        {
            "prompt": conversation()[:2],
            "answer": "3",
            "problem_id": f"p{i}",
            "tool_names": ["add"],
            "teacher_tools": ["add"],
            "teacher_tool_counts": {"add": 1},
            "teacher_tool_sequence": ["add"],
            "teacher_n_calls": 1,
            "teacher_answer": "3",
            "family": "test",
        }
        for i in range(n)
    ]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def make_verified_version(data_dir: Path, problems: str, name: str = "arith") -> str:
    """Generate (solver teacher) and verify a store version; returns `NAME-verified@v1`."""
    from mentor_data.generate import GenerateConfig, generate
    from mentor_data.store import Store
    from mentor_data.verify import verify_dataset

    store = Store(data_dir)
    generate(GenerateConfig(problems=problems, name=name), store=store)
    verify_dataset(f"{name}@v1", store=store, name=f"{name}-verified")
    return f"{name}-verified@v1"


def _key() -> str:
    import torch
    import transformers
    import trl

    from mentor_train import students

    blob = json.dumps(
        [
            TINY,
            FIXTURE_SFT,
            sft_rows(1),
            torch.__version__,
            transformers.__version__,
            trl.__version__,
            Path(students.__file__).read_text(),
        ]
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_tiny(path: Path) -> Path:
    from mentor_train.students import TinyConfig, init_tiny

    return init_tiny(path, TinyConfig(**TINY))


def train_tool_student(tiny: Path, out: Path):
    """SFT the tiny student on the add conversation through `mentor_train.sft.train`."""
    from datasets import Dataset

    from mentor_train.configs import load_recipe
    from mentor_train.sft import train

    recipe = load_recipe(
        None,
        "sft",
        [f"model_name_or_path={tiny}", "dataset=unused", f"output_dir={out}", *FIXTURE_SFT, *CPU],
    )
    return train(recipe, train_dataset=Dataset.from_list(sft_rows(60)))


@pytest.fixture(scope="session")
def tiny_student(tmp_path_factory) -> Path:
    """An untrained tiny student (built in seconds)."""
    return build_tiny(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tool_student(request, tiny_student) -> Path:
    """A tiny student that calls `add` for "What is 1 + 2?" and answers \\boxed{3} (cached)."""
    cache = Path(request.config.cache.mkdir("mentor-tool-student")) / _key()
    if not (cache / "model.safetensors").is_file():
        # xdist workers may build it at the same time: each in its own folder, first rename wins
        staging = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        train_tool_student(tiny_student, staging)
        try:
            staging.rename(cache)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    return cache
