"""The offline end-to-end demo: the whole MENTOR pipeline on the built-in default, on a CPU.

    python -m mentor_train.pipeline            # `make demo`: SmolLM2, PipelineConfig.demo()
    python -m mentor_train.pipeline --quick    # the tiny student in minutes; the test suite
    python -m mentor_train.pipeline --config recipes/experiment-tiny.yaml   # the experiments

Stages, each shown with its progress and cached (a re-run reuses every finished stage whose
inputs did not change; outputs are store versions and folders under `--run-dir`):

 1) data     solver teacher on the in-domain families -> `NAME-teacher@vN`
 2) verify   execution-verified, one trajectory per problem -> `NAME-verified@vN`
 3) card     RUN_DIR/cards/NAME-verified.md
 4) student  mentor-train init-student smollm2-135m (or init-tiny): the untouched `vanilla`
 5) sft      warm start on the verified trajectories (recipes/tiny-cpu-sft.yaml)
 6) grpo     each arm (`sft+sparse`, `sft+mentor`, `vanilla+mentor`, ...: start + reward) once
             per seed, same budget
 7) eval     every model on held-out in-domain problems and on the held-out families
 8) report   one row per model, mean +- sd per arm over its seeds, the share of GRPO groups
             with zero reward variance, which runs finished (printed, results.md,
             results.json) and the accuracy-vs-similarity plot

A killed run keeps every finished stage; with `checkpoint_steps` set, `--resume` also continues
an interrupted training run from its last checkpoint. `--report` prints the table of what has
finished so far and runs nothing.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from mentor_train import report
from mentor_train.pipeline_config import (
    PipelineConfig,
    arm_label,
    checkpointing,
    grpo_batch,
    vllm_rollouts,
)
from mentor_train.stages import (
    NotFinished,
    StageProcessError,
    Stages,
    digest,
    setup_logging,
    train_stage,
)

logger = logging.getLogger(__name__)


def _progress(output_dir: str | Path, steps: int) -> str:
    """The status of an unfinished training run: `training k/N steps` or `not started`."""
    done = report.steps_done(output_dir)
    return f"training {done}/{steps} steps" if done else "not started"


def run_pipeline(
    config: PipelineConfig, *, resume: bool = False, report_only: bool = False
) -> dict[str, Any]:
    """Run (or continue) every stage and return the results table as a dict.

    Args:
        config: the sizes of the run.
        resume: continue interrupted training runs from their last checkpoint.
        report_only: run nothing; report what has finished (unfinished runs are marked).
    """
    from mentor_data.store import Store

    store = Store(config.data_dir)
    run_dir = config.run_dir
    stages = Stages(run_dir, report_only=report_only)
    data_dir = str(store.root)
    splits = {k: v.format(n=config.eval_problems) for k, v in config.eval_specs.items()}
    models: dict[str, str] = {}
    status: dict[str, str] = {}
    summaries: dict[str, dict[str, Any]] = {}

    evals_pending: set[str] = set()

    def evaluate_model(label: str) -> None:
        """7: a trained model on every split, right after its training: an experiment cut
        short still reports every run that finished."""
        if status.get(label, "done") != "done":
            return
        for split, spec in splits.items():
            try:
                summaries[f"{label}/{split}"] = _eval_stage(
                    config, stages, verified["ref"], data_dir, label, models[label], split, spec
                )["summary"]
            except NotFinished:  # (report mode) apart from `status`: arms wait on training only
                evals_pending.add(label)

    try:
        verified = _data_stages(config, stages, store)
        models["vanilla"] = str(_student_stage(config, stages))
        evaluate_model("vanilla")
        try:
            models["sft"] = _sft_stage(
                config, stages, verified["ref"], data_dir, models["vanilla"], resume
            )
        except NotFinished:  # (report mode) the GRPO runs below are then `not started`
            models["sft"] = str(config.run_dir / "sft")
            status["sft"] = _progress(models["sft"], config.sft_steps)
        evaluate_model("sft")
        _grpo_stages(
            config, stages, verified["ref"], data_dir, models, status, resume, evaluate_model
        )
    except NotFinished as exc:
        logger.info("report: stage %s has not finished; later stages are not reported", exc)
    for label in evals_pending:
        status.setdefault(label, "eval pending")
    arms = {arm: [arm_label(arm, seed) for seed in config.seeds] for arm in config.arms}
    return report.write_report(
        config.run_dir, asdict(config), arms, models, list(splits), summaries, status
    )


def _data_stages(config: PipelineConfig, stages: Stages, store) -> dict[str, Any]:
    """1-3: teacher data, verification, the card. Returns the verify stage's result."""

    def exists(result: dict[str, Any]) -> bool:
        try:
            store.resolve(result["ref"])
            return True
        except Exception:
            return False

    train_spec = config.train_spec or f"builtin:in_domain?n={config.train_problems}"

    def data() -> dict[str, Any]:
        from mentor_data.generate import GenerateConfig, generate

        result = generate(
            GenerateConfig(
                problems=train_spec, name=f"{config.name}-teacher", teacher=config.teacher
            ),
            store=store,
            command="python -m mentor_train.pipeline (data)",
        )
        return {"ref": result.version.ref, "rows": result.rows}

    data_params: dict[str, Any] = {"n": config.train_problems, "name": config.name}
    if config.train_spec or config.teacher != "solver":  # (the default keeps older caches valid)
        data_params.update(spec=train_spec, teacher=config.teacher)
    teacher = stages.run("data", data_params, data, exists)

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
    card_dir = config.card_dir or config.run_dir / "cards"

    def card() -> dict[str, Any]:
        from mentor_data.cards import write_card

        path = card_dir / f"{config.name}-verified.md"
        return {"path": str(write_card(verified["ref"], out=path, store=store))}

    stages.run(
        "card",
        {"input": verified["ref"], "dir": str(card_dir)},
        card,
        lambda r: Path(r["path"]).is_file(),
    )
    return verified


