"""Attacks; third-party attacks register through the ``wmbench.attacks`` entry points."""
from __future__ import annotations

from attacks.base import Attack, AttackContext
from harness.registry import Registry, register_subclasses

ATTACKS: Registry[Attack] = Registry("attack", group="wmbench.attacks", builtins=lambda: _builtins())

_BUILTIN_MODULES = ("none", "piracy", "finetune", "pruning", "neural_cleanse", "extraction", "transfer", "corruption")


def _builtins() -> None:
    register_subclasses(ATTACKS, "attacks", _BUILTIN_MODULES, Attack)


def get_attack(name: str, **params) -> Attack:
    return ATTACKS.create(name, **params)


__all__ = ["ATTACKS", "Attack", "AttackContext", "get_attack"]
