"""Every compat test starts and ends with no process-wide active configuration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tornadoservice.config.active import clear_active


@pytest.fixture(autouse=True)
def no_active_configuration() -> Iterator[None]:
    clear_active()
    yield
    clear_active()
