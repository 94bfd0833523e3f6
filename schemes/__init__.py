"""Watermark schemes; third-party schemes register through the ``wmbench.schemes`` entry points."""
from __future__ import annotations

from harness.registry import Registry, register_subclasses
from schemes.base import Scheme

SCHEMES: Registry[Scheme] = Registry("scheme", group="wmbench.schemes", builtins=lambda: _builtins())

_BUILTIN_MODULES = ("none", "null_embedding", "uchida", "deepsigns", "zhang", "adi")


def _builtins() -> None:
    register_subclasses(SCHEMES, "schemes", _BUILTIN_MODULES, Scheme)


def get_scheme(name: str, **params) -> Scheme:
    return SCHEMES.create(name, **params)


__all__ = ["SCHEMES", "Scheme", "get_scheme"]
