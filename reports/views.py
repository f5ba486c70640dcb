"""What the templates show, computed from the registry and the stored evidence (no hand-written results).

Every string a view holds is plain text, escaped by the template layer; formulas are :class:`Tex`
(already LaTeX, from :func:`normlaws.reports.latex.display_latex`) and are left alone.
"""
from __future__ import annotations

import math
import re

import sympy as sp

from normlaws import conventions, registry
from normlaws.theory import catalog
from normlaws.output import sympy_str

from .evidence import AGREES, DISAGREES, ERROR, SKIPPED, Evidence
from .latex import ReadablePrinter, display_form, display_latex, escape_text

NO_CHECK = "no check"
NOT_RUN = "not run"
PROOF_FAILED = "proof fails"


class Tex(str):
    """A string that is already LaTeX: the template layer does not escape it."""


class ElidedTex(Tex):
    """The LaTeX note that stands for an expression too long to print; ``plain`` is the same note as plain text."""

    plain: str = ""


#: a formula longer than this (characters of LaTeX) is broken into lines at its top-level sum
LINE_CHARS = 360
#: a formula longer than this cannot be read on a page: the report names it instead of printing it
ELIDE_CHARS = 3000


def formula(expr, where: str = "") -> Tex | None:
    """The readable LaTeX of a SymPy expression (``None`` for ``None``).

    Long sums are broken into aligned lines; an expression too long to read on a page (a symbolic model's
    intermediate, thousands of characters) is replaced by a note saying its size and how to print it.
    """
    if expr is None:
        return None
    if _too_long(expr):  # (display forms of such expressions also take minutes)
        return _elided(expr, where)
    tex = display_latex(expr)
    if len(tex) <= LINE_CHARS:
        return Tex(tex)
    if len(tex) > ELIDE_CHARS:
        return _elided(expr, where)
    lines = _sum_lines(expr)
    return Tex(tex if lines is None else r"\begin{aligned}" + r"\\ ".join(lines) + r"\end{aligned}")


def _too_long(expr) -> bool:
    """Whether an expression is beyond reading: its SymPy string alone is longer than ELIDE_CHARS."""
    return isinstance(expr, (sp.Basic, sp.MatrixBase)) and len(sp.sstr(expr)) > ELIDE_CHARS


def _elided(expr, where: str) -> Tex:
    ops = sp.count_ops(expr) if isinstance(expr, sp.Basic) else "many"
    how = f"normlaws derive {where} --json" if where else "normlaws derive --json"
    note = ElidedTex(r"\text{\small\itshape [a SymPy expression of " + str(ops) + r" operations, too long to print; "
                     r"\texttt{" + escape_text(how) + "} prints it]}")
    note.plain = f"[a SymPy expression of {ops} operations, too long to print; `{how}` prints it]"
    return note


def _sum_lines(expr) -> list[str] | None:
    """LaTeX lines of a long sum (or an equation whose right side is one), about LINE_CHARS each."""
    shown = display_form(expr)
    lhs = ""
    if isinstance(shown, sp.Equality):
        lhs, shown = ReadablePrinter().doprint(shown.lhs) + " = ", shown.rhs
    if not isinstance(shown, sp.Add):
        return None
    lines, current = [], ""
    for term in shown.args:
        piece = ReadablePrinter().doprint(term)
        signed = piece if piece.startswith("-") else "+ " + piece
        if current and len(current) + len(signed) > LINE_CHARS:
            lines.append(current)
            current = ""
        current += (" " if current else "") + (signed if lines or current else piece)
    lines.append(current)
    return [("&" if i else lhs + "&") + (" " if i else "") + line for i, line in enumerate(lines)]


def plain(expr) -> str | None:
    """A readable one-line text form of a SymPy expression (for Markdown and the terminal)."""
    if expr is None:
        return None
    if isinstance(expr, sp.MatrixBase) and 1 in expr.shape:
        return "(" + ", ".join(plain(e) for e in expr) + ")"
    if _too_long(expr):
        return sympy_str(expr)
    try:
        text = sp.sstr(display_form(expr), order="none")
    except Exception:  # noqa: BLE001 - the canonical string is always available
        text = sympy_str(expr)
    return re.sub(r"\blamda\b", "lambda", text)  # SymPy's spelling of the Python keyword, for reading


