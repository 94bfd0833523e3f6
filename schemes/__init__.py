"""Watermark schemes; third-party schemes register through the ``wmbench.schemes`` entry points."""
from __future__ import annotations

from harness.registry import Registry, register_subclasses
from schemes.base import Scheme

SCHEMES: Registry[Scheme] = Registry("scheme", group="wmbench.schemes", builtins=lambda: _builtins())

_BUILTIN_MODULES = ("none", "null_embedding", "uchida", "deepsigns", "zhang", "adi")


def _builtins() -> None:
    register_subclasses(SCHEMES, "schemes", _BUILTIN_MODULES, Scheme)


def get_scheme(name: str, **params) -> Scheme:
    """A scheme by registered name or by variant name (``null_embedding+null_weight=0.25``, ``schemes.variants``)."""
    from schemes.variants import parse_scheme
    from tasks.base import join_variant

    base, changes = parse_scheme(name, SCHEMES)
    scheme = SCHEMES.create(base, **{**changes, **params})
    if changes:  # the variant's own name goes into keys, cells and cache keys
        scheme.name = join_variant(base, changes)
    return scheme


__all__ = ["SCHEMES", "Scheme", "get_scheme"]
