"""``none``: no attack; the row that records the watermarked model as embedded."""
from __future__ import annotations

from torch import nn

from attacks.base import Attack, AttackContext
from harness.types import AttackResult


class NoAttack(Attack):
    name = "none"
    summary = "no attack (the watermarked model as embedded)"

    def run(self, victim: nn.Module, ctx: AttackContext) -> AttackResult:
        return AttackResult(model=victim)
