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

VARIANT_SEP = "+"


def scheme_fields(cls: type) -> dict[str, tuple[str, Any]]:
    """The constructor parameters a variant may change: name -> (annotation text, default)."""
    out = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or p.default is p.empty:
            continue
        out[p.name] = (str(p.annotation) if p.annotation is not p.empty else type(p.default).__name__, p.default)
    return out


def _value(scheme: str, field: str, text: str, fields: dict[str, tuple[str, Any]]) -> Any:
    """``text`` as the type of the constructor parameter (its annotation, else its default's type)."""
    if field not in fields:
        known = ", ".join(fields) or "none"
        raise BadInput(f"scheme {scheme} has no parameter {field!r}; known: {known}")
    kind, default = fields[field]
    low = text.lower()
    if "None" in kind and low in ("none", "null"):
        return None
    try:
        if kind.startswith("bool") or isinstance(default, bool):
            if low not in ("true", "false", "1", "0"):
                raise ValueError
            return low in ("true", "1")
        if kind.startswith("int"):
            return int(text)
        if kind.startswith("float"):
            return float(text)
    except ValueError:
        what = "true or false" if (kind.startswith("bool") or isinstance(default, bool)) else \
            "an integer" if kind.startswith("int") else "a number"
        raise BadInput(f"scheme {scheme} parameter {field}: {text!r} is not {what}") from None
    return text


def _render(value: Any) -> str:
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def parse_scheme(name: str, registry=None) -> tuple[str, dict[str, Any]]:
    """``'null_embedding+null_weight=0.25'`` -> ``('null_embedding', {'null_weight': 0.25})``.

    Unknown schemes, unknown parameters and values of the wrong type fail in one line.
    """
    if registry is None:
        from schemes import SCHEMES as registry
    base, *parts = name.split(VARIANT_SEP)
    cls = registry.get(base.strip())
    if not parts:
        return base.strip(), {}
    fields = scheme_fields(cls)
    changes = {}
    for part in parts:
        field, eq, text = (t.strip() for t in part.partition("="))
        if not eq or not field or not text:
            raise BadInput(f"scheme variant {name!r}: expected PARAM=VALUE (e.g. null_weight=0.25), got {part!r}")
        changes[field] = _value(base, field, text, fields)
    return base.strip(), changes


def scheme_variant_name(name: str, changes: Iterable[str] = (), registry=None) -> str:
    """The canonical name of ``name`` (stock or variant) with ``PARAM=VALUE`` changes added.

    Sorted fields and the parsed value's text, so ``lam=2000`` and ``lam=2000.0`` are one variant.
    """
    base, merged = parse_scheme(VARIANT_SEP.join([name, *changes]), registry)
    return VARIANT_SEP.join([base, *(f"{k}={_render(merged[k])}" for k in sorted(merged))])
