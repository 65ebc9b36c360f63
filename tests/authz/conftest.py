"""Fixtures for the authz tests (data in :mod:`tests.authz.support`)."""

from __future__ import annotations

import pytest

from tests.authz.support import CONFIG, MakeIdentity, make_test_identity
from tornadoservice.config import ConfigTree, Registry


@pytest.fixture(scope="session")
def registry() -> Registry:
    return Registry.from_config(ConfigTree.from_dict(CONFIG))


@pytest.fixture(scope="session")
def make_identity() -> MakeIdentity:
    return make_test_identity
