"""Every number the registry's sentences name is evaluated here, from its definition, not read back from the text.

A claim's summary, steps, statement and printed text are prose; when they name a number ("2x shorter", "0.316 for
the defaults", "overestimates sigma by 54%"), the entry below recomputes what the sentence says that number is
(often numerically, from the rule's definition) and compares it with the number in the sentence. A last test fails
when a sentence names a number that no entry here evaluates.
"""
import math
import re

import numpy as np
import pytest
import sympy as sp

from normlaws import registry
from normlaws.simulate import predict
from normlaws.theory import moments
from normlaws.theory.symbols import eta, lam, rho


def adam_printed_share_at_defaults():
    """Run Adam's moments on a constant gradient for 20,000 steps; the printed step over the bias-corrected one."""
    b1, b2, m, v = 0.9, 0.999, 0.0, 0.0
    for t in range(1, 20_001):
        m, v = b1 * m + (1 - b1), b2 * v + (1 - b2)
    correct = (m / (1 - b1**t)) / math.sqrt(v / (1 - b2**t))
    printed = (m / (1 - b1)) / math.sqrt(v / (1 - b2))
    return printed / correct


def relaxation_shortening():
    """The time constant of E||w||^2 under the decay alone (-1/ln a^2) over SGD's (-1/ln(2a^2 - 1)), eta lam -> 0."""
    a = 1 - 2 * 1e-6
    return math.log(2 * a * a - 1) / math.log(a * a)


def decay_alone_time_constant_in_units_of_one_over_4_eta_lam():
    a = 1 - 2 * 1e-6                        # eta lam = 1e-6
    return -1 / math.log(a * a) * 4e-6


def torch_nesterov_angle_factor():
    """theta*^2 of torch's Nesterov iterate over heavy-ball's, from the exact chord ratios at eta lam = 1e-8."""
    values = {eta: sp.Rational(1, 10**4), lam: sp.Rational(1, 10**4), rho: sp.Rational(9, 10)}
    return float((moments.chord_ratio("nesterov_torch") / moments.chord_ratio("momentum")).subs(values))


def lion_Q1():
    return predict.lion_Q(0.0, 0.0, 0.9, 0.99)


def lion_angle_shrink():
    return math.sqrt(1 + 2 * lion_Q1())


def linf_prefactor():
    """(1 + sqrt(pi ln 4))/2 in floating point."""
    return (1 + math.sqrt(math.pi * math.log(4))) / 2


#: claim id -> [(regex with one group: the number as the sentence names it, evaluator, how the text rounds)]
NUMBERS = {
    "update.adam.bias_correction": [
        (r"the printed step is sqrt\(1 - rho2\)/\(1 - rho1\) times the correct one \(([\d.]+) for the defaults "
         r"0\.9, 0\.999\)",
         adam_printed_share_at_defaults, 3)],
    "sec4.sgd.relaxation": [
        (r"steps, (\d+)x shorter than the 1/\(4 eta lam\)", relaxation_shortening, 0),
        (r"shorter than the (1)/\(4 eta lam\) of E\|\|w\|\|\^2 under the decay alone",
         decay_alone_time_constant_in_units_of_one_over_4_eta_lam, 0)],
    "later.angle.nesterov_torch": [(r"\(([\d.]+) at rho = 0\.9\)", torch_nesterov_angle_factor, 2)],
    "later.angle.lion": [(r"Q1 ~ (\d+) for beta = \(0\.9, 0\.99\)", lion_Q1, 0),
                         (r"\(0\.9, 0\.99\): ([\d.]+)x smaller", lion_angle_shrink, 1)],
    "hoffer.linfbn.constant": [(r"prefactor \(1 \+ sqrt\(pi ln 4\)\)/2 = ([\d.]+)", linf_prefactor, 2),
                               (r"overestimates sigma by (\d+)%", lambda: 100 * (linf_prefactor() - 1), 0)],
}


def texts(claim):
    dv = claim.derivation
    return [dv.summary, claim.statement, claim.printed.text or ""] + [s.text for s in dv.steps]


@pytest.mark.parametrize("claim_id, pattern, evaluate, digits",
                         [(cid, *entry) for cid, entries in NUMBERS.items() for entry in entries])
def test_the_number_a_sentence_names_is_what_it_says(claim_id, pattern, evaluate, digits):
    found = [m for text in texts(registry.get(claim_id)) for m in re.finditer(pattern, text)]
    assert found, f"{claim_id}: no sentence matches {pattern!r}"
    for match in found:
        assert float(match.group(1)) == pytest.approx(round(evaluate(), digits), abs=0.51 * 10**-digits), \
            (claim_id, match.group(0), evaluate())


#: numbers in prose: decimals, percentages, "2x"-style factors (section numbers "Sec. 5.1" are not figures)
FIGURE = re.compile(r"(?<!Sec\. )(?<!Sec\.)(?<![\w.])(\d+\.\d+|\d+ ?%|\d+(?:\.\d+)?x\b)")


def test_every_number_named_in_words_is_evaluated():
    missing = []
    for claim in registry.claims():
        covered = [m.group(0) for pattern, *_ in NUMBERS.get(claim.id, [])
                   for text in texts(claim) for m in re.finditer(pattern, text)]
        for text in texts(claim):
            for m in FIGURE.finditer(text):
                if not any(m.group(0) in span for span in covered):
                    missing.append(f"{claim.id}: ...{text[max(0, m.start() - 40):m.end() + 20]}...")
    assert not missing, "sentences naming numbers no test evaluates:\n" + "\n".join(missing)


def test_the_evaluators_are_not_the_text():
    """A guard against circularity: the evaluators compute, they do not parse the registry's prose."""
    assert adam_printed_share_at_defaults() == pytest.approx(math.sqrt(0.001) / 0.1, rel=1e-6)
    assert relaxation_shortening() == pytest.approx(2.0, rel=1e-5)
    assert np.isfinite(lion_Q1()) and lion_Q1() > 10