def fmt_number(value, digits: int = 4) -> str:
    """A number with ``digits`` significant digits (``'-'`` for ``None``); other values as text.

    >>> fmt_number(0.000123456), fmt_number(2.0), fmt_number(None), fmt_number([1, 0.5])
    ('0.0001235', '2', '-', '[1, 0.5]')
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        return f"{value:.{digits}g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt_number(v, digits) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {fmt_number(v, digits)}" for k, v in value.items())
    return str(value)


def label(claim_id: str) -> str:
    """A LaTeX label / Markdown anchor for a claim id.

    >>> label("table1.sgd.eff_lr")
    'claim-table1-sgd-eff-lr'
    """
    return "claim-" + re.sub(r"[^A-Za-z0-9]+", "-", claim_id).strip("-")


# ---- the numeric legs ------------------------------------------------------------------------------------------

_MC_ROWS = (("predicted", "predicted (derived)"), ("measured", "measured"), ("se", "standard error"),
            ("tolerance", "tolerance"))
_TRAIN_ROWS = (("derived", "derived"), ("measured", "measured"), ("ci", "95% interval"))


def leg_status(evidence: Evidence, leg: str, claim_id: str) -> str:
    """The status of a numeric leg for a claim: a check's status, 'not run', or 'no check'."""
    status = evidence.status(leg, claim_id)
    if status is not None:
        return status
    if claim_id not in registry.leg_checks(leg):
        return NO_CHECK
    stage = next((s for s in (evidence.run or {}).get("stages", []) if s.get("name") == leg), None)
    return SKIPPED if stage and stage.get("status") == SKIPPED else NOT_RUN


def leg_view(evidence: Evidence, leg: str, claim_id: str) -> dict:
    """The rows a claim's numeric-leg paragraph shows: values, the status and the check's own detail."""
    record = getattr(evidence, leg).get(claim_id)
    status = leg_status(evidence, leg, claim_id)
    grid = grid_view(evidence.exponents.get(claim_id)) if leg == "montecarlo" else None
    if record is None and grid is not None:
        return {"status": grid["status"], "rows": [], "detail": "", "meta": grid["meta"], "figures": [],
                "grid": grid}
    if record is None:
        return {"status": status, "rows": [], "detail": "", "meta": "", "figures": [], "grid": None}
    result = record["result"]
    rows = [(name, fmt_number(result[key])) for key, name in (_MC_ROWS if leg == "montecarlo" else _TRAIN_ROWS)
            if result.get(key) is not None]
    z = _z_score(result) if leg == "montecarlo" else None
    if z is not None:
        rows.append(("|measured - predicted| / s.e.", fmt_number(z, 3)))
    meta = ", ".join(f"{k} {record[k]}" for k in ("size", "seed") if record.get(k) is not None)
    return {"status": status, "rows": rows, "detail": str(result.get("detail", "")), "meta": meta,
            "figures": list(result.get("figures", [])), "grid": grid}


def grid_view(record: dict | None) -> dict | None:
    """A scaling-grid record (``normlaws.simulate.exponents``) as lines: one per grid line, with its fit."""
    if record is None:
        return None
    result = record["result"]
    lines = []
    for key, name in (("fixed_product", "eta/lambda varied at fixed eta*lambda"),
                      ("fixed_ratio", "eta*lambda varied at fixed eta/lambda")):
        line = result.get(key)
        if line:
            lines.append({"name": name, "status": line.get("status", ERROR), "detail": str(line.get("detail", ""))})
    meta = ", ".join(f"{k} {record[k]}" for k in ("size", "seed") if record.get(k) is not None)
    return {"status": result.get("status", ERROR), "lines": lines, "meta": meta,
            "detail": str(result.get("detail", ""))}


def _z_score(result: dict):
    try:
        m, p, se = float(result["measured"]), float(result["predicted"]), float(result["se"])
    except (KeyError, TypeError, ValueError):
        return None
    return abs(m - p) / se if se > 0 and math.isfinite(m - p) else None


# ---- one claim -------------------------------------------------------------------------------------------------

def symbolic_status(claim) -> str:
    """The symbolic leg's cell: the verdict on the paper when the proof holds, 'proof fails' otherwise."""
    return PROOF_FAILED if claim.proof_failures() else claim.verdict.kind


