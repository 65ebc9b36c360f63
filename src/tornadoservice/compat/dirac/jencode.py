"""DIRAC's ``JEncode`` names: the wire format's ``encode``/``decode``/``JSerializable``, and
``strToIntDict``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tornadoservice.wire.jencode import JSerializable, decode, encode

__all__ = ["JSerializable", "decode", "encode", "strToIntDict"]


def strToIntDict(inDict: Mapping[Any, Any]) -> dict[int, Any]:
    """``inDict`` with its keys made ints again: JSON turned ``{1: x}`` into ``{"1": x}``.

    A key that is not an integer is a ``ValueError``, as in DIRAC.
    """
    return {int(key): value for key, value in inDict.items()}
