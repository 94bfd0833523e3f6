"""User-facing errors: one line, a documented exit code, never a traceback.

Exit codes (documented in README):
  1  a verification ran and the watermark did NOT verify (``bench verify``), or ``bench check`` found a regression
  2  bad input: unknown name, bad flag value, malformed/corrupt file, forged certificate
  3  data not found (names the expected layout and how to obtain it)
"""
from __future__ import annotations


class WmbenchError(Exception):
    """Base of all errors that the CLI reports as one line."""

    exit_code = 2


class BadInput(WmbenchError):
    """A file, flag or name the user gave is wrong (corrupt, wrong shape, unknown)."""

    exit_code = 2


class DataNotFound(WmbenchError):
    """An official data set is not where it was looked for."""

    exit_code = 3


class UnknownName(BadInput):
    """An unknown task / scheme / attack / architecture name."""

    def __init__(self, kind: str, name: str, known: list[str]):
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(sorted(known))}")
        self.kind, self.name, self.known = kind, name, known
