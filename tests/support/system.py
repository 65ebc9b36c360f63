"""Tests that need something outside Python: a system program, or the built C accelerator.

Run by hand without it, such a test skips and says why; under ``CI=true`` (``.ci/run``, which
installs nginx and has a C compiler) it fails instead, so a missing install step cannot hide.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> None:
    """Skip the calling test with ``reason``, or fail it under CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: .ci/run should have installed it)", pytrace=False)
    pytest.skip(reason)


def require_program(name: str, *fallbacks: str) -> str:
    """The path of the program ``name`` (on PATH or at one of ``fallbacks``)."""
    found = shutil.which(name)
    if found:
        return found
    for candidate in fallbacks:
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    missing(f"needs the system program {name!r} (e.g. apt-get install {name})")
    raise AssertionError("unreachable")  # missing() always raises
