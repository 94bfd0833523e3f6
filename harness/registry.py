"""Name -> factory registries with entry-point plugins (timm-style ``register``/``create``/``list``).

Third-party packages add schemes and attacks through the entry-point groups
``wmbench.schemes`` and ``wmbench.attacks``. Plugins load once, lazily; a broken
plugin warns and is skipped; ``WMBENCH_DISABLE_PLUGIN_AUTOLOAD=1`` turns autoloading off.
"""
from __future__ import annotations

import fnmatch
import os
import warnings
from importlib import metadata
from typing import Callable, Generic, TypeVar

from harness.errors import UnknownName

T = TypeVar("T")


def register_subclasses(registry: "Registry", package: str, modules: tuple[str, ...], base: type) -> None:
    """Register every ``base`` subclass defined in ``package.<module>`` under its ``name`` (built-ins)."""
    import importlib

    for mod in modules:
        try:
            module = importlib.import_module(f"{package}.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.{mod}":
                raise
            continue  # an optional module that is not installed
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, base) and obj is not base and obj.__module__ == module.__name__:
                registry.register(obj.name)(obj)


class Registry(Generic[T]):
    """One registry per kind (tasks, schemes, attacks); tests can build a fresh one."""

    def __init__(self, kind: str, group: str | None = None, builtins: Callable[[], None] | None = None):
        self.kind = kind
        self.group = group
        self._builtins = builtins
        self._items: dict[str, Callable[..., T]] = {}
        self._loaded = False

    def register(self, name: str | None = None):
        """Decorator: ``@SCHEMES.register()`` on a class or factory (name defaults to ``obj.name``)."""

        def deco(obj):
            key = name or getattr(obj, "name", None) or obj.__name__
            if key in self._items and self._items[key] is not obj:
                warnings.warn(f"{self.kind} {key!r} registered twice; the later one wins", stacklevel=2)
            self._items[key] = obj
            return obj

        return deco

    def _load(self) -> None:
        if self._loaded:
            return
        if self._builtins is not None:
            self._builtins()  # set _loaded only after success: a transient ImportError must not leave it empty
        self._loaded = True
        if self.group is None or os.environ.get("WMBENCH_DISABLE_PLUGIN_AUTOLOAD"):
            return
        for ep in metadata.entry_points(group=self.group):
            try:
                obj = ep.load()
            except Exception as exc:  # a broken plugin must not break every command
                warnings.warn(f"skipping {self.kind} plugin {ep.name!r}: {exc}", stacklevel=2)
                continue
            self.register(ep.name)(obj)

    def names(self, pattern: str = "*") -> list[str]:
        self._load()
        return sorted(n for n in self._items if fnmatch.fnmatch(n, pattern))

    def get(self, name: str) -> Callable[..., T]:
        self._load()
        if name not in self._items:
            raise UnknownName(self.kind, name, list(self._items))
        return self._items[name]

    def create(self, name: str, **kwargs) -> T:
        return self.get(name)(**kwargs)

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._items
