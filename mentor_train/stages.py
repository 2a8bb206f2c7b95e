"""Stages that run once and resume: the pipeline's cache and its resumable training runs.

`Stages.run(name, params, fn)` runs `fn` once and keeps its result in `RUN_DIR/stages/NAME.json`
with a digest of `params`: a re-run with the same parameters reads it back instead of running.
A stage killed half way leaves no marker, so it runs again; a training stage (`train_stage`) then
continues from its last checkpoint when asked to (`resume`) and the interrupted run had the same
parameters.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def digest(params: dict[str, Any]) -> str:
    """A short stable hash of JSON-able parameters."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


class NotFinished(Exception):
    """A stage asked for in report mode has not finished (`Stages(report_only=True)`)."""


class Stages:
    """Runs named stages once: a stage whose parameters are unchanged is read back from disk.

    Args:
        run_dir: the run's folder; markers go to `run_dir/stages/NAME.json`.
        report_only: run nothing; a stage that has not finished raises `NotFinished`.
    """

    def __init__(self, run_dir: Path, *, report_only: bool = False):
        self.dir = run_dir / "stages"
        self.report_only = report_only
        if not report_only:
            self.dir.mkdir(parents=True, exist_ok=True)

    def run(
        self,
        name: str,
        params: dict[str, Any],
        fn: Callable[[], dict[str, Any]],
        still_valid: Callable[[dict[str, Any]], bool] = lambda _: True,
    ) -> dict[str, Any]:
        marker = self.dir / f"{name}.json"
        key = digest(params)
        if marker.is_file():
            saved = json.loads(marker.read_text())
            if saved.get("digest") == key and still_valid(saved["result"]):
                logger.info("[%s] reused (%s)", name, marker)
                return saved["result"]
        if self.report_only:
            raise NotFinished(name)
        logger.info("[%s] running ...", name)
        started = time.perf_counter()
        result = fn()
        seconds = round(time.perf_counter() - started, 1)
        logger.info("[%s] done in %.1f s", name, seconds)
        marker.write_text(
            json.dumps(
                {"digest": key, "params": params, "seconds": seconds, "result": result},
                indent=2,
                default=str,
            )
        )
        return result


STARTED_FILE = "mentor_stage.json"
"""Written into a training run's output_dir when it starts: the digest `--resume` checks."""


def train_stage(
    trainer: str,
    recipe: str,
    overrides: dict[str, Any],
    *,
    resume: bool = False,
    isolated: bool = False,
) -> dict[str, Any]:
    """Run one training stage (`trainer`: sft or grpo, `recipe`: a file in `recipes/` with
    `overrides`); continue it from its last checkpoint when `resume` allows.

    A checkpoint is only continued when the interrupted run had the same parameters (the digest
    in `output_dir/mentor_stage.json`); otherwise, or without `resume`, stale checkpoints are
    removed and the run starts over. `isolated` trains in a fresh child process (`_in_child`):
    a colocated vLLM engine leaves process-wide state behind (an initialised torch.distributed
    group, pinned threads, its memory), and a second GRPO run in the same process was wrapped in
    DDP and stalled.
    """
    if isolated:
        return _in_child(train_stage, trainer, recipe, overrides, resume=resume)
    from mentor_train.configs import load_recipe

    out = Path(overrides["output_dir"])
    key = digest(overrides)
    started = out / STARTED_FILE
    checkpoints = sorted(out.glob("checkpoint-*"))
    same_run = started.is_file() and json.loads(started.read_text()).get("digest") == key
    continue_run = bool(checkpoints) and same_run and resume
    if checkpoints and not continue_run:
        why = "pass --resume to continue it" if same_run else "its parameters changed"
        logger.info("%s: starting over (an interrupted run was found; %s)", out, why)
        for path in checkpoints:
            shutil.rmtree(path)
    out.mkdir(parents=True, exist_ok=True)
    started.write_text(json.dumps({"digest": key, "params": overrides}, default=str))
    sets = [
        f"{k}={json.dumps(v) if isinstance(v, (list, dict)) else v}" for k, v in overrides.items()
    ]
    loaded = load_recipe(RECIPES / recipe, trainer, sets)
    if trainer == "sft":
        from mentor_train.sft import train
    else:
        from mentor_train.grpo import train
    result = train(loaded, resume=continue_run)
    return {
        "output_dir": str(result.output_dir),
        "global_step": result.global_step,
        "train_loss": result.metrics.get("train_loss"),
    }


class StageProcessError(RuntimeError):
    """The child process of an isolated stage died without a result (killed, out of memory)."""


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent dies, so a killed pipeline leaves no
    training process behind writing checkpoints (a `--resume` would then race it)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def setup_logging() -> None:
    """The pipeline's log lines, `12:01:02 mentor_train.stages: ...`, in every stage process."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )


def _child_main(conn: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    _die_with_parent()
    setup_logging()
    try:
        conn.send((True, fn(*args, **kwargs)))
    except BaseException as exc:  # noqa: BLE001 (handed to the parent, which raises it)
        try:
            conn.send((False, exc))
        except Exception:  # an exception that does not pickle: its text
            conn.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        conn.close()


def _in_child(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`fn(*args, **kwargs)` in a fresh spawned process; its result, or its exception raised
    here. A child that dies without answering raises `StageProcessError` naming its exit code."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child_main, args=(send, fn, args, kwargs), daemon=False)
    child.start()
    send.close()
    try:
        ok, value = receive.recv()
    except EOFError:
        child.join()
        raise StageProcessError(
            f"the training process died without a result (exit code {child.exitcode}; -9 is "
            "usually the out-of-memory killer): lower grpo_micro_batch or the completion length, "
            "then run again with --resume"
        ) from None
    finally:
        receive.close()
    child.join()
    if not ok:
        raise value
    return value
