"""The architecture ARCHITECTURE.md describes, enforced: layers without cycles, imports inside functions only for
optional dependencies, each package importable without its optional dependencies, modules of readable size,
claim ids as literals where claims and checks are defined, and the static tools clean.

The import graph is read from the source (every ``import``, at module level or inside a function), so an import
hidden in a function still counts; layers are assigned by module name (``LAYERS``).
"""
import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from normlaws import registry

ROOT = Path(__file__).resolve().parents[1]
#: where each package's source lives (normlaws/theory etc. are symlinks to these folders)
FOLDERS = {"normlaws": "normlaws", "normlaws.theory": "theory", "normlaws.simulate": "simulate",
           "normlaws.gpu": "gpu", "normlaws.reports": "reports"}
#: the layers, bottom first: a module may import from its own layer and the layers below, never above
LAYERS = (
    ("core", ("normlaws", "normlaws.errors", "normlaws.validate", "normlaws.schema", "normlaws.records",
              "normlaws.leases", "normlaws.conventions", "normlaws.rules", "normlaws.outcome", "normlaws.progress",
              "normlaws.gpu.config")),   # the training configuration: plain data the record schema reads
    ("theory", ("normlaws.theory", "normlaws.derivation_cache", "normlaws.sympy_data")),
    ("simulate", ("normlaws.simulate",)),
    ("gpu", ("normlaws.gpu",)),
    ("registry", ("normlaws.registry", "normlaws.output", "normlaws.locate")),
    ("reports", ("normlaws.reports",)),
    ("top", ("normlaws.",)),         # cli, commands, audit*, testing, monitor, advise, archs, factory
)
#: third-party packages the project does not require (``pyproject.toml``'s extras): the only ones a function may
#: import inside its body, and the ones the fresh-interpreter test hides
OPTIONAL = ("torch", "matplotlib", "jinja2", "submitit", "tensorboard", "lightning", "pytorch_lightning",
            "hypothesis", "pytest", "mypy", "ruff")
#: project modules that need an optional dependency at import time (torch, jinja2) or import modules that do:
#: importing one of these inside a function is importing that dependency
NEEDS_OPTIONAL = ("normlaws.gpu.", "normlaws.archs", "normlaws.testing.layers", "normlaws.reports.builder",
                  "normlaws.monitor")   # the monitor measures torch tensors: nothing of it runs without torch
MAX_LINES = 400


def modules() -> dict[str, Path]:
    """Every module of the project by dotted name (its file under the real folder, not the symlink)."""
    out = {}
    for package, folder in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join([package, *[p for p in parts if p != "__init__"]])
            out[name] = path
    return out


def FOLDERS_PATH(path: Path) -> str:
    """A module's file relative to the project."""
    return str(path.relative_to(ROOT))


def layer_of(name: str) -> int:
    """The index in ``LAYERS`` of the most specific prefix naming the module."""
    best, best_len = None, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            matches = name == p or name.startswith(p + ".") or (p.endswith(".") and name.startswith(p))
            if matches and len(p) > best_len:
                best, best_len = i, len(p)
    assert best is not None, name
    return best


