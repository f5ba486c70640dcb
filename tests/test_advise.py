"""``normlaws advise`` and the claims of ``theory.schedules`` it stands on.

Expected values come from the registered derivations and are confirmed by independent numeric checks here: the
EMA weight ``(1 - eta lam)^tau = 1/e``, the path against the one-step map iterated step by step, equivalent pairs and
lambda's scaling law against ``predict.equilibrium``/``relaxation_time`` at the rescaled values. The relaxation
across a drop itself is the Monte-Carlo leg's (``simulate.drop``), run here at quick size.
"""
import json
import math

import numpy as np
import pytest

from normlaws import registry
from normlaws.advise import Schedule, advise, lam_from_torch
from normlaws.advise_theory import rescaled_lam
from normlaws.cli import main
from normlaws.simulate import predict
from normlaws.simulate.drop import CHECKS as DROP_CHECKS
from normlaws.theory import paraphrase, schedules

SECTION6 = dict(schedule=Schedule("milestones", 100, (50, 80)), steps_per_epoch=391)   # 50,000 images / 128


@pytest.fixture(scope="module")
def section6_sgd():
    return advise("sgd", 0.1, 5e-4, **SECTION6)


def test_schedule_claims_are_registered_with_their_legs():
    ids = {c.id for c in registry.claims()}
    expected = ({"schedules.adamw.ema_timescale"} | {f"schedules.pairs.{r}" for r in schedules.PAIR_RULES}
                | {f"schedules.lambda_scaling.{r}" for r in schedules.SCALING_RULES}
                | {f"schedules.drop.{r}" for r in schedules.DROP_RULES})
    assert expected <= ids
    for rule in schedules.DROP_RULES:
        assert "montecarlo" in registry.legs_of(f"schedules.drop.{rule}")
    for cid in [c for c in paraphrase.PARAPHRASED if c.startswith("schedules.")]:
        # no source text here: printed form none, the paraphrase compared apart
        assert registry.get(cid).verdict.kind == "not comparable"
        assert paraphrase.paraphrase_verdict(registry.get(cid)).kind.startswith("agrees")


@pytest.mark.parametrize("claim_id", list(DROP_CHECKS))
def test_relaxation_across_a_drop_agrees_with_the_monte_carlo_leg(claim_id):
    out = DROP_CHECKS[claim_id](size="quick", seed=0)
    assert out["status"] == "agrees", out["detail"]
    time_constant, refuted = out["components"]
    assert time_constant["agrees"] and refuted["must_differ"] and refuted["agrees"]


def test_section6_phases_follow_the_schedule_and_the_drop_claim(section6_sgd):
    phases = section6_sgd.phases
    assert [(p.first_epoch, p.end_epoch) for p in phases] == [(0, 50), (50, 80), (80, 100)]
    assert [p.eta for p in phases] == pytest.approx([0.1, 0.01, 0.001])
    assert [p.steps for p in phases] == [50 * 391, 30 * 391, 20 * 391]
    for p in phases:     # independent: E[N^2]'s per-step factor a^4 = exp(-1/tau)
        assert math.exp(-1 / p.tau) == pytest.approx((1 - 2 * p.eta * 5e-4) ** 4, rel=1e-12)
        assert p.tau_source == "schedules.drop.sgd"
    # started at equilibrium, the first phase stays there; 0.47 and 0.03 relaxation times are not enough after a drop
    assert [p.equilibrated for p in phases] == [True, False, False]
    assert phases[1].length_over_tau == pytest.approx(11730 / phases[1].tau)


def test_path_matches_the_one_step_map_iterated(section6_sgd):
    """The closed-form path of each phase against E[N^2]'s linear map applied step by step (numerically)."""
    end = section6_sgd.phases[0].norm ** 2
    for p in section6_sgd.phases:
        X, X_star, f = end**2, p.norm**4, (1 - 2 * p.eta * 5e-4) ** 4
        for _ in range(p.steps):
            X = f * X + (1 - f) * X_star
        end = math.sqrt(X)
        assert p.norm_end == pytest.approx(math.sqrt(end), rel=1e-9)


def test_angle_along_the_path_follows_the_effective_learning_rate(section6_sgd):
    path = {k: np.asarray(v) for k, v in section6_sgd.path.items() if isinstance(v, list)}
    # SGD: theta ~ eta/||w||^2 at fixed eta, so theta * ||w||^2 is constant within a phase
    within = (path["epoch"] > 50) & (path["epoch"] < 80)
    product = path["angle"][within] * path["norm"][within] ** 2
    assert np.ptp(product) / product.mean() < 1e-9
    assert path["angle"][within][-1] < path["angle_eq"][within][-1]    # still below its equilibrium at epoch 80


