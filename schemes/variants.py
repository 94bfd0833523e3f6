"""Scheme *variants*: a registered scheme with constructor parameters changed, under a name of its own.

``null_embedding+null_weight=0.25+true_weight=0.25`` is null embedding built with those two
parameters. The name is canonical (sorted fields, parsed values) and is what cells, stored rows,
keys and cache keys carry, so a variant's results never mix with the stock scheme's: the same
idea as a profile variant (``quick+warmup_steps=500``, ``tasks.base.parse_profile``). Why: the
papers leave choices open (DESIGN.md sections 4, 8, 9: loss weights, thresholds, trigger kinds)
and a benchmark has to let a user measure how a verdict depends on them without editing code.
"""
from __future__ import annotations

import inspect
from typing import Any, Iterable

from harness.errors import BadInput
from schemes.base import Param
from tasks.base import VARIANT_SEP, join_variant, split_change, typed_value


def scheme_fields(cls: type) -> dict[str, tuple[str, Any]]:
    """The parameters a variant may change: name -> (type text, default).

    The class's declared ``parameters`` and its constructor's typed keyword arguments.
    """
    out = {name: Param(*spec)[:2] for name, spec in getattr(cls, "parameters", {}).items()}
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or p.default is p.empty:
            continue
        out[p.name] = (str(p.annotation) if p.annotation is not p.empty else type(p.default).__name__, p.default)
    return out


def parse_scheme(name: str, registry=None) -> tuple[str, dict[str, Any]]:
    """``'null_embedding+null_weight=0.25'`` -> ``('null_embedding', {'null_weight': 0.25})``.

    Unknown schemes, unknown parameters and values of the wrong type fail in one line.
    """
    if registry is None:
        from schemes import SCHEMES as registry
    base, *parts = (t.strip() for t in name.split(VARIANT_SEP))
    cls = registry.get(base)
    fields = scheme_fields(cls) if parts else {}
    changes = {}
    for part in parts:
        field, text = split_change(part, f"scheme variant {name!r}", "PARAM=VALUE (e.g. null_weight=0.25)")
        if field not in fields:
            raise BadInput(f"scheme {base} has no parameter {field!r}; known: {', '.join(fields) or 'none'}")
        changes[field] = typed_value(text, fields[field][0], f"scheme {base} parameter {field}")
    if hasattr(cls, "check_params"):
        cls.check_params(changes)  # bounds fail here, before a grid trains anything
    return base, changes


def scheme_variant_name(name: str, changes: Iterable[str] = (), registry=None) -> str:
    """The canonical name of ``name`` (stock or variant) with ``PARAM=VALUE`` changes added.

    Sorted fields and the parsed value's text, so ``lam=2000`` and ``lam=2000.0`` are one variant.
    """
    return join_variant(*parse_scheme(VARIANT_SEP.join([name, *changes]), registry))
