"""Classification tasks: official data loaders, paper architectures, recipes per profile."""
from __future__ import annotations

from harness.registry import Registry
from tasks.base import PROFILES, Data, ProfileSpec, Recipe, Task

TASKS: Registry[Task] = Registry("task", group="wmbench.tasks", builtins=lambda: _builtins())


def _builtins() -> None:
    from tasks.digit import Digit, DigitMini
    from tasks.gtsrb import Traffic
    from tasks.cifar import ObjectTask
    from tasks.ytf import Face
    from tasks.lisa import LisaTask

    for cls in (Digit, DigitMini, Traffic, ObjectTask, Face, LisaTask):
        TASKS.register(cls.name)(cls)


def get_task(name: str, data_dir: str | None = None, profile: str = "quick", resolution: int | None = None) -> Task:
    return TASKS.get(name)(data_dir=data_dir, profile=profile, resolution=resolution)


__all__ = ["TASKS", "PROFILES", "Data", "ProfileSpec", "Recipe", "Task", "get_task"]