def test_adamw_ema_timescale_is_the_weights_e_folding(tmp_path):
    advice = advise("adamw", 1e-3, lam_from_torch("adamw", 0.05), Schedule("cosine", 300), 1251, d=768)
    p = advice.phases[0]
    assert (1 - p.eta * advice.lam) ** p.ema_iterations == pytest.approx(math.exp(-1), rel=1e-12)
    assert p.ema_epochs == pytest.approx(p.ema_iterations / 1251)
    assert p.tau == pytest.approx(p.ema_iterations / 2, rel=1e-12)    # ||w||^2 relaxes twice as fast
    late = advice.phases[-1]
    assert late.eta < 1e-4 * p.eta and not late.equilibrated          # cosine's tail freezes the groups


@pytest.mark.parametrize("rule", ["sgd", "nesterov_torch", "adamw", "lion"])
def test_equivalent_pairs_have_the_same_equilibrium(rule):
    pairs = advise(rule, 0.05, 0.002, Schedule("constant", 10), 100, d=64).pairs
    base = pairs[0]
    for p in pairs[1:]:
        eq = predict.equilibrium(rule, p["eta"], p["lam"], 64, 1.0)
        assert eq["angle"] == pytest.approx(base["angle"], rel=1e-9)
        assert eq["tau"] == pytest.approx(base["tau"], rel=1e-6)
        ratio = eq["N"] / predict.equilibrium(rule, base["eta"], base["lam"], 64, 1.0)["N"]
        assert p["norm_factor"] == pytest.approx(math.sqrt(ratio), rel=1e-6)


@pytest.mark.parametrize("rule", ["sgd", "nesterov_torch", "adamw"])
def test_lambda_scaling_keeps_the_relaxation_time_in_epochs(rule):
    """The law is a leading-order one: the exact relaxation time in epochs at the rescaled lam departs from the
    original by an amount that vanishes with eta lam (first order: ten times smaller at a ten times smaller eta)."""
    def departure(eta, lam=1e-3, steps=400):
        tau_epochs = predict.relaxation_time(rule, eta, lam) / steps
        worst = 0.0
        for factors, new_steps in (({"batch_factor": 2.0}, steps / 2), ({"dataset_factor": 4.0}, steps * 4),
                                   ({"eta_factor": 0.5}, steps)):
            new_eta = eta * factors.get("eta_factor", 1.0)
            new = predict.relaxation_time(rule, new_eta, rescaled_lam(rule, lam, **factors)) / new_steps
            worst = max(worst, abs(new / tau_epochs - 1))
        return worst
    large, small = departure(0.01), departure(0.001)
    assert small < 2e-3 and small < large / 5 + 1e-9, (large, small)


def test_cli_section6_json_and_plot(tmp_path, capsys):
    plot = tmp_path / "advise.png"
    code = main(["advise", "--optimizer", "nesterov_torch", "--eta", "0.1", "--weight-decay", "1e-3", "--epochs",
                 "100", "--milestones", "50", "80", "--batch-size", "128", "--dataset-size", "50000",
                 "--new-batch-size", "256", "--plot", str(plot), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["lam"] == pytest.approx(5e-4) and out["steps_per_epoch"] == 391
    assert [p["eta"] for p in out["phases"]] == pytest.approx([0.1, 0.01, 0.001])
    assert out["rescaled"]["lam"] == pytest.approx(1e-3)          # lam ~ B at fixed eta and n
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_text_names_the_criterion_and_the_claims(capsys):
    assert main(["advise", "--optimizer", "adamw", "--eta", "1e-3", "--lam", "0.05", "--epochs", "300", "--cosine",
                 "--steps-per-epoch", "1251", "--d", "768"]) == 0
    text = capsys.readouterr().out
    assert "EMA iterations" in text and "schedules.lambda_scaling.adamw" in text and "within 5%" in text


@pytest.mark.parametrize("argv, words", [
    (["--milestones", "50", "120"], "milestones must increase"),
    (["--milestones", "80", "50"], "milestones must increase"),
    (["--optimizer", "newton"], "invalid choice"),
    (["--eta", "-1"], "must be > 0"),
    (["--lr-factor", "2"], "must be <= 1"),
    (["--steps-per-epoch", "0"], "must be >= 1"),
])
def test_bad_input_is_one_line_and_exit_2(argv, words, capsys):
    base = ["advise", "--eta", "0.1", "--lam", "5e-4", "--epochs", "100", "--steps-per-epoch", "391"]
    assert main(base + argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err


def test_missing_sizes_and_zero_decay_are_one_line(capsys):
    assert main(["advise", "--eta", "0.1", "--lam", "5e-4", "--epochs", "10"]) == 2
    assert "--steps-per-epoch" in capsys.readouterr().err
    assert main(["advise", "--eta", "0.1", "--lam", "0", "--epochs", "10", "--steps-per-epoch", "10"]) == 2
    assert "no equilibrium without decay" in capsys.readouterr().err
