"""Significance of a watermark claim, shared by all schemes (DESIGN.md section 8, "Decision thresholds").

One-sided exact binomial tests: how likely is an accuracy at least this high (or this many
matching bits) from a model that carries no watermark and answers at chance? Small
p-values mean the watermark behaviour is not a coincidence. Alongside each scheme's
fixed threshold T, tables can use ``p <= 0.05`` as a calibrated decision rule.
"""
from __future__ import annotations

import math

from scipy.stats import binomtest


def binomial_p_value(successes: int, trials: int, chance: float) -> float:
    """P(X >= successes) for X ~ Binomial(trials, chance); 1.0 when there are no trials."""
    if trials <= 0:
        return 1.0
    if not 0 <= successes <= trials:
        raise ValueError(f"successes {successes} outside 0..{trials}")
    return float(binomtest(int(successes), int(trials), float(chance), alternative="greater").pvalue)


def trigger_p_value(accuracy: float, trials: int, num_classes: int) -> float:
    """Trigger-set accuracy against chance 1/C (zhang, adi, the two halves of null embedding)."""
    if trials <= 0 or math.isnan(accuracy):
        return 1.0
    return binomial_p_value(round(accuracy * trials), trials, 1.0 / num_classes)


def bit_agreement_p_value(matching_bits: int, total_bits: int) -> float:
    """Extracted bits agreeing with the key against coin flips (uchida, deepsigns: 1 - ber)."""
    return binomial_p_value(matching_bits, total_bits, 0.5)


def combine_max(*p_values: float) -> float:
    """Conservative combination when every part must hold (intersection-union test): the largest p."""
    return max(p_values) if p_values else 1.0
