"""Every compat test starts and ends with nothing made active without an owner (set_active(x)).

Servers register under their own owner and withdraw when they stop, so they need no cleanup.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tornadoservice.config.active import clear_active


@pytest.fixture(autouse=True)
def no_active_configuration() -> Iterator[None]:
    clear_active()
    yield
    clear_active()
