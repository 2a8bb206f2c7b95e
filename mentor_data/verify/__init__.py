"""`mentor-data verify`: check every trajectory, give it one reason code and its alignment targets.

- `rows`: `verify_row(row)`, a pure function of one row and its domain (the checks in order, the
  reason codes, replaying the calls on a fresh environment, the judge);
- `selection`: `select_rows`, what a run keeps (`--keep`, `--dedupe`, `--per-problem`);
- `dataset`: `verify_dataset(ref)`, every row of a store version on all cores, written as a new
  version with the verification columns of `schemas/trajectory.schema.json`.
"""

from mentor_data.verify.dataset import (
    VERIFY_COLUMNS,
    VerifyConfig,
    VerifySummary,
    add_verification_columns,
    decode_for_verify,
    default_workers,
    verify_dataset,
    verify_table,
)
from mentor_data.verify.rows import (
    ABS_TOL,
    REASONS,
    REL_TOL,
    SHARED_REASONS,
    RowVerdict,
    outputs_match,
    reason_codes,
    structure_problem,
    verify_row,
    verify_rows,
)
from mentor_data.verify.selection import KEEP_CHOICES, Selection, select_rows

__all__ = [
    "ABS_TOL",
    "KEEP_CHOICES",
    "REASONS",
    "REL_TOL",
    "SHARED_REASONS",
    "VERIFY_COLUMNS",
    "RowVerdict",
    "Selection",
    "VerifyConfig",
    "VerifySummary",
    "add_verification_columns",
    "decode_for_verify",
    "default_workers",
    "outputs_match",
    "reason_codes",
    "select_rows",
    "structure_problem",
    "verify_dataset",
    "verify_row",
    "verify_rows",
    "verify_table",
]