def _student_stage(config: PipelineConfig, stages: Stages) -> Path:
    """4: the untouched student (`vanilla`)."""
    from mentor_train.students import STUDENTS, TinyConfig, init_student, init_tiny

    if config.student != "tiny" and config.student not in STUDENTS:
        return Path(config.student)
    base = config.run_dir / "base"

    def student() -> dict[str, Any]:
        if config.student in STUDENTS:
            init_student(config.student, base)
        else:
            init_tiny(base, TinyConfig(**config.tiny))
        return {"path": str(base)}

    params: dict[str, Any] = {"tiny": config.tiny}
    if config.student != "tiny":
        params["student"] = config.student
    stages.run("student", params, student, lambda r: (Path(r["path"]) / "config.json").is_file())
    return base


def _sft_stage(
    config: PipelineConfig, stages: Stages, dataset: str, data_dir: str, base: str, resume: bool
) -> str:
    """5: the SFT warm start (one run; the `sft+...` arms of every seed start from it)."""
    sft_dir = config.run_dir / "sft"
    params = {
        "model_name_or_path": base,
        "dataset": dataset,
        "data_dir": data_dir,
        "output_dir": str(sft_dir),
        "max_steps": config.sft_steps,
        "seed": 0,
        "logging_steps": max(1, config.sft_steps // 10),
        **checkpointing(config),
        **config.sft_overrides,
    }
    stages.run(
        "sft",
        params,
        lambda: train_stage("sft", config.sft_recipe, params, resume=resume, isolated=True),
        lambda r: (Path(r["output_dir"]) / "config.json").is_file(),
    )
    return str(sft_dir)


def _grpo_stages(
    config: PipelineConfig,
    stages: Stages,
    dataset: str,
    data_dir: str,
    models: dict[str, str],
    status: dict[str, str],
    resume: bool,
    evaluate_model: Callable[[str], None],
) -> None:
    """6: every arm once per seed, same budget, each evaluated once trained
    (`evaluate_model(label)`). Fills `models` and `status` (report mode)."""
    for seed in config.seeds:
        for arm in config.arms:
            start, _, variant = arm.partition("+")
            label = arm_label(arm, seed)
            out = config.run_dir / label
            params = {
                "model_name_or_path": models[start],
                "dataset": dataset,
                "data_dir": data_dir,
                "output_dir": str(out),
                "reward_funcs": [variant],
                "max_steps": config.grpo_steps,
                "seed": seed,
                "num_generations": config.num_generations,
                **grpo_batch(config),
                "max_completion_length": config.max_completion_length,
                "log_completions": False,
                "smoke_check_steps": 0,  # the vanilla arms start without tool calls, by design
                **checkpointing(config),
                **(vllm_rollouts() if config.uses_vllm() else {}),
                **config.grpo_overrides,
            }
            models[label] = str(out)
            if start in status:  # (report mode) its start checkpoint has not finished
                status[label] = f"waiting for {start}"
                continue
            try:
                stages.run(
                    f"grpo-{label}",
                    # the start's files too: a retrained SFT checkpoint must retrain its arms
                    {**params, "start_stage": _model_digest(Path(models[start]))},
                    lambda p=params, v=variant: train_stage(
                        "grpo",
                        config.grpo_recipe.format(variant=v),
                        p,
                        resume=resume,
                        isolated=True,  # each run in a fresh process: vLLM leaves state behind
                    ),
                    lambda r: (Path(r["output_dir"]) / "config.json").is_file(),
                )
            except NotFinished:
                status[label] = _progress(out, config.grpo_steps)
                continue
            evaluate_model(label)


def _eval_stage(
    config: PipelineConfig,
    stages: Stages,
    dataset: str,
    data_dir: str,
    label: str,
    path: str,
    split: str,
    spec: str,
) -> dict[str, Any]:
    """7: one model on one split."""
    out = config.run_dir / "eval" / label / split
    backend = "vllm" if config.uses_vllm() else config.eval_backend

    def run_eval() -> dict[str, Any]:
        from mentor_train.evaluate import EvalConfig, evaluate, teacher_tool_frequencies

        freq = teacher_tool_frequencies(dataset, data_dir=data_dir)
        eval_config = EvalConfig(backend=backend, max_tokens=config.eval_max_tokens, label=label)
        result = evaluate(path, spec, freq, eval_config)
        result.write(out)
        return {"dir": str(out), "summary": result.summary}

    params = {
        "model": path,
        "spec": spec,
        "max_tokens": config.eval_max_tokens,
        "model_stage": _model_digest(Path(path)),
    }
    if backend != "hf":  # (the default keeps older caches valid)
        params["backend"] = backend
    return stages.run(f"eval-{label}-{split}", params, run_eval, lambda r: Path(r["dir"]).is_dir())


def _model_digest(path: Path) -> str:
    """Changes when the model folder is rewritten, so evals of a retrained model are redone."""
    files = sorted(path.glob("*.safetensors")) + sorted(path.glob("config.json"))
    return digest({f.name: f.stat().st_mtime_ns for f in files})


format_table = report.format_table  # (the table's home is `mentor_train.report`)


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
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue interrupted training runs from their last checkpoint (checkpoint_steps)",
    )
    parser.add_argument(
        "--report", action="store_true", help="run nothing; print the table of what has finished"
    )
    args = parser.parse_args(argv)
    setup_logging()
    try:
        if args.config:
            config = PipelineConfig.from_yaml(args.config)
        else:
            config = PipelineConfig.quick() if args.quick else PipelineConfig.demo()
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
    except (OSError, ValueError) as exc:
        parser.exit(2, f"error: {exc}\n")
    from mentor_train.grpo import TrainingError

    try:
        results = run_pipeline(config, resume=args.resume, report_only=args.report)
    except (StageProcessError, TrainingError) as exc:  # finished stages are kept: --resume
        parser.exit(1, f"error: {exc}\n")
    print(results["table"])  # noqa: T201 (the demo's one output)
    if not args.report:
        print(f"\nwritten: {config.run_dir / 'results.md'}, {results['plot']}")  # noqa: T201
    return results


if __name__ == "__main__":
    main()
