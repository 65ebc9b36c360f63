"""C accelerators of :mod:`tornadoservice.wire.jencode` (``_speedups.c``)."""

from collections.abc import Callable
from typing import Any

def encode(obj: object, fallback: Callable[[Any], object], /) -> str: ...
def make_object_hook(
    fallback: Callable[[dict[str, Any]], object], /
) -> Callable[[dict[str, Any]], Any]: ...
