"""Every unit of the shared texts (sentence, display equation, Table 1 row) has its entry in
``theory.sentences``, in order; every checkable one names claims that exist in the registry."""
import re
from pathlib import Path

import pytest

from normlaws import registry
from normlaws.theory import sentences

PAPERS = Path(__file__).resolve().parent.parent.parent / "shared" / "papers"
#: where each text's body starts and ends (author block, acknowledgements and references are not statements)
BODY = {"VAN_LAARHOVEN": ("#### Abstract", "# Acknowledgements"), "HOFFER_SUMMARY": (None, "Reference")}


def units(text: str) -> list[str]:
    """Display equations ($$...$$), Table rows (tab-separated) and sentences, whitespace collapsed."""
    out = []
    for part in re.split(r"(\$\$.*?\$\$)", text, flags=re.S):
        if part.startswith("$$"):
            out.append(" ".join(part.split()))
            continue
        for line in part.split("\n"):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if "\t" in line:
                out.append(" ".join(line.split()))
                continue
            out += [" ".join(s.split()) for s in re.split(r"(?<=[.!?])\s+(?=[A-Z(])", line) if s.strip()]
    return out


def body(name: str) -> str:
    text = (PAPERS / sentences.SOURCES[name]).read_text()
    start, end = BODY[name]
    return text[text.index(start) if start else 0:text.index(end)]


@pytest.mark.skipif(not PAPERS.is_dir(), reason="../shared/papers is not beside the repository")
@pytest.mark.parametrize("name", sorted(sentences.SOURCES))
def test_every_unit_has_its_entry_in_order(name):
    found, entries = units(body(name)), sentences.catalogue(name)
    assert len(found) == len(entries), f"{name}: {len(found)} units in the text, {len(entries)} entries"
    for unit, entry in zip(found, entries):
        assert unit.startswith(entry.quote), f"{name}: entry {entry.quote!r} does not open the unit {unit[:80]!r}"


def test_entries_are_well_formed_and_name_existing_claims():
    ids = {c.id for c in registry.claims()}
    for name in sentences.SOURCES:
        for entry in sentences.catalogue(name):
            assert entry.kind in sentences.KINDS, entry
            assert set(entry.claims) <= ids, (entry, set(entry.claims) - ids)
            if entry.kind in sentences.CHECKED:
                assert entry.claims, entry
            if entry.kind in ("practice", "empirical", "knowledge", "typo"):
                assert entry.note, f"{entry.quote!r}: say why it is not checked"


def test_every_claim_sourced_in_the_paper_is_named_by_a_sentence():
    """The converse: a claim citing a section of the paper is reachable from the sentences it checks."""
    named = sentences.claims_checked()
    paper = [c.id for c in registry.claims()
             if c.source.startswith(("Sec.", "Table 1", "Abstract")) and c.printed.form != "none"]
    missing = [cid for cid in paper if cid not in named]
    assert not missing, missing