def imports(name: str, path: Path):
    """``(target, lineno, inside_a_function)`` for every project or third-party import of a module."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    inner = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            yield target, node.lineno, id(node) in inner


@pytest.fixture(scope="module")
def graph():
    mods = modules()
    edges = defaultdict(set)
    for name, path in mods.items():
        for target, line, _ in imports(name, path):
            if target in mods and target != name:
                edges[name].add((target, line))
    return mods, edges


def test_every_import_goes_down_the_layers(graph):
    mods, edges = graph
    upward = [f"{FOLDERS_PATH(mods[a])}:{line} {a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
              for a, targets in edges.items() for b, line in targets if layer_of(b) > layer_of(a)]
    assert not upward, "\n".join(sorted(upward))


def test_no_import_cycle_between_modules(graph):
    mods, edges = graph
    adjacency = {a: {b for b, _ in targets} for a, targets in edges.items()}
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def strongconnect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in adjacency.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in mods:
        if v not in index:
            strongconnect(v)
    # a package's __init__ re-exporting its modules, imported by them, is the one harmless loop
    cycles = [c for c in cycles if not all(m == c[0] or m.startswith(c[0] + ".") for m in c)]
    assert not cycles, cycles


def test_imports_inside_functions_are_optional_dependencies(graph):
    mods, _ = graph
    statements = defaultdict(list)        # (path, line) -> the targets of one import statement inside a function
    for name, path in mods.items():
        for target, line, inside in imports(name, path):
            if inside:
                statements[(FOLDERS_PATH(path), line, name)].append(target)
    bad = []
    for (path, line, name), targets in statements.items():
        optional = [t for t in targets if t.split(".")[0] in OPTIONAL or t.startswith(NEEDS_OPTIONAL)]
        required = [t for t in targets if t.split(".")[0] in ("normlaws", "sympy", "numpy", "scipy", "tqdm")]
        if required and not optional:
            bad.append(f"{path}:{line} {name} imports {required[-1]} inside a function")
    assert not bad, "\n".join(sorted(set(bad)))


BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (hidden by the test)", name=name)
sys.meta_path.insert(0, Block())
"""


@pytest.mark.parametrize("package", ["normlaws", "normlaws.theory", "normlaws.simulate", "normlaws.reports",
                                     "normlaws.registry", "normlaws.cli", "normlaws.testing", "normlaws.gpu"])
def test_each_package_imports_without_its_optional_dependencies(package):
    blocked = {"torch", "matplotlib", "jinja2", "submitit", "tensorboard", "lightning", "pytorch_lightning"}
    code = BLOCKER.format(blocked=blocked) + f"import {package}\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT / "tests")
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_no_module_over_about_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in list(modules().values())
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_claim_ids_are_literals_where_claims_are_defined():
    for claim in registry.claims():
        file, line = claim.defined_at
        assert file and Path(file).resolve().is_relative_to(ROOT / "theory"), (claim.id, file)


@pytest.mark.parametrize("leg, folder", [("montecarlo", "simulate"), ("training", "gpu")])
def test_check_ids_are_literals_where_checks_are_registered(leg, folder):
    source = "\n".join(p.read_text() for p in (ROOT / folder).rglob("*.py"))
    missing = [cid for cid in registry.leg_checks(leg) if f'"{cid}":' not in source]
    assert not missing, missing


@pytest.mark.timeout(600)
def test_ruff_is_clean():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]


CORE = ["normlaws.errors", "normlaws.validate", "normlaws.schema", "normlaws.records", "normlaws.leases",
        "normlaws.conventions", "normlaws.rules", "normlaws.outcome", "normlaws.progress"]


@pytest.mark.timeout(900)
def test_mypy_resolves_and_is_clean_on_theory_and_the_core():
    args = ["-p", "normlaws.theory"] + [a for m in CORE for a in ("-m", m)]
    proc = subprocess.run([sys.executable, "-m", "mypy", *args], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Cannot find" not in proc.stdout and "not found" not in proc.stdout


def test_the_packages_resolve_through_the_file_system():
    # the install mode ARCHITECTURE.md documents: normlaws/theory etc. are symlinks, so a plain sys.path entry (an
    # editor's or mypy's view) finds normlaws.theory without setuptools' editable finder
    for package, folder in FOLDERS.items():
        if package != "normlaws":
            link = ROOT / package.replace(".", "/")
            assert link.is_symlink() and link.resolve() == (ROOT / folder).resolve(), link
    code = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f)]; "
            "sys.path_hooks[:] = [h for h in sys.path_hooks if 'editable' not in repr(h)]; "
            f"sys.path.insert(0, {str(ROOT)!r}); import normlaws.theory.updates as u, normlaws.simulate.engine; "
            "print(u.__file__)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == str(ROOT / "normlaws" / "theory" / "updates.py")
