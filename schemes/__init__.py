"""Watermark schemes; third-party schemes register through the ``wmbench.schemes`` entry points."""
from __future__ import annotations

import importlib

from harness.registry import Registry
from schemes.base import Scheme

SCHEMES: Registry[Scheme] = Registry("scheme", group="wmbench.schemes", builtins=lambda: _builtins())

_BUILTIN_MODULES = ("none", "null_embedding", "uchida", "deepsigns", "zhang", "adi")


def _builtins() -> None:
    for mod in _BUILTIN_MODULES:
        try:
            module = importlib.import_module(f"schemes.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"schemes.{mod}":
                raise
            continue  # not written yet
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Scheme) and obj is not Scheme and obj.__module__ == module.__name__:
                SCHEMES.register(obj.name)(obj)


def get_scheme(name: str, **params) -> Scheme:
    return SCHEMES.create(name, **params)


__all__ = ["SCHEMES", "Scheme", "get_scheme"]
