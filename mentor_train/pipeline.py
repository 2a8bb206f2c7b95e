"""The offline end-to-end demo: the whole MENTOR pipeline on the built-in default, on a CPU.

    python -m mentor_train.pipeline            # `make demo`: the full run (< 20 min, 2 cores)
    python -m mentor_train.pipeline --quick    # a few minutes; part of the test suite
    python -m mentor_train.pipeline --config recipes/experiment-tiny.yaml   # the experiments

Stages, each shown with its progress and cached (a re-run reuses every finished stage whose
inputs did not change; outputs are store versions and folders under `--run-dir`):

 1) data     solver teacher on the in-domain families -> `NAME-teacher@vN`
 2) verify   execution-verified, one trajectory per problem -> `NAME-verified@vN`
 3) card     data_cards/NAME-verified.md
 4) student  mentor-train init-tiny (or init-student smollm2-135m)
 5) sft      warm start on the verified trajectories (recipes/tiny-cpu-sft.yaml)
 6) grpo     from the SFT checkpoint: sparse reward and MENTOR reward, same budget, same seed
 7) eval     base, SFT, SFT+sparse, SFT+MENTOR on held-out in-domain problems and on the
             out-of-domain families
 8) report   one results table (printed, results.md, results.json) and the accuracy-vs-
             similarity plot
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@dataclass
class PipelineConfig:
    """Sizes of the demo run. The defaults are the full run; `quick()` is the test-suite run.

    Attributes:
        run_dir: folder for models, eval results, the table and the plot.
        data_dir: store folder (None: `$MENTOR_DATA_DIR` or `./data`).
        name: prefix of the store datasets (`NAME-teacher`, `NAME-verified`).
        card_dir: where the data card is written.
        train_problems: in-domain problems the teacher solves (the training set).
        eval_problems: problems per evaluation split (held-out in-domain, out-of-domain).
        teacher: the offline teacher of the training problems (`solver`; `oracle` for BFCL).
        train_spec: the training problems (default `builtin:in_domain?n=TRAIN_PROBLEMS`).
        eval_specs: evaluation splits, label -> problem spec (default: `in_domain`, the held-out
            in-domain problems, and `held_out`, the out-of-domain families; `{n}` is replaced by
            `eval_problems`).
        student: `tiny` (init-tiny), a name of `mentor_train.students.STUDENTS` (init-student,
            e.g. `smollm2-135m`), or a model folder used as is.
        sft_recipe: the SFT recipe the overrides apply to.
        grpo_recipe: the GRPO recipe (`{variant}` is replaced by `sparse` / `mentor`).
        sft_steps: SFT warm-start steps.
        grpo_steps: GRPO steps of each RL run (sparse and MENTOR get the same budget).
        num_generations: GRPO rollouts per prompt.
        max_completion_length: GRPO token budget of the whole multi-turn tail.
        eval_max_tokens: token limit of one assistant turn at evaluation.
        seeds: one sparse and one MENTOR GRPO run per seed, all from the one SFT checkpoint.
        tiny: overrides of `TinyConfig` (model size).
        sft_overrides: extra recipe values of the SFT run (e.g. `learning_rate`).
        grpo_overrides: extra recipe values of both GRPO runs (e.g. `learning_rate`).
    """

    run_dir: Path = Path("runs/demo")
    data_dir: Path | None = None
    name: str = "demo"
    card_dir: Path = Path("data_cards")
    train_problems: int = 400
    eval_problems: int = 40
    teacher: str = "solver"
    train_spec: str | None = None
    eval_specs: dict[str, str] = field(
        default_factory=lambda: {
            "in_domain": "builtin:in_domain?n={n}&offset=1000000",
            "held_out": "builtin:held_out?n={n}",
        }
    )
    student: str = "tiny"
    sft_recipe: str = "tiny-cpu-sft.yaml"
    grpo_recipe: str = "tiny-cpu-grpo-{variant}.yaml"
    sft_steps: int = 300
    grpo_steps: int = 30
    num_generations: int = 8
    max_completion_length: int = 320
    eval_max_tokens: int = 96
    seeds: tuple[int, ...] = (0,)
    tiny: dict[str, Any] = field(default_factory=dict)
    sft_overrides: dict[str, Any] = field(default_factory=dict)
    # A from-scratch ~1M model moves little at TRL's default 1e-6; 1e-4 is the largest rate at
    # which 30 steps stayed stable in our runs.
    grpo_overrides: dict[str, Any] = field(default_factory=lambda: {"learning_rate": 1e-4})

    @classmethod
    def quick(cls, **overrides: Any) -> PipelineConfig:
        """A few-minute run that exercises every stage (CI)."""
        base = cls(
            run_dir=Path("runs/demo-quick"),
            name="demo-quick",
            train_problems=40,
            eval_problems=6,
            sft_steps=20,
            grpo_steps=2,
            num_generations=2,
            max_completion_length=64,
            eval_max_tokens=48,
            tiny={"hidden_size": 64, "num_layers": 2, "intermediate_size": 128},
        )
        return replace(base, **overrides)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> PipelineConfig:
        """A config from a YAML file of `PipelineConfig` fields (`recipes/experiment-*.yaml`)."""
        import dataclasses

        import yaml

        path = Path(path)
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a mapping of PipelineConfig fields")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"{path}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        for key in ("run_dir", "data_dir", "card_dir"):
            if values.get(key) is not None:
                values[key] = Path(values[key])
        if "seeds" in values:
            values["seeds"] = tuple(values["seeds"])
        return replace(cls(**values), **overrides)


def _digest(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Stages:
    """Runs named stages once: a stage whose parameters are unchanged is read back from disk."""

    def __init__(self, run_dir: Path):
        self.dir = run_dir / "stages"
        self.dir.mkdir(parents=True, exist_ok=True)

    def run(
        self,
        name: str,
        params: dict[str, Any],
        fn: Callable[[], dict[str, Any]],
        still_valid: Callable[[dict[str, Any]], bool] = lambda _: True,
    ) -> dict[str, Any]:
        marker = self.dir / f"{name}.json"
        digest = _digest(params)
        if marker.is_file():
            saved = json.loads(marker.read_text())
            if saved.get("digest") == digest and still_valid(saved["result"]):
                logger.info("[%s] reused (%s)", name, marker)
                return saved["result"]
        logger.info("[%s] running ...", name)
        started = time.perf_counter()
        result = fn()
        seconds = round(time.perf_counter() - started, 1)
        logger.info("[%s] done in %.1f s", name, seconds)
        marker.write_text(
            json.dumps(
                {"digest": digest, "params": params, "seconds": seconds, "result": result},
                indent=2,
                default=str,
            )
        )
        return result


def _train(trainer: str, recipe: str, overrides: dict[str, Any]) -> dict[str, Any]:
    from mentor_train.configs import load_recipe

    sets = [
        f"{k}={json.dumps(v) if isinstance(v, (list, dict)) else v}" for k, v in overrides.items()
    ]
    loaded = load_recipe(RECIPES / recipe, trainer, sets)
    if trainer == "sft":
        from mentor_train.sft import train
    else:
        from mentor_train.grpo import train
    result = train(loaded)
    return {
        "output_dir": str(result.output_dir),
        "global_step": result.global_step,
        "train_loss": result.metrics.get("train_loss"),
    }


def run_pipeline(config: PipelineConfig) -> dict[str, Any]:
    """Run (or resume) every stage and return the results table as a dict."""
    from mentor_data.store import Store

    store = Store(config.data_dir)
    run_dir = config.run_dir
    stages = Stages(run_dir)
    data_dir = str(store.root)

    def exists(result: dict[str, Any]) -> bool:
        try:
            store.resolve(result["ref"])
            return True
        except Exception:
            return False

    # 1) data
    def data() -> dict[str, Any]:
        from mentor_data.generate import GenerateConfig, generate

        result = generate(
            GenerateConfig(
                problems=train_spec,
                name=f"{config.name}-teacher",
                teacher=config.teacher,
            ),
            store=store,
            command="python -m mentor_train.pipeline (data)",
        )
        return {"ref": result.version.ref, "rows": result.rows}

    train_spec = config.train_spec or f"builtin:in_domain?n={config.train_problems}"
    data_params: dict[str, Any] = {"n": config.train_problems, "name": config.name}
    if config.train_spec or config.teacher != "solver":  # (the default keeps older caches valid)
        data_params.update(spec=train_spec, teacher=config.teacher)
    teacher = stages.run("data", data_params, data, exists)

    # 2) verify
    def verify() -> dict[str, Any]:
        from mentor_data.verify import VerifyConfig, verify_dataset

        summary = verify_dataset(
            teacher["ref"],
            store=store,
            name=f"{config.name}-verified",
            config=VerifyConfig(per_problem=1),
            command="python -m mentor_train.pipeline (verify)",
        )
        return {
            "ref": summary.output_ref,
            "rows": summary.rows,
            "kept": summary.kept,
            "reasons": summary.reasons,
        }

    verified = stages.run("verify", {"input": teacher["ref"]}, verify, exists)

    # 3) card
    def card() -> dict[str, Any]:
        from mentor_data.cards import write_card

        path = config.card_dir / f"{config.name}-verified.md"
        return {"path": str(write_card(verified["ref"], out=path, store=store))}

    stages.run("card", {"input": verified["ref"]}, card, lambda r: Path(r["path"]).is_file())

    # 4) student
    from mentor_train.students import STUDENTS, TinyConfig, init_student, init_tiny

    base = run_dir / "base"

    def student() -> dict[str, Any]:
        if config.student in STUDENTS:
            init_student(config.student, base)
        else:
            init_tiny(base, TinyConfig(**config.tiny))
        return {"path": str(base)}

    if config.student == "tiny" or config.student in STUDENTS:
        student_params: dict[str, Any] = {"tiny": config.tiny}
        if config.student != "tiny":
            student_params["student"] = config.student
        stages.run(
            "student",
            student_params,
            student,
            lambda r: (Path(r["path"]) / "config.json").is_file(),
        )
    else:
        base = Path(config.student)

    # 5) SFT warm start (one checkpoint; the RL runs of every seed start from it)
    sft_dir = run_dir / "sft"
    sft_params = {
        "model_name_or_path": str(base),
        "dataset": verified["ref"],
        "data_dir": data_dir,
        "output_dir": str(sft_dir),
        "max_steps": config.sft_steps,
        "seed": 0,
        "save_steps": 10**6,
        "logging_steps": max(1, config.sft_steps // 10),
        **config.sft_overrides,
    }
    stages.run(
        "sft",
        sft_params,
        lambda: _train("sft", config.sft_recipe, sft_params),
        lambda r: (Path(r["output_dir"]) / "config.json").is_file(),
    )
    models: dict[str, str] = {"base": str(base), "sft": str(sft_dir)}
    # 6) GRPO from the SFT checkpoint: sparse and MENTOR, same budget, same seed
    for seed in config.seeds:
        for variant in ("sparse", "mentor"):
            out = run_dir / f"grpo-{variant}-s{seed}"
            params = {
                "model_name_or_path": str(sft_dir),
                "dataset": verified["ref"],
                "data_dir": data_dir,
                "output_dir": str(out),
                "reward_funcs": [variant],
                "max_steps": config.grpo_steps,
                "seed": seed,
                "num_generations": config.num_generations,
                "per_device_train_batch_size": config.num_generations,
                "max_completion_length": config.max_completion_length,
                "save_steps": 10**6,
                "log_completions": False,
                "smoke_check_steps": 0,
                **config.grpo_overrides,
            }
            stages.run(
                f"grpo-{variant}-s{seed}",
                params,
                lambda p=params, v=variant: _train("grpo", config.grpo_recipe.format(variant=v), p),
                lambda r: (Path(r["output_dir"]) / "config.json").is_file(),
            )
            models[f"grpo-{variant}-s{seed}"] = str(out)

    # 7) eval
    splits = {k: v.format(n=config.eval_problems) for k, v in config.eval_specs.items()}
    summaries: dict[str, dict[str, Any]] = {}
    for label, path in models.items():
        for split, spec in splits.items():
            key = f"eval-{label}-{split}"
            out = run_dir / "eval" / label / split

            def run_eval(path=path, spec=spec, out=out, label=label) -> dict[str, Any]:
                from mentor_train.evaluate import EvalConfig, evaluate, teacher_tool_frequencies

                freq = teacher_tool_frequencies(verified["ref"], data_dir=data_dir)
                result = evaluate(
                    path,
                    spec,
                    freq,
                    EvalConfig(backend="hf", max_tokens=config.eval_max_tokens, label=label),
                )
                result.write(out)
                return {"dir": str(out), "summary": result.summary}

            summaries[key] = stages.run(
                key,
                {
                    "model": path,
                    "spec": spec,
                    "max_tokens": config.eval_max_tokens,
                    "model_stage": _model_digest(Path(path)),
                },
                run_eval,
                lambda r: Path(r["dir"]).is_dir(),
            )

    # 8) report
    return _report(config, models, splits, summaries)


def _model_digest(path: Path) -> str:
    """Changes when the model folder is rewritten, so evals of a retrained model are redone."""
    files = sorted(path.glob("*.safetensors")) + sorted(path.glob("config.json"))
    return _digest({f.name: f.stat().st_mtime_ns for f in files})


def _report(
    config: PipelineConfig,
    models: dict[str, str],
    splits: dict[str, str],
    summaries: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    from mentor_train.evaluate import plot_results

    rows = []
    for label in models:
        row: dict[str, Any] = {"model": label}
        for split in splits:
            s = summaries[f"eval-{label}-{split}"]["summary"]
            row[f"{split}_accuracy"] = s["accuracy"]
            row[f"{split}_similarity"] = s["tool_similarity"]
            row[f"{split}_tool_call_rate"] = s["tool_call_rate"]
            row[f"{split}_set_match"] = s.get("tool_set_match_rate")
            row[f"{split}_invalid_tool_rate"] = s["invalid_tool_rate"]
        rows.append(row)
    table = format_table(rows, list(splits))
    config.run_dir.mkdir(parents=True, exist_ok=True)
    (config.run_dir / "results.md").write_text(table + "\n")
    results = {"config": asdict(config), "rows": rows}
    (config.run_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))
    plotted = "held_out" if "held_out" in splits else list(splits)[-1]
    plot = plot_results(
        [summaries[f"eval-{label}-{plotted}"]["dir"] for label in models],
        config.run_dir / "accuracy_vs_similarity.png",
        title=f"{_SPLIT_NAMES.get(plotted, plotted)}: accuracy vs tool-use similarity",
    )
    results["table"] = table
    results["plot"] = str(plot)
    return results


_SPLIT_NAMES = {"in_domain": "in-domain", "held_out": "out-of-domain"}


def format_table(rows: list[dict[str, Any]], splits: list[str] | None = None) -> str:
    """The results as a Markdown table: per split, accuracy, similarity, tool-call rate and the
    per-problem tool-set match (a dash where the problems have no reference program: BFCL)."""

    def pct(x: Any) -> str:
        return "-" if x is None else f"{100 * x:.1f}%"

    def num(x: Any) -> str:
        return "-" if x is None else f"{x:.2f}"

    splits = splits or ["in_domain", "held_out"]
    head = ["model"]
    for split in splits:
        name = _SPLIT_NAMES.get(split, split)
        head += [f"{name} acc", f"{name} sim", f"{name} set match", f"{name} tool calls"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["model"]]
        for split in splits:
            cells += [
                pct(r[f"{split}_accuracy"]),
                num(r[f"{split}_similarity"]),
                pct(r.get(f"{split}_set_match")),
                pct(r[f"{split}_tool_call_rate"]),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="a few-minute run of every stage (what CI runs)"
    )
    parser.add_argument(
        "--config", type=Path, help="a YAML of PipelineConfig fields (recipes/experiment-*.yaml)"
    )
    parser.add_argument("--run-dir", type=Path, help="output folder (default runs/demo[-quick])")
    parser.add_argument("--data-dir", type=Path, help="store folder (default ./data)")
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds of the GRPO runs (default: 0)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    if args.config:
        config = PipelineConfig.from_yaml(args.config)
    else:
        config = PipelineConfig.quick() if args.quick else PipelineConfig()
    overrides = {
        k: v
        for k, v in (
            ("run_dir", args.run_dir),
            ("data_dir", args.data_dir),
            ("seeds", tuple(args.seeds) if args.seeds else None),
        )
        if v is not None
    }
    config = replace(config, **overrides)
    results = run_pipeline(config)
    print(results["table"])  # noqa: T201 (the demo's one output)
    print(f"\nwritten: {config.run_dir / 'results.md'}, {results['plot']}")  # noqa: T201
    return results


if __name__ == "__main__":
    main()
