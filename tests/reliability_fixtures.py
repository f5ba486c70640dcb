"""Valid files of every kind the tool reads, for the reliability tests to damage one field at a time."""
from normlaws.gpu.config import TrainConfig

EPOCHS = 3


def sweep_record(eta=0.01, lam=1e-3, optimizer="nesterov", epochs=EPOCHS, status="done") -> dict:
    """A complete record of the sweep's records.jsonl (every field the readers use, numbers plausible)."""
    cfg = TrainConfig(optimizer=optimizer, eta=eta, lam=lam, epochs=epochs, milestones=(), widths=(2, 3, 4, 5),
                      n_train=64, n_test=32, batch_size=32)
    series = [0.5 + 0.01 * e for e in range(epochs)]
    layers = lambda values: {f"conv{i}": list(values) for i in range(1, 5)}  # noqa: E731
    return {"key": cfg.key, "status": status, "config": cfg.as_dict(), "diverged_at": None,
            "final": {"test_error": 0.5, "conv1_norm_fit_epoch": series[-1], "conv1_norm_final": series[-1],
                      "fit_epoch": epochs},
            "epochs": {"epoch": list(range(1, epochs + 1)), "lr": [eta] * epochs, "train_loss": [2.0] * epochs,
                       "train_error": [0.6] * epochs, "test_loss": [2.1] * epochs, "test_error": [0.5] * epochs,
                       "filter_norm_mean": layers(series), "live_filter_norm_mean": layers(series),
                       "init_filter_norm_mean": {f"conv{i}": 0.5 for i in range(1, 5)},
                       "angle_mean": layers([0.01] * epochs), "grad_ratio_mean": layers([0.1] * epochs),
                       "grad_unit_sq_mean": layers([1.0] * epochs), "collapsed_filters": layers([0] * epochs)},
            "trajectory": f"traj/{cfg.key}.npz", "ensemble": {"models": 1, "keys": [cfg.key], "wall_s": 1.0},
            "architecture": "test", "convention": "paper-l2", "provenance": {"seed": 0}}


def leg_record(claim="table1.sgd.norm", status="agrees", **result) -> dict:
    """A record of verify's montecarlo.jsonl / training.jsonl."""
    return {"claim": claim, "leg": "montecarlo", "run": "r1", "size": "quick", "seed": 0,
            "result": {"status": status, "predicted": 1.0, "measured": 1.01, "se": 0.01, "tolerance": 0.03,
                       "detail": "fake", **result}}


def grid_record(claim="table1.sgd.norm") -> dict:
    """A record of verify's exponents.jsonl (a Monte-Carlo scaling grid)."""
    x = [1.0, 3.16, 10.0]
    line = {"x": x, "measured": [0.3 * v**0.25 for v in x], "se": [0.002] * 3, "equilibrated": [True] * 3,
            "product": 1e-3, "status": "agrees", "fit": {"slope": 0.25}, "detail": "fake line"}
    return {"claim": claim, "leg": "montecarlo", "run": "r1", "result": {"rule": "sgd", "status": "agrees",
                                                                        "fixed_product": line}}


def run_record() -> dict:
    """A record of verify's runs.jsonl."""
    return {"run": "r1", "options": {}, "stages": [{"name": "symbolic", "status": "ok", "seconds": 1.0,
                                                    "cpu_seconds": 1.0, "detail": "x", "failures": []}]}
