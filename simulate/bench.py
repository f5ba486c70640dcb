"""Benchmark: chain-steps per second of the simulators (``python -m normlaws.simulate.bench`` or
``normlaws simulate --bench``). A benchmark, not a test: it prints figures and asserts nothing.

Rows: the exact scalar SGD chain and the full-vector chain at d = 64, each bare (the stepper alone) and through
``engine.run`` (with the block-mean observables), the other rules at d = 64, the BN unit, and the samplers
against numpy's own (``standard_normal``/``standard_gamma`` in float32). Also two threads on the scalar chain,
to show whether the second core helps (numpy's generators and ufuncs release the GIL; measured here between no
gain and 1.4x, depending on the load from other processes). Figures are wall-clock and vary with that load,
which the table prints.
"""
from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .engine import Spec, random_directions, run
from .models import BNUnit, Section4Noise
from .params import Hyper
from .rng import Gammas, Normals, stream
from .rules import VectorChains
from .scalar import ScalarSGD

TARGETS = {"scalar SGD chain": 20e6, "vector SGD chain, d=64": 1e6}


def _rate(step, chain_count: int, seconds: float = 1.0) -> float:
    """Chain-steps per second (wall clock) of ``step()`` over at least ``seconds`` (after one warm-up step)."""
    step()
    n, started = 0, time.perf_counter()
    while True:
        step()
        n += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds and n >= 3:
            return chain_count * n / elapsed


def bare_scalar(chains: int = 1 << 16, seconds: float = 1.0) -> float:
    """Chain-steps/s of ``ScalarSGD.step`` alone (float32)."""
    rng = stream(0)
    chains_ = ScalarSGD(Hyper(eta=0.1, lam=0.01), 64, 64.0, "isotropic", np.full((1, chains), 12.0))
    return _rate(lambda: chains_.step(rng), chains, seconds)


def bare_vector(rule: str = "sgd", d: int = 64, chains: int = 1024, seconds: float = 1.0, model: str = "section4",
                batch: int = 32) -> float:
    """Chain-steps/s of ``VectorChains.step`` alone (float32)."""
    rng = stream(0)
    hyper = Hyper(eta=0.01, lam=0.1)
    noise = (Section4Noise(d, float(d), "isotropic", (1, chains)) if model == "section4"
             else BNUnit(d, batch, "full", (1, chains)))
    w0 = random_directions(rng, (1, chains, d)) * 2.0
    chains_ = VectorChains(rule, hyper, noise, w0)
    return _rate(lambda: chains_.step(rng), chains, seconds)


def engine_rate(rule: str, chains: int, d: int = 64, steps: int = 2000, reduce: bool = True) -> float:
    """Chain-steps/s through ``engine.run`` (burn-in and block means of N, 1/N, ||w||, angle included)."""
    spec = Spec(rule, Hyper(eta=0.1, lam=0.01), d=d, chains=chains, burn=0, steps=steps, progress=False,
                reduce=reduce)
    r = run(spec)
    return r.chain_steps / r.seconds


def threaded_scalar(threads: int = 2, chains: int = 1 << 16, seconds: float = 1.0) -> float:
    """Total chain-steps/s of ``threads`` scalar chains stepping concurrently, one per thread."""
    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(lambda i: bare_scalar(chains, seconds), range(threads)))


def samplers(size: int = 1 << 16, seconds: float = 0.5) -> dict:
    """Draws per second: numpy's float32 normal and Gamma(31.5) against ours (Box-Muller, Marsaglia-Tsang)."""
    rng = stream(0)
    out, buf = {}, np.empty(size, np.float32)
    normals, gammas = Normals(size), Gammas(31.5, size)
    out["numpy standard_normal float32"] = _rate(lambda: rng.standard_normal(out=buf, dtype=np.float32), size, seconds)
    out["Box-Muller normals (ours)"] = _rate(lambda: normals.fill(rng, buf), size, seconds)
    out["numpy standard_gamma(31.5) float32"] = _rate(lambda: rng.standard_gamma(31.5, out=buf, dtype=np.float32),
                                                     size, seconds)
    out["Marsaglia-Tsang Gamma(31.5) (ours)"] = _rate(lambda: gammas.fill(rng, buf), size, seconds)
    return out


def bench(seconds: float = 1.0, quick: bool = False) -> dict:
    """All benchmark rows as ``{name: chain-steps or draws per second}`` (wall clock), with the machine's
    description and load average (process CPU time is not used: this sandbox under-reports it)."""
    rows = {"scalar SGD chain": bare_scalar(seconds=seconds),
            "vector SGD chain, d=64": bare_vector(seconds=seconds),
            "scalar SGD chain, engine": engine_rate("sgd", 1 << 14, steps=1000 if quick else 4000),
            "vector SGD chain, d=64, engine": engine_rate("sgd", 1024, steps=200 if quick else 1000, reduce=False)}
    if not quick:
        for rule in ("momentum", "nesterov", "rmsprop", "adam", "adamw", "normalized"):
            rows[f"vector {rule} chain, d=64"] = bare_vector(rule, seconds=seconds)
        rows["BN unit, d=64, B=32, full backward"] = bare_vector(model="bn-unit", chains=64, seconds=seconds)
        rows["scalar SGD chain, 2 threads (total)"] = threaded_scalar(2, seconds=seconds)
        rows.update(samplers())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {"rows": rows, "cpus": os.cpu_count(), "load_average": load, "numpy": np.__version__,
            "targets": TARGETS, "command": "python -m normlaws.simulate.bench  (or: normlaws simulate --bench)"}


def format_table(result: dict) -> str:
    """The rows as a plain table with the targets."""
    lines = [f"{'what':<44} {'per second':>14}  target", "-" * 72]
    for name, value in result["rows"].items():
        target = result["targets"].get(name)
        mark = "" if target is None else f"{target / 1e6:.0f} M ({'met' if value >= target else 'MISSED'})"
        lines.append(f"{name:<44} {value / 1e6:>12.2f} M  {mark}")
    lines.append(f"\n{result['cpus']} CPUs (load average {result['load_average']:.1f}), numpy {result['numpy']}; "
                 f"command: {result['command']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Print the benchmark table (``--quick`` for fewer rows)."""
    argv = sys.argv[1:] if argv is None else argv
    print(format_table(bench(quick="--quick" in argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
