"""One schema for every JSON Lines file the tool writes and reads back, checked on every read.

A results folder may come from someone else: :func:`check` turns any record that the readers (the sweep's
resume, the figures, the report) could not use into one :class:`~normlaws.errors.UsageError` line naming the
file, the line and the field, e.g. ``out/records.jsonl:3: field config.eta: expected a number > 0, got 0``.

Files and their kinds (:data:`FILE_KINDS`): a sweep's ``records.jsonl`` (``sweep``), ``verify``'s leg records
``montecarlo.jsonl``, ``exponents.jsonl``, ``training.jsonl``, ``property.jsonl`` (``leg``), its ``runs.jsonl`` (``run``),
``simulate --results``' ``simulate.jsonl`` (``simulate``). Fields the readers use are checked for type and
range; other fields may be added freely (records stay readable by older readers). Numbers that may be
non-finite are stored as the strings ``'nan'``, ``'inf'``, ``'-inf'`` (:func:`normlaws.records.dumps`). Text
that reaches a figure (titles, labels) holds no ``$``, which matplotlib would parse as math; no text holds a
control character. A sweep record's ``trajectory`` is ``traj/<key>.npz`` inside the records' own folder (links
resolved): a record never points a reader elsewhere; the trajectory itself is checked by
:func:`read_trajectory`.
"""
from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from . import validate
from .errors import UsageError

NONFINITE = ("nan", "inf", "-inf")


MISSING = object()   # the value of a field that is not there


class Bad(Exception):
    """A value that does not fit its schema: where (a dotted field path) and what was expected."""

    def __init__(self, where: str, expected: str, value):
        super().__init__(where, expected)
        self.where, self.expected, self.value = where, expected, value


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ---- the building blocks: each is a callable ``spec(value, where) -> value`` raising Bad -------------------

def number(lo=None, hi=None, *, lo_open=False, hi_open=False, integer=False, nonfinite=False, null=False,
           rng: validate.Number | None = None):
    """A JSON number (not a bool) in a range (or ``rng``'s); optionally 'nan'/'inf' strings, or null."""
    rng = rng or validate.Number(int if integer else float, lo, hi, lo_open=lo_open, hi_open=hi_open)
    kind = "a whole number" if integer else "a number"
    expected = f"{kind} {rng.describe()}" if (rng.lo is not None or rng.hi is not None) else kind

    def spec(value, where):
        if value is None and null:
            return value
        if isinstance(value, str) and nonfinite and value in NONFINITE:
            return value
        ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type or (isinstance(value, float) and not math.isfinite(value)) \
                or not rng.inside(value):
            raise Bad(where, expected, value)
        return value
    return spec


def text(*, choices=None, label=False, null=False):
    """A string without control characters (and, for a figure ``label``, without ``$``), or one of ``choices``."""
    def spec(value, where):
        if value is None and null:
            return value
        if not isinstance(value, str):
            raise Bad(where, "text", value)
        if choices is not None and value not in choices:
            raise Bad(where, "one of " + ", ".join(choices), value)
        if any(ord(ch) < 32 and ch not in "\n\t" or ord(ch) == 127 for ch in value):
            raise Bad(where, "text without control characters", value)
        if label and "$" in value:
            raise Bad(where, "a plain-text label without '$'", value)
        return value
    return spec


def boolean(value, where):
    """true or false."""
    if not isinstance(value, bool):
        raise Bad(where, "true or false", value)
    return value


def nothing(value, where):
    """null."""
    if value is not None:
        raise Bad(where, "null", value)
    return value


def anything(value, where):
    """Any JSON value."""
    return value


def either(*specs, expected: str):
    """The first of ``specs`` that accepts the value."""
    def spec(value, where):
        for one in specs:
            try:
                return one(value, where)
            except Bad:
                continue
        raise Bad(where, expected, value)
    return spec


