"""The C speedups of JEncode: the same bytes, values and errors as the pure path, and no leaks.

The pure path is the reference: encoding with the standard library's C encoder configured as
jencode configures it, decoding with ``json`` and the Python object hook. The differential
tests run both in this process (``pure_path()`` switches jencode to it); the whole of
test_jencode.py also runs on the pure path, in a subprocess with TORNADOSERVICE_NO_SPEEDUPS=1.
"""

from __future__ import annotations

import collections
import datetime as dt
import enum
import gc
import json
import math
import os
import random
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import pytest

from tests.support.system import missing
from tornadoservice.wire import jencode
from tornadoservice.wire.jencode import JEncodeError, JSerializable, decode, encode

ROOT = Path(__file__).resolve().parents[2]
DISABLED = os.environ.get("TORNADOSERVICE_NO_SPEEDUPS", "") not in ("", "0")
SPEEDUPS = getattr(jencode, "_speedups", None)
needs_speedups = pytest.mark.skipif(
    SPEEDUPS is None, reason="pure path: TORNADOSERVICE_NO_SPEEDUPS set, or not built"
)

REFERENCE_TAGGED_DECODER = json.JSONDecoder(object_hook=jencode._object_hook)


@pytest.fixture(autouse=True)
def _private_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jencode, "_REGISTRY", dict(jencode._REGISTRY))
    monkeypatch.setattr(jencode, "_WIRE_NAMES", dict(jencode._WIRE_NAMES))
    jencode.register_serializable(Point)


