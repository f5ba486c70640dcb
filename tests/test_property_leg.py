"""The property leg's map (``normlaws/property_leg.json``) is exactly what the tests' ``claims`` markers say, and
every marked id is a claim of the registry."""
import json
import subprocess
import sys
from pathlib import Path

from normlaws import registry

ROOT = Path(__file__).resolve().parent.parent
PROPERTY_FILES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_properties_*.py"))


def test_the_committed_map_is_the_markers(tmp_path):
    out = tmp_path / "map.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "tests.claims_map",
                           "--claims-map", str(out), *PROPERTY_FILES], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    collected = json.loads(out.read_text())
    assert collected == registry.property_tests(), (
        "normlaws/property_leg.json is stale: regenerate it with python -m pytest --collect-only -q -p "
        "tests.claims_map --claims-map normlaws/property_leg.json tests/test_properties_*.py")


def test_every_marked_id_is_a_claim_and_shows_the_property_leg():
    ids = {c.id for c in registry.claims()}
    assert set(registry.property_tests()) <= ids
    for cid in registry.property_tests():
        assert "property" in registry.legs_of(cid)
    assert "property" not in registry.legs_of("table1.sgd.norm")      # no property test claims it
