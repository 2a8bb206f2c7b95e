"""`mentor-data`: a thin Typer layer over the mentor_data library (generate, verify, store, tools)."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="mentor-data",
    help="Make, verify and manage versioned datasets of tool-use trajectories.",
    no_args_is_help=True,
    add_completion=False,
)


if __name__ == "__main__":
    app()