def items(item, *, min_len=0, length=None, null=False):
    """A list whose every element fits ``item``."""
    def spec(value, where):
        if value is None and null:
            return value
        if not isinstance(value, list) or len(value) < min_len or (length is not None and len(value) != length):
            size = f" of {length}" if length is not None else (f" of at least {min_len}" if min_len else "")
            raise Bad(where, f"a list{size}", value)
        return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return spec


def mapping(value_spec, *, keys=None):
    """An object with any (or exactly ``keys``) names, every value fitting ``value_spec``."""
    def spec(value, where):
        if not isinstance(value, dict) or (keys is not None and not set(keys) <= set(value)):
            raise Bad(where, "an object" + (f" with {', '.join(keys)}" if keys else ""), value)
        return {k: value_spec(v, f"{where}.{k}") for k, v in value.items()}
    return spec


def obj(fields: dict, *, required=(), exact=False, null=False, same_length=()):
    """An object: ``fields`` checked where present, ``required`` ones present, no others when ``exact``."""
    def spec(value, where):
        if value is None and null:
            return value
        if not isinstance(value, dict):
            raise Bad(where, "an object", value)
        for name in required:
            if name not in value:
                raise Bad(_join(where, name), "a value", MISSING)
        if exact and set(value) - set(fields):
            extra = sorted(set(value) - set(fields))[0]
            raise Bad(_join(where, extra), "no such field", value[extra])
        for name, check in fields.items():
            if name in value:
                check(value[name], _join(where, name))
        lengths = {len(value[k]) for k in same_length if isinstance(value.get(k), list)}
        if len(lengths) > 1:
            raise Bad(_join(where, same_length[0]), f"as many entries as {', '.join(same_length[1:])}",
                      value[same_length[0]])
        return value
    return spec


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


NUM = number(nonfinite=True, null=True)                      # a measured value: may be nan/inf or absent
FINITE = number()
COUNT = number(0, integer=True)
TEXT = text()
LABEL = text(label=True)


# ---- the sweep's records.jsonl ------------------------------------------------------------------------------

def _config_fields() -> dict:
    from .gpu.config import IMAGE_SIZES, NETWORKS, RECORD_OPTIMIZERS  # torch-free
    r = validate.TRAINING
    return {"optimizer": text(choices=RECORD_OPTIMIZERS), "eta": number(0, lo_open=True), "lam": number(0),
            "epochs": number(rng=r["epochs"], integer=True), "batch_size": number(rng=r["batch_size"], integer=True),
            "milestones": items(number(rng=r["epochs"], integer=True)), "lr_drop": number(rng=r["lr_drop"]),
            "widths": items(number(rng=r["width"], integer=True), length=4),
            "seed": number(rng=validate.seed, integer=True),
            "n_train": number(rng=r["n_train"], integer=True), "n_test": number(rng=r["n_test"], integer=True),
            "translate": number(rng=r["translate"], integer=True), "flip": boolean,
            "momentum": number(rng=validate.unit_interval), "rho": number(rng=validate.unit_interval),
            "beta1": number(rng=validate.unit_interval), "beta2": number(rng=validate.unit_interval),
            "eps": number(0), "decay_head": boolean, "network": text(choices=NETWORKS),
            "image_size": number(integer=True, rng=validate.Number(int, min(IMAGE_SIZES), max(IMAGE_SIZES))),
            "init_scale": number(0, lo_open=True), "bn_eps": number(0)}


def _config_required() -> tuple:
    """The fields every sweep record's config has: all but those added later (older records lack them)."""
    from .gpu.config import ADDED_DEFAULTS
    return tuple(k for k in _config_fields() if k not in ADDED_DEFAULTS)


