"""The active configuration: owners, reloads, withdrawal and collection."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tornadoservice.config.active import (
    active,
    active_config,
    active_registry,
    clear_active,
    set_active,
)
from tornadoservice.config.registry import Registry
from tornadoservice.config.tree import ConfigTree


class Owner:
    """Stands for a server (anything that can be weakly referenced)."""


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    clear_active()
    yield
    clear_active()


def _tree(marker: str) -> ConfigTree:
    return ConfigTree.from_dict(
        {"Marker": marker, "Registry": {"Users": {marker: {"DN": "/CN=x"}}}}
    )


def test_nothing_is_active_outside_a_server() -> None:
    assert active() is None
    assert active_config() is None
    assert active_registry() is None


def test_set_active_builds_the_registry_when_not_given() -> None:
    entry = set_active(_tree("alice"))
    assert active_config() is entry.config
    assert active_registry() is entry.registry
    assert entry.registry.user_for_dn("/CN=x") == "alice"


def test_the_latest_owner_wins_and_its_withdrawal_uncovers_the_previous() -> None:
    first, second = Owner(), Owner()
    set_active(_tree("one"), owner=first)
    set_active(_tree("two"), owner=second)
    assert active_config() is not None and active_config().get("Marker") == "two"  # type: ignore[union-attr]
    clear_active(second)
    assert active_config().get("Marker") == "one"  # type: ignore[union-attr]
    clear_active(first)
    assert active() is None


def test_a_reload_replaces_the_owners_entry_in_place() -> None:
    first, second = Owner(), Owner()
    set_active(_tree("one"), owner=first)
    set_active(_tree("two"), owner=second)
    set_active(_tree("one-reloaded"), owner=first)  # a reload does not jump the queue
    assert active_config().get("Marker") == "two"  # type: ignore[union-attr]
    clear_active(second)
    assert active_config().get("Marker") == "one-reloaded"  # type: ignore[union-attr]


def test_an_owner_that_is_collected_withdraws_its_configuration() -> None:
    owner = Owner()
    set_active(_tree("gone"), owner=owner)
    assert active() is not None
    del owner
    gc.collect()
    assert active() is None


def test_an_explicit_registry_is_kept() -> None:
    registry = Registry()
    set_active(_tree("alice"), registry)
    assert active_registry() is registry


def test_clearing_an_owner_that_registered_nothing_changes_nothing() -> None:
    set_active(_tree("alice"))
    clear_active(Owner())
    assert active_config() is not None


def test_the_config_and_client_layers_never_import_the_server() -> None:
    # The server sets the active configuration and the client reads it: neither may reach up.
    import ast
    from pathlib import Path

    import tornadoservice

    root = Path(tornadoservice.__file__).parent
    for layer in ("config", "client"):
        for source in (root / layer).glob("*.py"):
            tree = ast.parse(source.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                for name in names:
                    assert not name.startswith("tornadoservice.server"), f"{source}: {name}"
                    assert not name.startswith("tornadoservice.compat"), f"{source}: {name}"
