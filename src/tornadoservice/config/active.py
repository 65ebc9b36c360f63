"""The configuration and registry of the running server, for code that has no other way to them.

DIRAC code reads a process-wide ``gConfig``; a handler's ``TornadoClient("System/Service")``
resolves the name there too. :class:`~tornadoservice.server.server.TornadoServer` makes its
configuration *active* when it is built and again after each reload, and withdraws it when it
stops, so that such code finds it::

    set_active(config, registry, owner=server)   # the server, at start and on reload
    active_config()                              # a ConfigTree, or None outside a server
    clear_active(server)                         # the server, when it stops

Several servers in one process (tests do that) each register under their own ``owner``; the most
recently registered one that is still in place is the active one. An owner is held weakly: a
server that is dropped without being stopped withdraws its configuration when it is collected.
Scripts and unit tests of ported code may call :func:`set_active` without an owner.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from tornadoservice.config.registry import Registry
from tornadoservice.config.tree import ConfigTree

__all__ = [
    "ActiveConfiguration",
    "active",
    "active_config",
    "active_registry",
    "clear_active",
    "set_active",
]


@dataclass(frozen=True, slots=True)
class ActiveConfiguration:
    """A configuration and the registry built from it, made active together."""

    config: ConfigTree
    registry: Registry


class _NoOwner:
    """The owner of what :func:`set_active` registers without one (one per process)."""


_PROCESS = _NoOwner()
_lock = threading.Lock()
# Registration order, oldest first: (owner, what it registered). Owners are weak references.
_entries: list[tuple[weakref.ref[object], ActiveConfiguration]] = []


def set_active(
    config: ConfigTree, registry: Registry | None = None, *, owner: object = None
) -> ActiveConfiguration:
    """Make ``config`` (and ``registry``, built from it if not given) the active configuration.

    An ``owner`` that registered before keeps its place and gets the new configuration (a reload);
    a new owner becomes the active one.
    """
    entry = ActiveConfiguration(
        config, registry if registry is not None else Registry.from_config(config)
    )
    key = _PROCESS if owner is None else owner
    with _lock:
        _prune()
        for index, (ref, _) in enumerate(_entries):
            if ref() is key:
                _entries[index] = (ref, entry)
                break
        else:
            _entries.append((weakref.ref(key), entry))
    return entry


def clear_active(owner: object = None) -> None:
    """Withdraw what ``owner`` registered (nothing happens if it registered nothing)."""
    key = _PROCESS if owner is None else owner
    with _lock:
        _entries[:] = [(ref, entry) for ref, entry in _entries if ref() not in (key, None)]


def active() -> ActiveConfiguration | None:
    """The active configuration and registry, or ``None`` when nothing is active."""
    with _lock:
        _prune()
        return _entries[-1][1] if _entries else None


def active_config() -> ConfigTree | None:
    """The active :class:`ConfigTree`, or ``None`` outside a running server."""
    found = active()
    return found.config if found is not None else None


def active_registry() -> Registry | None:
    """The active :class:`Registry`, or ``None`` outside a running server."""
    found = active()
    return found.registry if found is not None else None


def _prune() -> None:
    # Called with the lock held: drop the entries of owners that were garbage-collected.
    _entries[:] = [(ref, entry) for ref, entry in _entries if ref() is not None]