@contextmanager
def pure_path() -> Iterator[None]:
    """jencode as TORNADOSERVICE_NO_SPEEDUPS=1 makes it, for the time of the block."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jencode, "_speedups", None)
        patch.setattr(jencode, "_TAGGED_DECODER", REFERENCE_TAGGED_DECODER)
        yield


def outcome(function: Callable[[Any], Any], argument: Any) -> tuple[str, Any]:
    try:
        return ("value", function(argument))
    except Exception as exc:  # compared, type and message, between the two paths
        return ("error", (type(exc).__name__, str(exc), type(exc.__cause__).__name__))


def both_encodings(value: Any) -> tuple[tuple[str, Any], tuple[str, Any]]:
    accelerated = outcome(encode, value)
    with pure_path():
        pure = outcome(encode, value)
    return accelerated, pure


def both_decodings(text: str | bytes) -> tuple[tuple[str, Any], tuple[str, Any]]:
    accelerated = outcome(decode, text)
    with pure_path():
        pure = outcome(decode, text)
    return accelerated, pure


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types, all the way down (floats by repr: NaN, -0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return repr(a) == repr(b)
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[key], b[key]) for key in a)
    if isinstance(a, JSerializable):
        return same(vars(a), vars(b))
    return bool(a == b)


def same_outcome(a: tuple[str, Any], b: tuple[str, Any]) -> bool:
    return a[0] == b[0] and (same(a[1], b[1]) if a[0] == "value" else a[1] == b[1])


# --- Types with the edge cases of the stdlib encoder --------------------------------------------


class Point(JSerializable):
    _attrToSerialize: ClassVar[list[str]] = ["x", "y", "when"]

    def __init__(self, x: Any = None, y: Any = None, when: Any = None) -> None:
        self.x = x
        self.y = y
        self.when = when


class Bare(JSerializable):
    pass


class Colour(enum.IntEnum):
    RED = 1
    HUGE = 2**70


class Level(float):
    def __repr__(self) -> str:
        return "overridden"


class Count(int):
    def __repr__(self) -> str:
        return "overridden"


class Name(str):
    def __str__(self) -> str:
        return "overridden"


class Row(NamedTuple):
    a: Any
    b: Any


class Items(list[Any]):
    def __iter__(self) -> Iterator[Any]:
        return iter(["overridden"])


class Reversed(dict[Any, Any]):
    def items(self) -> Any:
        return list(reversed(list(super().items())))


class Listed(dict[Any, Any]):
    """items() giving what it likes, even for an empty dict."""

    def __init__(self, *args: Any, pairs: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pairs = pairs

    def items(self) -> Any:
        return self.pairs() if callable(self.pairs) else self.pairs


class Stamp(dt.datetime):
    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return "overridden"

    def strftime(self, fmt: str) -> str:
        return "overridden"


class Day(dt.date):
    def isoformat(self) -> str:
        return "overridden"


class Blob(bytes):
    pass


class TaggedBlob(bytes, JSerializable):
    _attrToSerialize: ClassVar[list[str]] = ["note"]
    note = "mixin wins over bytes"


class Opaque:
    pass


# --- Random structures --------------------------------------------------------------------------

ASCII = [chr(c) for c in range(32, 127)]
SPECIAL = ['"', "\\", "/", "\b", "\f", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "\x80", "\xff"]
ZONES = [
    None,
    dt.UTC,
    dt.timezone(dt.timedelta(hours=5, minutes=30)),
    dt.timezone(-dt.timedelta(hours=11)),
]


class Structures:
    """Random values for the encoder, from a seeded generator."""

    def __init__(self, seed: int, *, errors: bool = False) -> None:
        self.rng = random.Random(seed)
        self.errors = errors

    def char(self) -> str:
        rng = self.rng
        pick = rng.random()
        if pick < 0.6:
            return rng.choice(ASCII)
        if pick < 0.75:
            return rng.choice(SPECIAL)
        if pick < 0.85:
            return chr(rng.randrange(0x80, 0x100))
        if pick < 0.95:
            return chr(rng.randrange(0x100, 0x10000))  # lone surrogates included
        return chr(rng.randrange(0x10000, 0x110000))

    def string(self) -> str:
        rng = self.rng
        length = (
            rng.choice([0, 1, 2, 5, 10, 30]) if rng.random() < 0.98 else rng.randrange(4000, 9000)
        )
        if rng.random() < 0.5:
            return "".join(rng.choice(ASCII) for _ in range(length))
        return "".join(self.char() for _ in range(length))

    def integer(self) -> int:
        rng = self.rng
        return rng.choice(
            [
                0,
                -1,
                rng.randrange(-1000, 1000),
                rng.randrange(-(2**63), 2**63),
                rng.choice([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, -(2**64)]),
                rng.randrange(-(2**300), 2**300),
                Colour.RED,
                Colour.HUGE,
                Count(rng.randrange(-(2**70), 2**70)),
            ]
        )

    def floating(self) -> float:
        rng = self.rng
        bits: float = struct.unpack("<d", rng.randbytes(8))[0]
        return rng.choice(
            [
                bits,
                rng.uniform(-1e6, 1e6),
                rng.random(),
                rng.choice([0.0, -0.0, math.nan, math.inf, -math.inf, 5e-324, 1e16, 1e22, 0.1]),
                Level(rng.uniform(-10, 10)),
                Level(math.nan),
            ]
        )

    def moment(self) -> Any:
        rng = self.rng
        date = dt.date(rng.randrange(1, 10000), rng.randrange(1, 13), rng.randrange(1, 29))
        stamp = dt.datetime(
            date.year,
            date.month,
            date.day,
            rng.randrange(24),
            rng.randrange(60),
            rng.randrange(60),
            rng.choice([0, rng.randrange(1_000_000)]),
            tzinfo=rng.choice(ZONES),
            fold=rng.randrange(2),
        )
        return rng.choice(
            [
                date,
                stamp,
                Stamp.combine(date, stamp.time()),
                Day(date.year, date.month, date.day),
                dt.date.max,
                dt.datetime.min,
            ]
        )

    def blob(self) -> bytes:
        rng = self.rng
        length = rng.randrange(0, 40) if rng.random() < 0.98 else rng.randrange(12_000, 30_000)
        data = rng.randbytes(length)
        return rng.choice([data, data, Blob(data), TaggedBlob(data)])

    def key(self) -> Any:
        rng = self.rng
        pick = rng.randrange(10)
        if pick < 5:
            return self.string()
        if pick == 5:
            return self.integer()
        if pick == 6:
            return self.floating()
        if pick == 7:
            return rng.choice([True, False, None])
        if pick == 8:
            return Name(self.string())
        if self.errors and rng.random() < 0.3:
            return rng.choice([(1, 2), b"bytes key", dt.date(2024, 1, 2), frozenset()])
        return self.string()

    def scalar(self) -> Any:
        rng = self.rng
        pick = rng.randrange(12)
        if pick < 3:
            return self.string()
        if pick < 5:
            return self.integer()
        if pick < 7:
            return self.floating()
        if pick == 7:
            return rng.choice([None, True, False, Name("subclass")])
        if pick == 8:
            return self.moment()
        if pick == 9:
            return self.blob()
        if pick == 10 and self.errors:
            return rng.choice(
                [{1, 2}, Opaque(), 3j, bytearray(b"x"), dt.time(1, 2), Bare(), 10**5000]
            )
        return Point(self.integer(), self.string(), self.moment())

    def value(self, depth: int = 0) -> Any:
        rng = self.rng
        if depth > 5 or rng.random() < 0.4:
            return self.scalar()
        size = rng.choice([0, 1, 2, 3, 5])
        kind = rng.randrange(9)
        items = [self.value(depth + 1) for _ in range(size)]
        if kind < 3:
            return items
        if kind == 3:
            return tuple(items)
        if kind == 4:
            return Row(*[*items, None, None][:2])
        if kind == 5:
            return Items(items)
        pairs = [(self.key(), item) for item in items]
        if kind == 6:
            return Reversed(pairs)
        if kind == 7 and rng.random() < 0.3:
            return collections.OrderedDict(pairs)
        return dict(pairs)


def within(seconds: float) -> Callable[[], bool]:
    deadline = time.monotonic() + seconds
    return lambda: time.monotonic() < deadline


# --- The extension is used ----------------------------------------------------------------------


def test_speedups_are_used_unless_disabled() -> None:
    # Fails when the extension silently did not build or import: CI has a C compiler.
    if DISABLED:
        assert SPEEDUPS is None
        assert jencode._TAGGED_DECODER.object_hook is jencode._object_hook
        return
    if SPEEDUPS is None:
        # Without a C compiler pip installs the pure path: a skip by hand, a failure in CI.
        missing(
            "tornadoservice.wire._speedups is not built or does not import: "
            "pip install -e . with a C compiler and Python headers"
        )
    assert SPEEDUPS is not None
    assert jencode._TAGGED_DECODER.object_hook is not jencode._object_hook
    assert type(jencode._TAGGED_DECODER.object_hook).__name__ == "builtin_function_or_method"


@pytest.mark.skipif(DISABLED, reason="already on the pure path")
def test_every_jencode_test_passes_on_the_pure_path() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "tests/wire/test_jencode.py",
            f"{Path(__file__).relative_to(ROOT)}::test_speedups_are_used_unless_disabled",
        ],
        cwd=ROOT,
        env={**os.environ, "TORNADOSERVICE_NO_SPEEDUPS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert " passed" in completed.stdout and "skipped" not in completed.stdout


# --- Encoding: edge cases, by hand --------------------------------------------------------------

EDGE_CASES: list[tuple[Any, str | None]] = [
    ("\x00\x1f\x7f\x80\xff", '"\\u0000\\u001f\\u007f\\u0080\\u00ff"'),
    ('"\\/\b\f\n\r\t', '"\\"\\\\/\\b\\f\\n\\r\\t"'),
    ("\ud800 \udfff \U0001f600 \uffff", '"\\ud800 \\udfff \\ud83d\\ude00 \\uffff"'),
    ("\u20ac" * 5000, '"' + "\\u20ac" * 5000 + '"'),
    (
        [2**64, -(2**63) - 1, 2**63 - 1, Colour.HUGE, Count(7)],
        "[18446744073709551616, -9223372036854775809, 9223372036854775807, 1180591620717411303424, 7]",
    ),
    (
        [Level(0.5), Level(math.nan), 1e16, 1e-7, -0.0, 5e-324],
        "[0.5, NaN, 1e+16, 1e-07, -0.0, 5e-324]",
    ),
    (
        {math.nan: 1, -math.inf: 2, Level(1.5): 3, Colour.RED: 4, Name("k"): 5, None: 6, False: 7},
        '{"NaN": 1, "-Infinity": 2, "1.5": 3, "1": 4, "k": 5, "null": 6, "false": 7}',
    ),
    (Reversed([(1, "a"), (2, "b")]), '{"2": "b", "1": "a"}'),
    (Listed(pairs=[("ignored", 1)]), "{}"),
    (Listed({"a": 1}, pairs=[("x", 1), ("y", [2])]), '{"x": 1, "y": [2]}'),
    (Listed({"a": 1}, pairs=lambda: iter([("x", 1)])), '{"x": 1}'),
    (collections.OrderedDict([("b", 1), ("a", 2)]), '{"b": 1, "a": 2}'),
    # Sequence subclasses are written from their __iter__, as PySequence_Fast lists them.
    (
        [Row(1, 2), Items([3, 4]), (), Items(), Row((), [])],
        '[[1, 2], ["overridden"], [], ["overridden"], [[], []]]',
    ),
    (Stamp(2024, 5, 6, 7, 8, 9, 10), '{"__dCls": "dt", "obj": "2024-05-06 07:08:09"}'),
    (Day(999, 1, 2), '{"__dCls": "date", "obj": "0999-01-02"}'),
    (
        [dt.datetime.min, dt.datetime.max],
        '[{"__dCls": "dt", "obj": "0001-01-01 00:00:00"}, {"__dCls": "dt", "obj": "9999-12-31 23:59:59"}]',
    ),
    (
        [b"", b"f", b"fo", b"foo", Blob(b"\xff\xfe")],
        '[{"__dCls": "b64", "obj": ""}, {"__dCls": "b64", "obj": "Zg=="}, {"__dCls": "b64", "obj": "Zm8="}, {"__dCls": "b64", "obj": "Zm9v"}, {"__dCls": "b64", "obj": "//4="}]',
    ),
    (
        TaggedBlob(b"x"),
        f'{{"__dCls": "TaggedBlob", "__dMod": "{__name__}", "note": "mixin wins over bytes"}}',
    ),
    (bytes(range(256)) * 60, None),  # longer than one C chunk
    ("é" * 20_000 + "\x00", None),
    ({"p": Point(1, [Point(2)], dt.date(2024, 1, 2))}, None),
]


@needs_speedups
@pytest.mark.parametrize(("value", "expected"), EDGE_CASES)
def test_edge_cases_match_the_pure_path(value: Any, expected: str | None) -> None:
    accelerated, pure = both_encodings(value)
    assert accelerated == pure
    if expected is not None:
        assert accelerated == ("value", expected)


@needs_speedups
@pytest.mark.parametrize(
    "value",
    [
        {(1, 2): "tuple key"},
        {b"k": 1},
        {dt.date(2024, 1, 2): 1},
        [1, {"a": {frozenset(): 1}}],
        [{1, 2}],
        Opaque(),
        bytearray(b"x"),
        [1, Bare()],
        [10**5000],
        {10**5000: 1},
        Listed({"a": 1}, pairs=[("x", 1, 2)]),
        Listed({"a": 1}, pairs=[["x", 1]]),
        Listed({"a": 1}, pairs=None),
    ],
)
def test_errors_match_the_pure_path(value: Any) -> None:
    accelerated, pure = both_encodings(value)
    assert accelerated[0] == "error"
    assert accelerated == pure


@needs_speedups
def test_cycles_and_depth_limits_match_the_pure_path() -> None:
    cycle: dict[str, Any] = {}
    cycle["self"] = [cycle]
    accelerated, pure = both_encodings(cycle)
    assert accelerated == pure
    assert accelerated[1][:2] == (
        "JEncodeError",
        "cannot encode: circular reference or nesting too deep",
    )
    # Around the recursion limit, a tagged object at the bottom fails on both paths or on none.
    frames, frame = 0, sys._getframe()
    while frame.f_back is not None:
        frames, frame = frames + 1, frame.f_back
    room = sys.getrecursionlimit() - frames
    for leaf in (dt.datetime(2024, 1, 2), dt.date(2024, 1, 2), b"x", Point(1), "x", {"a": 1}):
        results = set()
        for depth in range(room - 30, room + 5):
            nested: Any = leaf
            for _ in range(depth):
                nested = [nested]
            accelerated, pure = both_encodings(nested)
            assert accelerated == pure, (leaf, depth)
            results.add(accelerated[0])
        assert results == {"value", "error"}, leaf


@needs_speedups
def test_python_code_changing_a_dict_being_written_sees_the_items_it_had() -> None:
    # The stdlib writes a snapshot of a dict's items (PyMapping_Items): a default() that
    # changes the dict does not change what is written. The speedups take that snapshot
    # lazily, just before calling Python code, with the same result.
    target: dict[str, Any] = {}

    class Meddler(JSerializable):
        _attrToSerialize: ClassVar[list[str]] = ["v"]

        @property
        def v(self) -> int:
            target.clear()
            target["late"] = "added"
            return 1

    def build() -> dict[str, Any]:
        target.clear()
        target.update({"a": 1, "m": Meddler(), "b": {"c": 2}, "z": [3]})
        return target

    accelerated = encode({"outer": build(), "after": 4})
    with pure_path():
        pure = encode({"outer": build(), "after": 4})
    expected = (
        f'{{"outer": {{"a": 1, "m": {{"__dCls": "Meddler", "__dMod": "{__name__}", "v": 1}}, '
        '"b": {"c": 2}, "z": [3]}, "after": 4}'
    )
    assert accelerated == expected
    if sys.version_info < (3, 12):  # later versions of the stdlib may walk exact dicts live
        assert pure == expected


# --- Encoding: random structures ----------------------------------------------------------------


@needs_speedups
@pytest.mark.parametrize("errors", [False, True], ids=["valid", "with-errors"])
def test_random_structures_give_the_same_bytes_or_errors(errors: bool) -> None:
    structures = Structures(seed=1234 + errors, errors=errors)
    more_time = within(10.0)
    outcomes: collections.Counter[str] = collections.Counter()
    for index in range(4000):
        if not more_time():
            break
        value = structures.value()
        accelerated, pure = both_encodings(value)
        assert accelerated == pure, (index, value)
        outcomes[accelerated[0]] += 1
    assert outcomes["value"] > 500
    assert (outcomes["error"] > 100) is errors


# --- Decoding -----------------------------------------------------------------------------------


@needs_speedups
def test_random_round_trips_decode_to_the_same_values_and_types() -> None:
    structures = Structures(seed=99)
    more_time = within(8.0)
    checked = 0
    for _ in range(3000):
        if not more_time():
            break
        value = structures.value()
        text = encode(value)
        accelerated, pure = both_decodings(text)
        assert same_outcome(accelerated, pure), text
        checked += accelerated[0] == "value"  # the others hold an unregistered TaggedBlob
        if checked % 10 == 0:
            data = text.encode("utf-16")
            assert same_outcome(*both_decodings(data)), text
    assert checked > 500


def _payloads(rng: random.Random) -> list[Any]:
    digits = "0123456789"
    canonical_dt = f"{rng.randrange(0, 10000):04d}-{rng.randrange(0, 14):02d}-{rng.randrange(0, 33):02d} {rng.randrange(0, 26):02d}:{rng.randrange(0, 62):02d}:{rng.randrange(0, 62):02d}"
    canonical_date = canonical_dt[:10]
    mangled = list(canonical_dt)
    mangled[rng.randrange(len(mangled))] = rng.choice(digits + "-: T/x\u0661\uff10")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    b64 = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 14)))
    b64 += "=" * rng.choice([0, 0, 1, 2, 3])
    noisy_b64 = list(b64 or "A")
    noisy_b64[rng.randrange(len(noisy_b64))] = rng.choice("=-_ \n!é\x00")
    return [
        canonical_dt,
        canonical_date,
        "".join(mangled),
        "".join(mangled)[:10],
        "2024-1-2 3:4:5",
        "2024-1-2",
        "\uff12\uff10\uff12\uff14-01-02 03:04:05",
        b64,
        "".join(noisy_b64),
        "",
        rng.choice([None, 1, 2.5, [], {}, ["2024-01-02"], True]),
    ]


@needs_speedups
def test_tagged_objects_decode_to_the_same_values_or_errors() -> None:
    rng = random.Random(7)
    more_time = within(8.0)
    seen: collections.Counter[str] = collections.Counter()
    for _ in range(3000):
        if not more_time():
            break
        for payload in _payloads(rng):
            tag = rng.choice(["dt", "date", "b64", "dt", "date", "b64", "Point", "DT", "", 1, None])
            tagged: dict[str, Any] = {"__dCls": tag}
            if rng.random() < 0.95:
                tagged["obj"] = payload
            if rng.random() < 0.1:
                tagged["extra"] = payload
            if tag == "Point" and rng.random() < 0.7:
                tagged = {"__dCls": "Point", "__dMod": __name__, "x": tagged, "y": payload}
            text = json.dumps(rng.choice([tagged, [tagged], {"a": [1, tagged]}]))
            accelerated, pure = both_decodings(text)
            assert same_outcome(accelerated, pure), (text, accelerated, pure)
            seen[accelerated[0]] += 1
    assert seen["value"] > 1000 and seen["error"] > 1000


@needs_speedups
@pytest.mark.parametrize(
    "text",
    [
        '{"__dCls": "dt", "obj": "2024-02-29 23:59:59"}',
        '{"__dCls": "dt", "obj": "2023-02-29 00:00:00"}',
        '{"__dCls": "dt", "obj": "0000-01-01 00:00:00"}',
        '{"__dCls": "dt", "obj": "2024-01-02 03:04:60"}',
        '{"__dCls": "date", "obj": "2000-02-29"}',
        '{"__dCls": "date", "obj": "1900-02-29"}',
        '{"__dCls": "b64", "obj": "AB=="}',
        '{"__dCls": "b64", "obj": "A==="}',
        '{"__dCls": "b64", "obj": "===="}',
        '{"__dCls": "b64", "obj": "AA=A"}',
        '{"__dCls": "b64", "obj": ""}',
        '{"obj": "AA==", "__dCls": "b64", "__dCls": "dt"}',
        '{"__dCls": "dt", "obj": "2024-01-02 03:04:05", "obj": "AA=="}',
        '[{"__dCls": "dt", "obj": "bad"}, {"__dCls": "Nope"}]',
        '{"\\u005f_dCls": "date", "obj": "2024-01-02"}',
        f'{{"__dCls": "Point", "__dMod": "{__name__}", "when": {{"__dCls": "date", "obj": "2024-01-02"}}}}',
        "[NaN, Infinity, -0.0, -0, 1e400, 123456789012345678901234567890]",
    ],
)
def test_decoding_edge_cases_match_the_pure_path(text: str) -> None:
    accelerated, pure = both_decodings(text)
    assert same_outcome(accelerated, pure), (accelerated, pure)


# --- Memory -------------------------------------------------------------------------------------


def _workload() -> Callable[[], None]:
    structures = Structures(seed=5)
    values = [structures.value() for _ in range(40)]
    bad = Structures(seed=6, errors=True)
    invalid = [bad.value() for _ in range(40)]
    cycle: list[Any] = []
    cycle.append(cycle)
    invalid.append(cycle)
    texts = [encode(value) for value in values]
    texts += [
        '[{"__dCls": "dt", "obj": "bad"}]',
        '{"__dCls": "Nope"}',
        f'{{"__dCls": "Point", "__dMod": "{__name__}", "x": {{"__dCls": "b64", "obj": "AP96"}}}}',
        '{"__dCls": "b64", "obj": "!!!!"}',
    ]

    def work() -> None:
        for value in values + invalid:
            with suppress(JEncodeError):
                encode(value)
        for text in texts:
            with suppress(JEncodeError):
                decode(text)

    return work


@needs_speedups
def test_encoding_and_decoding_in_a_loop_does_not_grow_memory() -> None:
    work = _workload()
    for _ in range(20):  # caches (strptime's, re's) filled before measuring
        work()
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(5):
            work()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(200):
            work()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # Nothing grows here (0 bytes); one leaked object per call would be 200 * ~100 calls *
    # 16 bytes or more.
    assert grown < 16 * 1024, grown


@needs_speedups
def test_reference_counts_are_unchanged() -> None:
    key, big, when, blob, point = 2**80, Count(5), dt.datetime(2024, 1, 2), b"xyz", Point(1)
    subclass_key, tagged = Name("k"), Reversed({"r": when})
    value = {key: [big, when, blob, point], subclass_key: tagged, "t": (when,)}
    watched = [key, big, when, blob, point, subclass_key, tagged, value, jencode._default]
    failing = [value, {(1,): 1}]
    gc.collect()
    before = [sys.getrefcount(obj) for obj in watched]
    for _ in range(100):
        encode(value)
        with suppress(JEncodeError):
            encode(failing)
    gc.collect()
    assert [sys.getrefcount(obj) for obj in watched] == before
    hook = jencode._TAGGED_DECODER.object_hook
    text = encode(value)
    hook_refs = sys.getrefcount(jencode._object_hook)
    for _ in range(100):
        decode(text)
    after = sys.getrefcount(jencode._object_hook)  # outside the assert: it adds a reference
    assert after == hook_refs
    assert hook is jencode._TAGGED_DECODER.object_hook


# --- The garbage collector is paused while a large text is decoded --------------------------


def _large_text() -> str:
    return jencode.encode(
        [{"n": n, "s": "x" * 20} for n in range(jencode.GC_PAUSE_THRESHOLD // 16)]
    )


def test_large_decodes_run_with_the_collector_paused_and_restore_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[bool] = []
    real_decoder = jencode._PLAIN_DECODER

    class Spy:
        def decode(self, text: str) -> Any:
            seen.append(gc.isenabled())
            return real_decoder.decode(text)

    monkeypatch.setattr(jencode, "_PLAIN_DECODER", Spy())
    assert gc.isenabled()
    jencode.decode("[1, 2]")
    jencode.decode(_large_text())
    assert seen == [True, False]  # small: untouched; large: paused
    assert gc.isenabled()


def test_the_collector_is_restored_after_a_failed_large_decode() -> None:
    text = _large_text()[:-1]  # cut: malformed
    with pytest.raises(jencode.JEncodeError):
        jencode.decode(text)
    assert gc.isenabled()


def test_a_collector_disabled_by_the_application_stays_disabled() -> None:
    gc.disable()
    try:
        jencode.decode(_large_text())
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_concurrent_large_decodes_end_with_the_collector_enabled() -> None:
    text = _large_text()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                jencode.decode(text)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert gc.isenabled() and jencode._gc_pausers == 0
