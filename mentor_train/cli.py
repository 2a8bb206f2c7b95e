"""`mentor-train`: a thin Typer layer over the mentor_train library (students, rewards, training, eval)."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="mentor-train",
    help="Train small students to use tools: GRPO with MENTOR rewards, SFT and sparse baselines, eval.",
    no_args_is_help=True,
    add_completion=False,
)


if __name__ == "__main__":
    app()
