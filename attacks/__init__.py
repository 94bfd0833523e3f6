"""Attacks; third-party attacks register through the ``wmbench.attacks`` entry points."""
from __future__ import annotations

import importlib

from attacks.base import Attack, AttackContext
from harness.registry import Registry

ATTACKS: Registry[Attack] = Registry("attack", group="wmbench.attacks", builtins=lambda: _builtins())

_BUILTIN_MODULES = ("none", "piracy", "finetune", "pruning", "neural_cleanse", "extraction", "transfer", "corruption")


def _builtins() -> None:
    for mod in _BUILTIN_MODULES:
        try:
            module = importlib.import_module(f"attacks.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"attacks.{mod}":
                raise
            continue  # not written yet
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Attack) and obj is not Attack and obj.__module__ == module.__name__:
                ATTACKS.register(obj.name)(obj)


def get_attack(name: str, **params) -> Attack:
    return ATTACKS.create(name, **params)


__all__ = ["ATTACKS", "Attack", "AttackContext", "get_attack"]
