"""DIRAC's JSON encoding: byte-identical output, safe decoding, clear errors.

The expected strings are the exact bytes a DIRAC 9.1.22 server and client were observed to put
on the wire (reference dirac-wire.md, sections 5.1 and 7).
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import errno
import json
import math
import sys
import threading
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tornadoservice.core.errors import ETYPE, EVALUE, TornadoServiceError
from tornadoservice.core.returnvalues import S_ERROR, S_OK, strip_result_for_wire
from tornadoservice.wire import jencode
from tornadoservice.wire.jencode import (
    JEncodeError,
    JSerializable,
    decode,
    encode,
    register_serializable,
)


@register_serializable
class Point(JSerializable):
    _attrToSerialize: ClassVar[list[str]] = ["x", "y", "label", "when"]

    def __init__(self, x: Any = None, y: Any = None, label: Any = None, when: Any = None) -> None:
        self.x = x
        self.y = y
        self.label = label
        self.when = when


class Unregistered(JSerializable):
    _attrToSerialize: ClassVar[list[str]] = ["value"]

    def __init__(self, value: Any = None) -> None:
        self.value = value


@pytest.fixture(autouse=True)
def _private_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    # Registrations made by a test stay in that test.
    monkeypatch.setattr(jencode, "_REGISTRY", dict(jencode._REGISTRY))
    monkeypatch.setattr(jencode, "_WIRE_NAMES", dict(jencode._WIRE_NAMES))


# --- Section 7: every row ---------------------------------------------------------------------

SECTION_7_ROWS: list[tuple[Any, str]] = [
    (dt.datetime(2024, 1, 2, 3, 4, 5, 678901), '{"__dCls": "dt", "obj": "2024-01-02 03:04:05"}'),
    (dt.date(2024, 1, 2), '{"__dCls": "date", "obj": "2024-01-02"}'),
    (b"\x00\x01binary\xff", '{"__dCls": "b64", "obj": "AAFiaW5hcnn/"}'),
    ((1, 2), "[1, 2]"),
    ({1: "one"}, '{"1": "one"}'),
    ("héllo", '"h\\u00e9llo"'),
    (float("nan"), "NaN"),
    (float("inf"), "Infinity"),
    (float("-inf"), "-Infinity"),
    (None, "null"),
    (True, "true"),
    (False, "false"),
]


@pytest.mark.parametrize(("value", "expected"), SECTION_7_ROWS)
def test_section_7_encoding(value: Any, expected: str) -> None:
    assert encode(value) == expected


def test_section_7_jserializable_encoding() -> None:
    when = dt.datetime(2024, 1, 2, 3, 4, 5)
    expected = (
        f'{{"__dCls": "Point", "__dMod": "{Point.__module__}", "x": 1, "y": [2, 3], '
        '"when": {"__dCls": "dt", "obj": "2024-01-02 03:04:05"}}'
    )
    # label is None: omitted, as DIRAC does
    assert encode(Point(1, (2, 3), None, when)) == expected


SECTION_7_DECODED: list[tuple[str, Any]] = [
    ('{"__dCls": "dt", "obj": "2024-01-02 03:04:05"}', dt.datetime(2024, 1, 2, 3, 4, 5)),
    ('{"__dCls": "date", "obj": "2024-01-02"}', dt.date(2024, 1, 2)),
    ('{"__dCls": "b64", "obj": "AAFiaW5hcnn/"}', b"\x00\x01binary\xff"),
    ("[1, 2]", [1, 2]),
    ('{"1": "one"}', {"1": "one"}),
    ('"h\\u00e9llo"', "héllo"),
    ("Infinity", math.inf),
    ("-Infinity", -math.inf),
    ("null", None),
    ("true", True),
]


@pytest.mark.parametrize(("text", "expected"), SECTION_7_DECODED)
def test_section_7_decoding(text: str, expected: Any) -> None:
    value, length = decode(text)
    assert value == expected
    assert type(value) is type(expected)
    assert length == len(text)


def test_section_7_nan_decodes() -> None:
    assert math.isnan(decode("NaN")[0])


def test_section_7_round_trip_of_echo_args() -> None:
    when = dt.datetime(2024, 1, 2, 3, 4, 5, 999)
    args = [[when, dt.date(2024, 1, 2), b"\x00\xffz", (1, 2), {1: "a"}]]
    wire = (
        '[[{"__dCls": "dt", "obj": "2024-01-02 03:04:05"}, {"__dCls": "date", "obj": "2024-01-02"},'
        ' {"__dCls": "b64", "obj": "AP96"}, [1, 2], {"1": "a"}]]'
    )
    assert encode(args) == wire
    assert decode(wire)[0] == [
        [dt.datetime(2024, 1, 2, 3, 4, 5), dt.date(2024, 1, 2), b"\x00\xffz", [1, 2], {"1": "a"}]
    ]


# --- Section 5.1: every body ------------------------------------------------------------------

PING_BODY = (
    '{"OK": true, "Value": {"version": "9.1.22", "time": {"__dCls": "dt", "obj": '
    '"2026-11-23 09:44:07"}, "host uptime": 774, "service start time": {"__dCls": "dt", "obj": '
    '"2026-11-23 09:44:07"}, "service uptime": 0, "load": "0.05 0.14 0.09", "name": '
    '"Framework/DummyTornado", "URL": "https://127.0.0.1:8443/Framework/DummyTornado", '
    '"cpu times": {"user time": 0.69, "system time": 0.12, "children user time": 0.0, '
    '"children system time": 0.0, "elapsed real time": 17180343.9}}}'
)
PING_VALUE = {
    "version": "9.1.22",
    "time": dt.datetime(2026, 11, 23, 9, 44, 7, 123456),
    "host uptime": 774,
    "service start time": dt.datetime(2026, 11, 23, 9, 44, 7),
    "service uptime": 0,
    "load": "0.05 0.14 0.09",
    "name": "Framework/DummyTornado",
    "URL": "https://127.0.0.1:8443/Framework/DummyTornado",
    "cpu times": {
        "user time": 0.69,
        "system time": 0.12,
        "children user time": 0.0,
        "children system time": 0.0,
        "elapsed real time": 17180343.9,
    },
}

SECTION_5_1_BODIES: list[tuple[dict[str, Any], str]] = [
    (S_OK("hello"), '{"OK": true, "Value": "hello"}'),
    (S_OK(3), '{"OK": true, "Value": 3}'),
    (S_OK(), '{"OK": true, "Value": null}'),
    (S_ERROR(), '{"OK": false, "Errno": 0, "Message": ""}'),
    (
        S_ERROR(errno.ENOENT, "some message"),
        '{"OK": false, "Errno": 2, "Message": "No such file or directory ( 2 : some message)"}',
    ),
    (S_OK("ciuser"), '{"OK": true, "Value": "ciuser"}'),
    (S_OK("a"), '{"OK": true, "Value": "a"}'),
    (S_OK(PING_VALUE), PING_BODY),
]


@pytest.mark.parametrize(("result", "body"), SECTION_5_1_BODIES)
def test_section_5_1_bodies(result: dict[str, Any], body: str) -> None:
    assert encode(strip_result_for_wire(result)) == body


@pytest.mark.parametrize(("result", "body"), SECTION_5_1_BODIES)
def test_section_5_1_bodies_decode_and_reencode(result: dict[str, Any], body: str) -> None:
    value, length = decode(body)
    assert length == len(body)
    assert encode(value) == body
    assert list(value) == list(strip_result_for_wire(result))


def test_ping_body_decodes_to_datetimes() -> None:
    value = decode(PING_BODY)[0]["Value"]
    assert value["time"] == dt.datetime(2026, 11, 23, 9, 44, 7)
    assert value["cpu times"]["elapsed real time"] == 17180343.9


# --- Same bytes as the standard library configured as DIRAC configures it ---------------------


def _reference_default(obj: Any) -> Any:
    # DIRAC's observable rules (section 7) written on top of the stdlib's pure defaults.
    if isinstance(obj, dt.datetime):
        return {"__dCls": "dt", "obj": obj.strftime("%Y-%m-%d %H:%M:%S")}
    if isinstance(obj, dt.date):
        return {"__dCls": "date", "obj": obj.strftime("%Y-%m-%d")}
    if isinstance(obj, bytes):
        return {"__dCls": "b64", "obj": base64.b64encode(obj).decode()}
    raise TypeError(type(obj).__name__)


def _reference_encode(obj: Any) -> str:
    return json.dumps(obj, default=_reference_default)


class Colour(enum.IntEnum):
    RED = 1


class Name(str):
    pass


class Stamp(dt.datetime):
    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return "overridden"


UTC_PLUS_2 = dt.timezone(dt.timedelta(hours=2))

DIFFERENTIAL_VALUES: list[Any] = [
    {"OK": True, "Value": {"nested": [1, [2, [3, {"deep": (4, 5)}]]], "empty": {}, "none": []}},
    ["emoji \U0001f600", "control \x00\x1f\x7f", 'quote " backslash \\ slash /', "lone \ud800"],
    [2**100, -(2**64), 0, -0.0, 0.1, 1e300, 1e-300, 5e-324, 17180343.9, 1.0],
    {True: 1, False: 0, None: "n", 1.5: "f", 2: "i", "s": "s"},
    [Colour.RED, Name("sub"), {Colour.RED: "key"}],
    [dt.datetime(2024, 12, 31, 23, 59, 59, 999999), dt.datetime(2024, 1, 2, tzinfo=UTC_PLUS_2)],
    [Stamp(2024, 5, 6, 7, 8, 9), dt.date.max, dt.datetime.max, dt.datetime(1000, 1, 1)],
    [b"", b"\xff" * 7, bytes(range(256))],
    {"list": [[[[[[[[[[[]]]]]]]]]]], "text": "ünïcödé " * 3},
]


@pytest.mark.parametrize("value", DIFFERENTIAL_VALUES)
def test_same_bytes_as_the_stdlib_reference(value: Any) -> None:
    assert encode(value) == _reference_encode(value)


@pytest.mark.parametrize("value", DIFFERENTIAL_VALUES)
def test_pure_python_fallback_writes_the_same_bytes(
    value: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _reference_encode(value)
    # As on an interpreter without the C accelerator: the stdlib's pure-Python encoder too.
    monkeypatch.setattr(jencode, "_C_ENCODER", None)
    monkeypatch.setattr(json.encoder, "c_make_encoder", None)
    assert encode(value) == expected


def test_timezone_aware_datetime_keeps_its_wall_clock_time() -> None:
    aware = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC_PLUS_2)
    assert encode(aware) == '{"__dCls": "dt", "obj": "2024-01-02 03:04:05"}'
    assert decode(encode(aware))[0] == dt.datetime(2024, 1, 2, 3, 4, 5)


def test_years_before_1000_are_written_with_four_digits_and_read_back() -> None:
    old = dt.datetime(999, 1, 2, 3, 4, 5)
    assert encode(old) == '{"__dCls": "dt", "obj": "0999-01-02 03:04:05"}'
    assert decode(encode([old, old.date()]))[0] == [old, old.date()]


# --- Round trips ------------------------------------------------------------------------------

ROUND_TRIPS: list[tuple[Any, Any]] = [
    ((1, (2, (3,))), [1, [2, [3]]]),
    ({1: (dt.date(2024, 2, 29),), "b": b"x"}, {"1": [dt.date(2024, 2, 29)], "b": b"x"}),
    ([{"a": [{"b": [{"c": b"\x00"}]}]}], [{"a": [{"b": [{"c": b"\x00"}]}]}]),
    (
        {"when": [dt.datetime(2024, 1, 2, 3, 4, 5, 6), dt.datetime(2024, 1, 2, 3, 4, 5)]},
        {"when": [dt.datetime(2024, 1, 2, 3, 4, 5)] * 2},
    ),
    ({"__dCls_like": "no", "x": "__dCls"}, {"__dCls_like": "no", "x": "__dCls"}),
    ("tab\tnew\nline é € \U0001f600", "tab\tnew\nline é € \U0001f600"),
    ({2.5: None, None: True, True: False}, {"2.5": None, "null": True, "true": False}),
    ([[], {}, "", 0, -1, 2**70], [[], {}, "", 0, -1, 2**70]),
]


@pytest.mark.parametrize(("value", "expected"), ROUND_TRIPS)
def test_round_trip(value: Any, expected: Any) -> None:
    decoded, length = decode(encode(value))
    assert decoded == expected
    assert length == len(encode(value))


def test_round_trip_of_a_registered_class() -> None:
    point = Point(1.5, [Point(2, 3)], "é", dt.datetime(2024, 1, 2, 3, 4, 5))
    decoded = decode(encode({"p": point}))[0]["p"]
    assert isinstance(decoded, Point)
    assert (decoded.x, decoded.label, decoded.when) == (1.5, "é", dt.datetime(2024, 1, 2, 3, 4, 5))
    assert isinstance(decoded.y[0], Point)
    assert (decoded.y[0].x, decoded.y[0].y, decoded.y[0].label) == (2, 3, None)


def test_decode_accepts_bytes_in_any_json_encoding() -> None:
    text = '{"é": [1, {"__dCls": "date", "obj": "2024-01-02"}]}'
    for encoding in ("utf-8", "utf-16", "utf-32-le"):
        data = text.encode(encoding)
        assert decode(data) == ({"é": [1, dt.date(2024, 1, 2)]}, len(data))


def test_decode_accepts_the_tag_key_spelt_with_escapes() -> None:
    # Valid JSON for the key "__dCls": it must be decoded as DIRAC's decoder would.
    text = '{"\\u005f_d\\u0043ls": "date", "obj": "2024-01-02"}'
    assert decode(text)[0] == dt.date(2024, 1, 2)
    sneaky = '{"\\u005f_dCls": "Popen", "__dMod": "subprocess"}'
    with pytest.raises(JEncodeError, match="refusing"):
        decode(sneaky)


def test_decode_is_dirac_lenient_on_short_datetime_fields() -> None:
    # DIRAC parses with strptime, which takes one-digit fields.
    short = '{"__dCls": "dt", "obj": "2024-1-2 3:4:5"}'
    assert decode(short)[0] == dt.datetime(2024, 1, 2, 3, 4, 5)
    assert decode('{"__dCls": "date", "obj": "2024-1-2"}')[0] == dt.date(2024, 1, 2)


def test_decode_ignores_extra_keys_of_builtin_tags() -> None:
    text = '{"__dCls": "b64", "obj": "AP96", "note": 1}'
    assert decode(text)[0] == b"\x00\xffz"


# --- Registration: the allow-list -------------------------------------------------------------


def test_unregistered_class_is_refused_but_encodes() -> None:
    text = encode(Unregistered(1))
    assert text == f'{{"__dCls": "Unregistered", "__dMod": "{__name__}", "value": 1}}'
    with pytest.raises(JEncodeError, match="refusing to decode __dCls 'Unregistered'"):
        decode(text)


@pytest.mark.parametrize(
    "payload",
    [
        {"__dCls": "getcwd", "__dMod": "os"},
        {"__dCls": "Popen", "__dMod": "subprocess"},
        {"__dCls": "Point"},
        {"__dCls": "Point", "__dMod": ["list"]},
        {"__dCls": ["Point"], "__dMod": __name__},
        {"__dCls": None, "a": 1},
        {"__dCls": "", "a": 1},
    ],
)
def test_anything_but_builtin_tags_and_registered_classes_is_refused(
    payload: dict[str, Any],
) -> None:
    with pytest.raises(JEncodeError, match="refusing") as caught:
        decode(json.dumps([payload]))
    assert caught.value.errno == EVALUE


def test_module_named_by_the_peer_is_never_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "imported"
    (tmp_path / "tornadoservice_trap_module.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass Trap:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    # antigravity is a real stdlib module whose import opens a web browser.
    real_unimported = "antigravity"
    assert real_unimported not in sys.modules
    names = ["tornadoservice_trap_module", real_unimported, "no_such_module_for_jencode"]
    for module in names:
        with pytest.raises(JEncodeError, match=module):
            decode(json.dumps({"__dCls": "Trap", "__dMod": module}))
        assert module not in sys.modules
    assert not marker.exists()


def test_registered_class_sets_only_its_listed_attributes() -> None:
    text = f'{{"__dCls": "Point", "__dMod": "{Point.__module__}", "x": 1, "__class__": 2}}'
    with pytest.raises(JEncodeError, match="'__class__'"):
        decode(text)


def test_registered_class_skips_none_attributes() -> None:
    text = f'{{"__dCls": "Point", "__dMod": "{Point.__module__}", "x": null, "y": 2}}'
    point = decode(text)[0]
    assert (point.x, point.y) == (None, 2)


def test_register_under_a_dirac_module_name() -> None:
    @register_serializable(module="DIRAC.Some.Module")
    class Job(JSerializable):
        _attrToSerialize: ClassVar[tuple[str, ...]] = ("job_id",)

        def __init__(self) -> None:
            self.job_id = 0

    job = Job()
    job.job_id = 7
    text = encode(job)
    assert text == '{"__dCls": "Job", "__dMod": "DIRAC.Some.Module", "job_id": 7}'
    decoded = decode(text)[0]
    assert isinstance(decoded, Job)
    assert decoded.job_id == 7


def test_registering_twice_is_harmless_and_conflicts_are_refused() -> None:
    assert register_serializable(Point) is Point

    class Clash(JSerializable):
        _attrToSerialize: ClassVar[list[str]] = []

    first = Clash
    register_serializable(first)

    class Clash(JSerializable):  # type: ignore[no-redef]
        _attrToSerialize: ClassVar[list[str]] = []

    with pytest.raises(ValueError, match="already registered"):
        register_serializable(Clash)


def test_register_refuses_classes_it_could_not_rebuild() -> None:
    class NotSerializable:
        _attrToSerialize: ClassVar[list[str]] = []

    class NoAttributes(JSerializable):
        pass

    class NeedsArguments(JSerializable):
        _attrToSerialize: ClassVar[list[str]] = ["a"]

        def __init__(self, a: int) -> None:
            self.a = a

    # Named like the datetime tag: it would be decoded as a datetime.
    named_like_a_tag = type("dt", (JSerializable,), {"_attrToSerialize": []})

    with pytest.raises(TypeError, match="not a JSerializable"):
        register_serializable(NotSerializable)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="_attrToSerialize"):
        register_serializable(NoAttributes)
    with pytest.raises(TypeError, match="without arguments"):
        register_serializable(NeedsArguments)
    with pytest.raises(TypeError, match="built-in __dCls tag"):
        register_serializable(named_like_a_tag)


# --- Errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "[hello", "{", "[1,]", '{"a" 1}', "1 2", "{'a': 1}", '"unterminated', "[1] x", "nan"],
)
def test_malformed_json(text: str) -> None:
    with pytest.raises(JEncodeError, match="malformed JSON") as caught:
        decode(text)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, TornadoServiceError)
    assert isinstance(caught.value.__cause__, ValueError)


def test_malformed_bytes() -> None:
    with pytest.raises(JEncodeError, match="not valid Unicode"):
        decode(b'["\xff\xfe\xfa"]')


def test_nesting_too_deep_is_bad_input() -> None:
    with pytest.raises(JEncodeError, match="nested too deeply"):
        decode("[" * 100_000 + "]" * 100_000)
    with pytest.raises(JEncodeError, match="nested too deeply"):
        decode('{"__dCls": "x", "a": ' + "[" * 100_000 + "]" * 100_000 + "}")


def test_oversized_integer_is_bad_input() -> None:
    with pytest.raises(JEncodeError, match="malformed JSON"):
        decode("1" * 10_000)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({"__dCls": "dt", "obj": "2024-13-01 00:00:00"}, "bad 'dt' value"),
        ({"__dCls": "dt", "obj": "2024-01-02T03:04:05"}, "bad 'dt' value"),
        ({"__dCls": "dt", "obj": "2024-01-02 03:04:05+00:00"}, "bad 'dt' value"),
        ({"__dCls": "dt", "obj": "2024-01-02 24:00:00"}, "bad 'dt' value"),
        ({"__dCls": "dt", "obj": "yesterday"}, "bad 'dt' value"),
        ({"__dCls": "dt", "obj": 1700000000}, "needs a string 'obj'"),
        ({"__dCls": "dt"}, "needs a string 'obj'"),
        ({"__dCls": "date", "obj": "2023-02-29"}, "bad 'date' value"),
        ({"__dCls": "date", "obj": "2024-01-02 03:04:05"}, "bad 'date' value"),
        ({"__dCls": "date", "obj": None}, "needs a string 'obj'"),
        ({"__dCls": "b64", "obj": "!!!!"}, "not standard base64"),
        ({"__dCls": "b64", "obj": "AAA"}, "not standard base64"),
        ({"__dCls": "b64", "obj": "AP9-"}, "not standard base64"),
        ({"__dCls": "b64", "obj": "é"}, "not standard base64"),
        ({"__dCls": "b64", "obj": ["AA=="]}, "needs a string 'obj'"),
    ],
)
def test_bad_tagged_values(payload: dict[str, Any], match: str) -> None:
    with pytest.raises(JEncodeError, match=match) as caught:
        decode(json.dumps({"args": [payload]}))
    assert caught.value.errno == EVALUE


def test_decode_needs_text() -> None:
    with pytest.raises(TypeError, match="str or bytes"):
        decode(42)  # type: ignore[arg-type]


class Opaque:
    pass


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        ({1, 2}, "set"),
        (Opaque(), "Opaque"),
        ([1, [2, {"a": 3j}]], "complex"),
        (bytearray(b"x"), "bytearray"),
        (dt.time(1, 2), "time"),
    ],
)
def test_unencodable_objects_name_their_type(value: Any, type_name: str) -> None:
    with pytest.raises(JEncodeError, match=f"type {type_name}") as caught:
        encode(value)
    assert caught.value.errno == ETYPE


def test_unencodable_keys_and_cycles() -> None:
    with pytest.raises(JEncodeError, match="keys must be"):
        encode({(1, 2): "tuple key"})
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(JEncodeError, match="circular reference"):
        encode({"a": cycle})


def test_jserializable_without_attribute_list_is_unencodable() -> None:
    class Bare(JSerializable):
        pass

    with pytest.raises(JEncodeError, match="no _attrToSerialize"):
        encode([Bare()])


# --- How it is fast ---------------------------------------------------------------------------


def test_encoding_uses_the_c_encoder_with_diracs_settings() -> None:
    encoder: Any = jencode._C_ENCODER
    assert json.encoder.c_make_encoder is not None  # type: ignore[attr-defined]
    assert type(encoder) is json.encoder.c_make_encoder  # type: ignore[attr-defined]
    assert encoder.key_separator == ": "
    assert encoder.item_separator == ", "
    assert encoder.indent is None
    assert encoder.sort_keys is False
    # the C string escaper, which the C encoder inlines
    assert encoder.encoder is json.encoder.c_encode_basestring_ascii  # type: ignore[attr-defined]


class _RefusingDecoder:
    def decode(self, text: str) -> Any:
        raise AssertionError(f"object hook used for {text!r}")


def test_object_hook_only_runs_when_a_tag_may_be_present(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jencode, "_TAGGED_DECODER", _RefusingDecoder())
    assert decode('{"OK": true, "Value": ["h\\u00e9llo", {"a": 1}]}')[0]["OK"] is True
    with pytest.raises(AssertionError, match="object hook"):
        decode('{"OK": true, "Value": {"__dCls": "dt", "obj": "2024-01-02 03:04:05"}}')


def test_shared_encoder_is_safe_across_threads() -> None:
    # The same containers encoded from several threads at once: a shared circular-reference
    # table would report false cycles here.
    shared = {"when": [dt.datetime(2024, 1, 2, 3, 4, 5)] * 200, "blob": [b"x" * 10] * 200}
    expected = _reference_encode(shared)
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(20):
                assert encode(shared) == expected
        except BaseException as exc:  # collected and re-raised in the main thread
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_pure_python_fallback_reports_cycles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jencode, "_C_ENCODER", None)
    monkeypatch.setattr(json.encoder, "c_make_encoder", None)
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    with pytest.raises(JEncodeError, match="circular reference"):
        encode(cycle)