FIRST_LAYER = ("conv1",)     # the layer the figures and checks read by default; the others are optional
_SERIES = items(NUM)
_PER_LAYER = mapping(_SERIES, keys=FIRST_LAYER)
EPOCHS = obj({"epoch": items(COUNT), "lr": _SERIES, "train_loss": _SERIES, "train_error": _SERIES,
              "test_loss": _SERIES, "test_error": _SERIES, "filter_norm_mean": _PER_LAYER,
              "init_filter_norm_mean": mapping(NUM, keys=FIRST_LAYER), "angle_mean": _PER_LAYER,
              "grad_ratio_mean": _PER_LAYER, "live_filter_norm_mean": _PER_LAYER, "grad_unit_sq_mean": _PER_LAYER,
              "collapsed_filters": _PER_LAYER},
             required=("test_error", "filter_norm_mean", "init_filter_norm_mean", "angle_mean"))
FINAL = obj({"test_error": NUM, "conv1_norm_fit_epoch": NUM, "conv1_norm_final": NUM, "fit_epoch": COUNT})


def _sweep_spec():
    return obj({"key": text(), "status": text(choices=("done", "diverged")),
                "config": obj(_config_fields(), required=_config_required(), exact=True),
                "final": FINAL, "diverged_at": obj({"step": COUNT, "epoch": COUNT}, required=("step", "epoch"),
                                                   null=True),
                "epochs": EPOCHS, "trajectory": text(null=True), "ensemble": anything, "architecture": TEXT,
                "convention": TEXT, "provenance": anything},
               required=("key", "status", "config", "final", "epochs"))


def _sweep_extra(record: dict, path: Path) -> None:
    """What one field cannot say alone: the key is the config's hash, every series has one entry per epoch,
    the trajectory lies in the folder."""
    from .gpu.config import TrainConfig
    if record["key"] != TrainConfig.from_dict(record["config"]).key:
        raise Bad("key", f"the hash of its config ({TrainConfig.from_dict(record['config']).key})", record["key"])
    epochs = record["config"]["epochs"]
    for name, series in record["epochs"].items():
        for layer, values in (series.items() if isinstance(series, dict) else [("", series)]):
            if isinstance(values, list) and len(values) != epochs:
                raise Bad(f"epochs.{name}" + (f".{layer}" if layer else ""), f"a list of {epochs} (config.epochs)",
                          values)
    trajectory = record.get("trajectory")
    if trajectory is not None:
        if trajectory != f"traj/{record['key']}.npz":
            raise Bad("trajectory", f"'traj/{record['key']}.npz' (inside the records' folder)", trajectory)
        folder = path.parent.resolve()
        target = (path.parent / trajectory).resolve()
        if folder not in target.parents:
            raise Bad("trajectory", f"a file inside {path.parent} (it links to {target})", trajectory)


# ---- verify's leg records and run records, simulate's records -----------------------------------------------

STATUSES = ("agrees", "disagrees", "skipped", "error")
_FIGURE = obj({"x": items(NUM, min_len=1), "y": items(NUM, min_len=1), "se": items(NUM, null=True),
               "title": text(label=True, null=True), "xlabel": text(label=True, null=True),
               "ylabel": text(label=True, null=True), "slope": number(null=True)},
              required=("x", "y"), same_length=("x", "y", "se"))
_GRID_LINE = obj({"x": items(NUM), "measured": items(NUM), "se": items(NUM), "equilibrated": items(boolean),
                  "product": FINITE, "ratio": FINITE, "printed_slope": number(null=True),
                  "fit": obj({"slope": number(null=True)}, null=True), "status": TEXT, "detail": TEXT},
                 null=True, same_length=("x", "measured", "se", "equilibrated"))
RESULT = obj({"status": text(choices=STATUSES), "detail": TEXT, "figures": items(TEXT, null=True),
              "figure": either(_FIGURE, items(_FIGURE), nothing, expected="a figure object, a list of them, or null"),
              "rule": text(label=True), "fixed_product": _GRID_LINE, "fixed_ratio": _GRID_LINE},
             required=("status",))


LEG = obj({"claim": text(), "leg": text(), "run": text(), "result": RESULT, "size": TEXT,
           "seed": number(rng=validate.seed, integer=True, null=True)}, required=("claim", "result"))
