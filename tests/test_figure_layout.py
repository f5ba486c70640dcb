"""Every figure the suite draws, checked as rendered at its saved size: no text cut at the edge, no tick labels
running into each other (``figure_layout.layout_problems``). The training figures from records laid out as the
CPU preset's grid (every rule, both networks), the Monte-Carlo scaling figure, the advice plot."""
import math

import matplotlib
import pytest

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from figure_layout import layout_problems  # noqa: E402
from normlaws.gpu.config import TrainConfig  # noqa: E402
from normlaws.records import append_record  # noqa: E402
from test_gpu_analysis import fake_derived, record  # noqa: E402


@pytest.fixture
def checked(monkeypatch):
    """Every ``Figure.savefig`` of the test first reports the figure's layout problems here."""
    found = {}
    original = Figure.savefig

    def savefig(fig, fname, *args, **kwargs):
        found[str(fname)] = layout_problems(fig)
        return original(fig, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return found


def test_the_checker_sees_a_cut_label_and_crowded_ticks(checked, tmp_path):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.set_ylabel("a y label far too large for its figure", fontsize=30)
    ax.set_xticks(range(30))
    ax.set_xticklabels([f"{10 ** -k:.0e}" for k in range(30)])
    fig.savefig(tmp_path / "bad.png")
    plt.close(fig)
    problems = checked[str(tmp_path / "bad.png")]
    assert any(p.startswith("cut at the edge: 'a y label") for p in problems)
    assert any(p.startswith("overlapping tick labels") for p in problems)


def preset_records():
    """Records at the CPU preset's cells, every rule and network: a norm law and a parabola of test error."""
    from normlaws.gpu.presets import QUICK_BASE, configs_of, quick_blocks
    out = []
    for cfg in configs_of(quick_blocks(), QUICK_BASE):
        e, l = cfg.eta, max(cfg.lam, 1e-6)
        error = 0.3 + 0.02 * (math.log(e) + 0.5 * math.log(l)) ** 2
        rec = record(cfg.optimizer, e, cfg.lam, 2 * e ** 0.25 * l ** -0.25, error, momentum=cfg.momentum, C=0.3)
        rec["config"].update(network=cfg.network, seed=cfg.seed)
        rec["key"] = TrainConfig.from_dict(rec["config"]).key
        for series in rec["epochs"].values():          # every layer as conv1 (the records have four)
            if isinstance(series, dict):
                series.update({f"conv{i}": series["conv1"] for i in (2, 3, 4)})
        out.append(rec)
    return out


def test_the_training_figures_of_the_cpu_preset(checked, tmp_path, monkeypatch):
    monkeypatch.setattr("normlaws.gpu.figures.derived_exponents",
                        fake_derived({"exponent_lam": -0.25, "exponent_eta": 0.25}))
    for rec in preset_records():
        append_record(tmp_path / "res" / "records.jsonl", rec)
    from normlaws.gpu.figures import make_figures
    summary = make_figures(tmp_path / "res", tmp_path / "fig")
    assert len(summary["figures"]) >= 4
    assert {k: v for k, v in checked.items() if v} == {}


def test_the_monte_carlo_scaling_figure(checked, tmp_path):
    import numpy as np
    from normlaws.reports.figures import ScalingPanel, scaling_figure
    x = np.logspace(-2, 2, 9)            # as reports.mcfigures.grid_panel draws a stored scaling grid
    panels = [ScalingPanel(title=f"{rule}: eta*lambda = 0.0001\nfitted slope 0.251", x=x[2:], y=x[2:] ** 0.25,
                           se=0.01 * x[2:] ** 0.25, slope=0.25, slope_label="derived slope 0.25", printed_slope=0.5,
                           series=[("not equilibrated (not fitted)", x[:2], x[:2] ** 0.3, 0.01 * x[:2])])
              for rule in ("sgd", "momentum", "adam", "adamw", "rmsprop")]
    scaling_figure(panels, tmp_path / "mc.png")
    assert checked == {str(tmp_path / "mc.png"): []}


def test_the_advice_plot(checked, tmp_path):
    from normlaws import advise, advise_plot
    schedule = advise.Schedule("milestones", epochs=100, milestones=(30, 60, 90))
    advice = advise.advise("sgd", 0.1, 5e-4, schedule, steps_per_epoch=390)
    advise_plot.plot(advice, tmp_path / "advice.png")
    assert len(checked) == 1 and list(checked.values()) == [[]]
