"""`mentor-data card`: a Hugging Face dataset card for a store version.

The YAML header is what `datasets.Dataset.push_to_hub` writes (built with the same helpers,
`DatasetInfosDict.to_dataset_card_data` and `MetadataConfigs.to_dataset_card_data`): `license`,
`language`, `task_categories`, `tags`, `size_categories`, `pretty_name`, `configs` (one `default`
config whose `train` split is `data/train-*`, the layout `mentor-data publish` uploads) and
`dataset_info` (the features in the Hub's YAML form, the split's `num_examples` and sizes).

The body (between `CARD_START` and `CARD_END`, so a later publish can replace it inside a README
someone edited) has the lineage (teachers, prompt hashes, sampling, the chain of parent versions
with their commands), the verification results, the tool distribution, how to load the data,
intended use and limitations.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DATA_DIR = "data"
SPLIT = "train"
DATA_FILES = f"{DATA_DIR}/{SPLIT}-*"
"""The glob of the `default` config's train split in the upload folder."""

CARD_START = "<!-- mentor-card:start -->"
CARD_END = "<!-- mentor-card:end -->"

DEFAULT_LICENSE = "apache-2.0"
"""The card's license when none is given: the built-in problems and tools are mentor's own;
set the license of the source data for anything imported."""
DEFAULT_TAGS = ("tool-use", "function-calling", "agent", "distillation", "synthetic", "mentor")

# The Hub's size_categories values and their upper bounds.
_SIZES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
)
_MAX_CHAIN = 50


def shard_path_in_repo(index: int, total: int) -> str:
    """Where shard `index` of `total` goes in the upload folder.

    Example:
        >>> shard_path_in_repo(0, 2)
        'data/train-00000-of-00002.parquet'
    """
    return f"{DATA_DIR}/{SPLIT}-{index:05d}-of-{total:05d}.parquet"


def size_category(rows: int) -> str:
    """The Hub's `size_categories` value for a row count.

    Example:
        >>> size_category(999), size_category(1000), size_category(25_000)
        ('n<1K', '1K<n<10K', '10K<n<100K')
    """
    for bound, label in _SIZES:
        if rows < bound:
            return label
    return "n>1T" if rows > 10**12 else "1B<n<10B"


def lineage_chain(store: Any, info: Any) -> list[dict[str, Any]]:
    """Manifests of a version and its ancestors (via `parent`), newest first.

    The walk stops at a parent that is not in this store (e.g. a file or a Hub dataset).
    """
    chain = []
    seen = set()
    manifest = store.manifest(info)
    while manifest is not None and len(chain) < _MAX_CHAIN:
        ref = f"{manifest['name']}@v{manifest['version']}"
        if ref in seen:
            break
        seen.add(ref)
        chain.append(manifest)
        parent = manifest.get("parent")
        try:
            manifest = store.manifest(parent) if parent else None
        except Exception:  # a parent outside the store (a file, a Hub id): the chain ends here
            manifest = None
    return chain


