"""The accuracy-vs-similarity figure: arms drawn at the mean +- sd of their seeds' real summary
files, one panel per split, and the report's grouping of runs into arms."""

from __future__ import annotations

import json
import struct

import pytest

from mentor_train import report
from mentor_train.plots import SUMMARY_FILE, group_point, plot_groups, plot_results


def _summary(folder, label, accuracy, similarity):
    folder.mkdir(parents=True, exist_ok=True)
    overall = {"accuracy": accuracy, "tool_similarity": similarity}
    (folder / SUMMARY_FILE).write_text(json.dumps({"label": label, "overall": overall}))
    return folder


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])  # IHDR: width, height


def test_group_point_is_the_mean_and_sample_sd_of_the_seeds(tmp_path):
    seeds = [
        _summary(tmp_path / f"s{i}", f"arm-s{i}", acc, sim)
        for i, (acc, sim) in enumerate([(0.30, 0.87), (0.30, 0.84), (0.25, 0.84)])
    ]
    p = group_point("arm", seeds)
    assert (p.label, p.n) == ("arm", 3)
    assert p.accuracy == pytest.approx(85 / 3)
    assert p.accuracy_sd == pytest.approx(2.886751, abs=1e-5)
    assert p.similarity == pytest.approx(0.85)
    assert p.similarity_sd == pytest.approx(0.017320, abs=1e-5)
    one = group_point("vanilla", [seeds[0] / SUMMARY_FILE])
    assert (one.accuracy, one.accuracy_sd, one.n) == (pytest.approx(30.0), 0.0, 1)


def test_group_point_names_what_is_missing(tmp_path):
    with pytest.raises(ValueError, match="no eval summary"):
        group_point("arm", [])
    bare = _summary(tmp_path / "bare", "bare", 0.5, None)
    with pytest.raises(ValueError, match="--teacher-data"):
        group_point("bare", [bare])
    with pytest.raises(FileNotFoundError, match="mentor-train eval"):
        group_point("gone", [tmp_path / "gone"])


def test_plot_groups_draws_one_panel_per_split(tmp_path):
    a = [_summary(tmp_path / f"a{i}", "a", 0.1 * i, 0.8) for i in range(3)]
    b = _summary(tmp_path / "b", "b", 0.0, 0.0)
    one = plot_groups({"in-domain": {"a": a, "b": [b]}}, tmp_path / "one.png", title="t")
    two = plot_groups(
        {"in-domain": {"a": a, "b": [b]}, "held-out": {"a": a[:1]}}, tmp_path / "two.png"
    )
    (w1, h1), (w2, h2) = _png_size(one), _png_size(two)
    assert h1 == h2 and w2 > w1  # the second panel widens the figure
    # `mentor-train plot`: one point per model, two evals of one label kept apart
    same = plot_results([a[0], a[1]], tmp_path / "same.png")
    assert _png_size(same)[0] == w1


def test_figure_panels_groups_seeds_into_arms(tmp_path):
    arms = {"sparse": ["sparse-s0", "sparse-s1"], "mentor": ["mentor-s0", "mentor-s1"]}
    models = {x: str(tmp_path / x) for x in ["vanilla", "sft", *arms["sparse"], *arms["mentor"]]}
    done = ["vanilla/in_domain", "sft/in_domain", "sparse-s0/in_domain", "sparse-s1/in_domain"]
    done += ["vanilla/held_out", "sparse-s1/held_out"]
    summaries = {key: {} for key in done}
    panels = report.figure_panels(tmp_path, arms, models, ["in_domain", "held_out"], summaries)
    ev = tmp_path / "eval"
    assert panels == {
        "in-domain": {
            "vanilla": [ev / "vanilla/in_domain"],
            "sft": [ev / "sft/in_domain"],
            "sparse": [ev / "sparse-s0/in_domain", ev / "sparse-s1/in_domain"],
        },
        "held-out families": {
            "vanilla": [ev / "vanilla/held_out"],
            "sparse": [ev / "sparse-s1/held_out"],
        },
    }
    assert report.figure_panels(tmp_path, arms, models, ["in_domain"], {}) == {}