def _named_extras(extras: dict):
    """``(name, expression)`` for each named result; a dict of them (a claim's alternates) gives one per entry."""
    for name, value in extras.items():
        if isinstance(value, dict):
            yield from ((f"{name}: {key}", inner) for key, inner in value.items())
        else:
            yield name, value


def claim_view(claim, evidence: Evidence) -> dict:
    """Everything the report shows for one claim, computed from the registry and the evidence."""
    dv, printed = claim.derivation, claim.printed
    failures = claim.proof_failures()
    return {
        "id": claim.id, "label": label(claim.id), "title": claim.title, "statement": claim.statement,
        "source": claim.source, "convention": claim.convention, "tags": list(claim.tags),
        "printed": formula(printed.expr, claim.id) if printed.form != "none" else None,
        "printed_plain": plain(printed.expr) if printed.form != "none" else None,
        "printed_where": printed.where, "printed_form": printed.form, "printed_text": printed.text,
        "condition": claim.condition,
        "steps": [{"text": s.text, "math": formula(s.expr, claim.id)} for s in dv.steps],
        "result": formula(dv.result, claim.id), "result_plain": plain(dv.result), "summary": dv.summary,
        "identity": printed.form == "identity",
        "extras": [(name, formula(value, claim.id)) for name, value in _named_extras(dv.extras)],
        "proof_holds": not failures, "proof_count": len(dv.proofs), "proof_failed": sorted(failures),
        "verdict": claim.verdict.kind, "verdict_detail": claim.verdict.detail,
        "erratum": claim.verdict.is_erratum,
        "symbolic": symbolic_status(claim),
        "legs": registry.legs_of(claim.id),
        "montecarlo": leg_view(evidence, "montecarlo", claim.id),
        "training": leg_view(evidence, "training", claim.id),
    }


# ---- the whole report ------------------------------------------------------------------------------------------

def module_of(claims) -> dict:
    """``{claim id: (module name, section title)}`` from the theory modules that define the claims."""
    out = {}
    for module in catalog.MODULES:
        name = module.__name__
        title = (module.__doc__ or name).strip().splitlines()[0].rstrip(".")
        for claim in module.CLAIMS:
            out[claim.id] = (name, title)
    return {c.id: out.get(c.id, ("other", "Other claims")) for c in claims}


def sections(views: list[dict], claims) -> list[dict]:
    """The claim views grouped by theory module, in registry order."""
    where = module_of(claims)
    groups: dict = {}
    for view in views:
        module, title = where[view["id"]]
        groups.setdefault(module, {"module": module, "title": title, "claims": []})["claims"].append(view)
    return list(groups.values())


def conventions_used(claims) -> list[dict]:
    """The conventions the claims name, described (the canonical one first)."""
    known = {c.name: c for c in (conventions.CANONICAL, conventions.PAPER_STOP_GRADIENT, conventions.TORCH)}
    names = [conventions.CANONICAL.name] + sorted({c.convention for c in claims} - {conventions.CANONICAL.name})
    return [{"name": n, "describe": known[n].describe() if n in known else f"{n} (named by the claim that uses it)",
             "count": sum(c.convention == n for c in claims)} for n in names]


def counts(views: list[dict]) -> dict:
    """How many claims were proven, how many are errata, and each numeric leg's statuses."""
    out = {"claims": len(views), "proven": sum(v["proof_holds"] for v in views),
           "errata": sum(v["erratum"] for v in views)}
    for leg in ("montecarlo", "training"):
        statuses = [v[leg]["status"] for v in views]
        out[leg] = {s: statuses.count(s) for s in (AGREES, DISAGREES, SKIPPED, ERROR, NOT_RUN)
                    if statuses.count(s)}
    return out


def skipped_legs(views: list[dict], run: dict | None) -> list[dict]:
    """The legs that were skipped, and why: whole stages from the run record, single checks from their detail."""
    out = [{"what": s["name"], "why": s.get("detail", "")} for s in (run or {}).get("stages", [])
           if s.get("status") == SKIPPED]
    for v in views:
        for leg in ("montecarlo", "training"):
            if v[leg]["status"] == SKIPPED and v[leg]["detail"]:
                out.append({"what": f"{leg}: {v['id']}", "why": v[leg]["detail"]})
    return out