def card_metadata(
    features: Any,
    *,
    rows: int,
    num_bytes: int,
    download_size: int,
    license: str | None = None,
    pretty_name: str | None = None,
    language: list[str] | None = None,
    tags: list[str] | None = None,
) -> Any:
    """The YAML header of the card as a `huggingface_hub.DatasetCardData`.

    Args:
        features: the `datasets.Features` of the data files.
        rows: rows of the train split.
        num_bytes: size of the data in memory (Arrow), the Hub's `num_bytes`/`dataset_size`.
        download_size: size of the Parquet files.
        license: a license id the Hub knows (`apache-2.0`, `cc-by-4.0`, `other`); None is
            `DEFAULT_LICENSE`.
        pretty_name: the display name.
        language: language codes (default `["en"]`).
        tags: tags (default `DEFAULT_TAGS`).
    """
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    data = DatasetCardData(
        license=license or DEFAULT_LICENSE,
        language=list(language or ["en"]),
        task_categories=["text-generation"],
        tags=list(tags or DEFAULT_TAGS),
        size_categories=[size_category(rows)],
        pretty_name=pretty_name,
    )
    splits = SplitDict()
    splits.add(SplitInfo(name=SPLIT, num_bytes=num_bytes, num_examples=rows))
    info = DatasetInfo(
        features=features, splits=splits, download_size=download_size, dataset_size=num_bytes
    )
    DatasetInfosDict({"default": info}).to_dataset_card_data(data)
    MetadataConfigs(
        {"default": {"data_files": [{"split": SPLIT, "path": DATA_FILES}]}}
    ).to_dataset_card_data(data)
    return data


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        return str("" if v is None else v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else "-"


def _teacher_facts(df: Any) -> dict[str, Any]:
    """Distinct prompt hashes and sampling settings of the rows (polars)."""
    import polars as pl

    teacher = df.select(
        pl.col("teacher").struct.field("prompt_hash").alias("prompt_hash"),
        pl.col("teacher").struct.field("sampling").alias("sampling"),
    )
    hashes = teacher["prompt_hash"].drop_nulls().value_counts(sort=True)
    sampling = teacher["sampling"].struct.unnest()
    settings = {}
    for name in ("temperature", "top_p", "max_tokens", "max_turns"):
        values = sorted(v for v in sampling[name].drop_nulls().unique().to_list())
        settings[name] = values
    return {
        "prompt_hashes": {str(k): int(v) for k, v in hashes.iter_rows()},
        "sampling": settings,
    }


def card_domains(stats: dict[str, Any]) -> list[Any]:
    """The domains of a dataset's rows (stats' `domains`), in row-count order; a domain that is
    not loaded here reads as the generic base domain (its card needs no code of its own)."""
    from mentor_data.domains import Domain, DomainError, get_domain

    found = []
    for name in stats.get("domains") or {None: 0}:
        try:
            found.append(get_domain(name))
        except DomainError:
            found.append(Domain(name=str(name)))
    return found


def _body(
    *,
    info: Any,
    chain: list[dict[str, Any]],
    stats: dict[str, Any],
    teacher: dict[str, Any],
    pretty_name: str,
    repo_id: str | None,
) -> str:
    manifest = chain[0]
    lineage = dict(manifest.get("lineage") or {})
    verify = lineage.pop("verify", None)
    rows = stats["rows"]
    out = [CARD_START, f"# {pretty_name}", ""]
    domains = card_domains(stats)
    what = "; or ".join(dict.fromkeys(d.card_summary for d in domains))
    out.append(
        f"Tool-use trajectories for distilling a large teacher's tool use into a small model with "
        f"the MENTOR method: each row is one teacher attempt at one problem, {what}. This is "
        f"`{info.ref}` of the mentor store ({rows} rows, created {manifest.get('created_at')}), "
        f"made with [mentor](https://github.com/mentor-distill/mentor)."
    )
    out += [
        "",
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'ds = load_dataset("{repo_id or "ORG/NAME"}", split="train")',
        "```",
        "",
        "Columns follow the mentor trajectory schema (`schemas/trajectory.schema.json`); "
        "`messages`, `tools`, tool-call `arguments` and `metadata` are JSON columns. "
        "`mentor-data export NAME@vN --format grpo|sft` turns a verified version into "
        "training rows.",
    ]
    out += ["", "## Lineage", "", "### Teachers", ""]
    out.append(
        _md_table(
            ["backend/model", "rows", "share"],
            [[k, v, _pct(v, rows)] for k, v in stats["teachers"].items()],
        )
    )
    hashes = teacher["prompt_hashes"]
    out += [
        "",
        "Prompt hashes (sha256 of the system prompt and the tool schemas): "
        + (", ".join(f"`{h}` ({n} rows)" for h, n in list(hashes.items())[:5]) or "none")
        + (f", and {len(hashes) - 5} more" if len(hashes) > 5 else "")
        + ".",
    ]
    sampling = ", ".join(
        f"{k} = {', '.join(map(str, v))}" for k, v in teacher["sampling"].items() if v
    )
    out += ["", f"Sampling: {sampling or 'not recorded (model-free teacher or import)'}."]
    if lineage:
        out += [
            "",
            "Generation settings recorded in the manifest:",
            "",
            "```json",
            json.dumps(lineage, indent=2, ensure_ascii=False, default=str, sort_keys=True),
            "```",
        ]
    out += [
        "",
        "### Versions",
        "",
        _md_table(
            ["version", "rows", "created", "parent", "command"],
            [
                [
                    f"{m['name']}@v{m['version']}",
                    m.get("rows"),
                    m.get("created_at"),
                    m.get("parent") or "",
                    f"`{m['command']}`" if m.get("command") else "",
                ]
                for m in chain
            ],
        ),
    ]
    out += ["", "## Verification", ""]
    if verify:
        total = verify.get("rows") or 0
        out.append(
            f"`mentor-data verify` checked {total} trajectories of `{verify.get('input')}`: "
            f"structure, tool calls (every call re-executed and compared with its recorded "
            f"observation, numbers within {verify.get('rel_tol')} relative / "
            f"{verify.get('abs_tol')} absolute tolerance) and the final answer against the "
            f"ground truth (mathematical equivalence). It kept `{verify.get('keep')}` rows"
            + (", dropped duplicates" if verify.get("dedupe") else "")
            + (
                f", at most {verify['per_problem']} per problem"
                if verify.get("per_problem")
                else ""
            )
            + f": {verify.get('kept')} rows."
        )
        for note in dict.fromkeys(d.card_notes() for d in domains):
            if note:
                out.append("\n" + note)
        reasons = verify.get("reasons") or {}
        if "no_tool_call" in reasons or verify.get("min_calls") is not None:
            required = verify.get("min_calls")
            out.append(
                "\nA trajectory whose answer was right but that made fewer well-formed tool "
                + (
                    f"calls than {required}"
                    if required is not None
                    else "calls than its domain requires (1; BFCL 0)"
                )
                + " is rejected as `no_tool_call` "
                f"({reasons.get('no_tool_call', 0)} rows): it solved the problem without its "
                "tools, so it is no tool-use demonstration."
            )
        out += [
            "",
            _md_table(
                ["reason", "rows", "share"],
                [[k, v, _pct(v, total)] for k, v in reasons.items() if v],
            ),
        ]
    elif stats["verified"]:
        out.append(
            _md_table(
                ["reason", "rows", "share"],
                [[k, v, _pct(v, rows)] for k, v in stats["reasons"].items()],
            )
        )
    else:
        out.append("Not verified: run `mentor-data verify` before training on these rows.")
    # Pass rates over what verify saw (the written version may hold passed rows only).
    families = (verify or {}).get("by_family") or {
        k: {"rows": v["rows"], "passed": v["passed"]} for k, v in stats["by_family"].items()
    }
    if families:
        what = "verified" if verify else "in this version"
        out += [
            "",
            f"By problem family ({what}):",
            "",
            _md_table(
                ["family", "rows", "passed", "pass rate"],
                [
                    [
                        k,
                        v["rows"],
                        v["passed"],
                        "-" if v["passed"] is None else _pct(v["passed"], v["rows"]),
                    ]
                    for k, v in families.items()
                ],
            ),
        ]
    out += ["", "## Tool distribution", ""]
    if stats["tools"]:
        total_calls = sum(stats["tools"].values())
        out.append(
            _md_table(
                ["tool", "calls", "share of calls", "rows using it"],
                [
                    [f"`{k}`", v, _pct(v, total_calls), stats["tool_rows"].get(k, 0)]
                    for k, v in stats["tools"].items()
                ],
            )
        )
        calls = ", ".join(f"{k}: {v}" for k, v in stats["calls_histogram"].items())
        out += ["", f"Calls per trajectory (calls: rows): {calls}."]
    else:
        out.append("No tool calls.")
    out += [
        "",
        "## Intended use",
        "",
        "Reference trajectories for tool-use distillation: the alignment targets "
        "(`teacher_tools`, `teacher_tool_counts`, `teacher_tool_sequence`, `teacher_n_calls`) "
        "of the MENTOR reward in GRPO, and the conversations for an SFT baseline. Research "
        "use; not a benchmark (problems may overlap with training sets of the teacher).",
        "",
        "## Limitations",
        "",
        "- Trajectories come from one teacher configuration each (see Lineage); they show one "
        "way to solve a problem, not the only right one.",
        "- Verification checks the final answer and the recorded tool results, not the "
        "reasoning text between calls.",
    ]
    for domain in domains:
        out += [f"- {text}" for text in domain.card_limitations()]
    out.append(
        "- Calls of tools declared non-deterministic were re-run but not compared (see the "
        "verify `uncompared_calls` count in the manifest)."
    )
    out += [
        CARD_END,
    ]
    return "\n".join(out) + "\n"


def build_card(
    ref: str,
    *,
    store: Any = None,
    license: str | None = None,
    pretty_name: str | None = None,
    repo_id: str | None = None,
    language: list[str] | None = None,
    tags: list[str] | None = None,
) -> str:
    """The dataset card (README.md text) of a store version.

    Args:
        ref: `NAME` or `NAME@vN`.
        store: the `Store` (default: `Store()`).
        license: the data license id for the Hub (None: `DEFAULT_LICENSE`).
        pretty_name: the display name (default: the dataset name).
        repo_id: the Hub repository, used in the loading example.
        language: language codes (default `["en"]`).
        tags: tags (default `DEFAULT_TAGS`).

    Returns:
        The card: `---` YAML header `---` then the markdown body.
    """
    from datasets import Features
    from huggingface_hub import DatasetCard

    from mentor_data.stats import compute_stats
    from mentor_data.store import Store

    store = store or Store()
    info = store.resolve(ref)
    manifest = store.manifest(info)
    table = store.load_table(info)
    import polars as pl

    df = pl.from_arrow(table)
    stats = compute_stats(df)
    pretty_name = pretty_name or info.name
    if tags is None:
        domains = card_domains(stats)
        # Human-written data (BFCL's questions, functions and ground truth) is not synthetic.
        synthetic = any(d.card_synthetic for d in domains)
        tags = [t for t in DEFAULT_TAGS if synthetic or t != "synthetic"]
        tags += [t for d in domains for t in d.card_tags if t not in tags]
    data = card_metadata(
        Features.from_arrow_schema(table.schema),
        rows=table.num_rows,
        num_bytes=table.nbytes,
        download_size=sum(s["bytes"] for s in manifest["shards"]),
        license=license,
        pretty_name=pretty_name,
        language=language,
        tags=tags,
    )
    body = _body(
        info=info,
        chain=lineage_chain(store, info),
        stats=stats,
        teacher=_teacher_facts(df),
        pretty_name=pretty_name,
        repo_id=repo_id,
    )
    return str(DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{body}"))


def write_card(
    ref: str, out: str | Path | None = None, *, store: Any = None, **kwargs: Any
) -> Path:
    """Write `build_card(ref)` to `out` (default `data_cards/NAME.md`) and return the path."""
    from mentor_data.store import parse_ref

    path = Path(out) if out is not None else Path("data_cards") / f"{parse_ref(ref).name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_card(ref, store=store, **kwargs), encoding="utf-8")
    logger.info("wrote %s", path)
    return path


__all__ = [
    "CARD_END",
    "DEFAULT_LICENSE",
    "CARD_START",
    "DATA_DIR",
    "DATA_FILES",
    "DEFAULT_TAGS",
    "SPLIT",
    "build_card",
    "card_metadata",
    "lineage_chain",
    "shard_path_in_repo",
    "size_category",
    "write_card",
]