RUN = obj({"run": text(), "options": mapping(anything),
           "stages": items(obj({"name": text(), "status": text(choices=("ok", "failed", "skipped")),
                                "seconds": number(0), "cpu_seconds": number(0), "detail": TEXT,
                                "failures": items(TEXT)}, required=("name", "status")))},
          required=("run", "stages"))
SIMULATE = obj({"kind": text(choices=("point", "exponents", "checks")), "result": mapping(anything)},
               required=("kind", "result"))
ANY_RECORD = mapping(anything)

FILE_KINDS = {"records.jsonl": "sweep", "montecarlo.jsonl": "leg", "exponents.jsonl": "leg",
              "training.jsonl": "leg", "property.jsonl": "leg", "runs.jsonl": "run", "simulate.jsonl": "simulate"}


def kind_of(path) -> str:
    """The schema of a file by its name (:data:`FILE_KINDS`); any other file: one JSON object per line."""
    return FILE_KINDS.get(Path(path).name, "record")


_SPECS: dict = {}


def _spec(kind: str):
    if not _SPECS:
        _SPECS.update(sweep=_sweep_spec(), leg=LEG, run=RUN, simulate=SIMULATE, record=ANY_RECORD)
    return _SPECS[kind]


def check(kind: str, record, path, line: int):
    """``record`` if it fits the schema ``kind``, else one :class:`UsageError` naming the file, line and field."""
    path = Path(path)
    try:
        _spec(kind)(record, "")
        if kind == "sweep":
            _sweep_extra(record, path)
    except Bad as bad:
        field = f"field {bad.where}: " if bad.where else ""
        what = "missing" if bad.value is MISSING else f"expected {bad.expected}, got {_shown(bad.value)}"
        raise UsageError(f"{path}:{line}: {field}{what} (not a {kind} record)") from None
    return record


# ---- a sweep record's trajectory (.npz) --------------------------------------------------------------------

#: a trajectory is ~100 kB per configuration; anything this large is not one (a zip bomb, say)
MAX_TRAJECTORY_BYTES = 256 * 2**20


#: the per-layer arrays read at initialisation and after each epoch (epochs + 1 rows)
AT_EPOCH_ENDS = ("_filter_norms", "_buffer_dot", "_buffer_sq")


def read_trajectory(path, epochs: int) -> dict:
    """The arrays of a trajectory ``.npz`` (never unpickled), checked: numeric, per layer the filter norms and the
    buffer's moments ``(epochs + 1, C)`` and ``grad_unit_sq`` ``(epochs, C)``; else one :class:`UsageError` line
    naming the file."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            size = sum(info.file_size for info in archive.infolist())
        if size > MAX_TRAJECTORY_BYTES:
            raise UsageError(f"{path}: {size / 2**20:.0f} MiB unpacked, not a trajectory")
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        if isinstance(exc, UsageError):
            raise
        raise UsageError(f"{path}: not a readable trajectory .npz ({type(exc).__name__}: {exc})") from None
    for name, array in arrays.items():
        rows = epochs + 1 if name.endswith(AT_EPOCH_ENDS) else epochs
        layered = name.endswith(("_grad_unit_sq",) + AT_EPOCH_ENDS)
        if array.dtype.kind not in "fiu" or (layered and (array.ndim != 2 or array.shape[0] != rows
                                                          or array.shape[1] < 1)):
            raise UsageError(f"{path}: array {name} has dtype {array.dtype} and shape {array.shape}, expected "
                             + (f"numbers of shape ({rows}, filters)" if layered else "numbers"))
        norms = arrays.get(name.replace("_grad_unit_sq", "_filter_norms"))
        if name.endswith("_grad_unit_sq") and norms is not None and norms.shape[1] != array.shape[1]:
            raise UsageError(f"{path}: array {name} has {array.shape[1]} filters, its filter norms {norms.shape[1]}")
    return arrays
