"""DIRAC's JSON encoding (JEncode): the body of ``args`` and of every JSON response.

The output is byte for byte what DIRAC's ``JEncode.encode`` writes (reference, section 7):
Python's ``json`` with separators ``", "``/``": "``, ASCII-only, ``NaN``/``Infinity`` literals,
tuples as lists, non-string keys as strings, and a few types tagged with ``__dCls``::

    datetime -> {"__dCls": "dt", "obj": "%Y-%m-%d %H:%M:%S"}    (microseconds dropped)
    date     -> {"__dCls": "date", "obj": "%Y-%m-%d"}
    bytes    -> {"__dCls": "b64", "obj": "<standard base64>"}
    JSerializable subclass -> {"__dCls": "<Class>", "__dMod": "<module>", <attributes>}

Where we deliberately differ from DIRAC:

* Decoding a ``__dCls`` other than ``dt``/``date``/``b64`` only works for classes registered
  with :func:`register_serializable`, and sets only the attributes the class lists in
  ``_attrToSerialize``. DIRAC imports whatever module the peer names, and sets any attribute.
  Nothing here ever imports a module named in the data.
* Every decoding failure (malformed JSON, a bad ``dt``/``date``/``b64`` payload, an
  unregistered class, nesting too deep) is a :class:`JEncodeError`, as is every encoding failure
  (an object of a type JSON cannot hold, a circular reference).
* Timezone-aware datetimes are written as their local wall-clock time with the offset dropped,
  exactly as DIRAC does: no conversion to UTC happens, so send UTC datetimes.
* Years before 1000 are written with four digits (``0999-...``), which DIRAC's (and our) decoder
  read back; DIRAC writes the platform's ``strftime`` output (``999-...`` on Linux), which its
  own decoder then refuses.
* ``b64`` payloads must be strict standard base64 (DIRAC silently skips stray characters).

Speed: where the C extension :mod:`tornadoservice.wire._speedups` was built (at install, when
a C compiler is found), ``encode`` writes the whole text in C into one growing buffer, tagged
datetimes, dates and bytes included: the bytes of the pure path below, which the tests check on
random data, errors and recursion limits included. Anything else JSON cannot hold (a
:class:`JSerializable`, an unknown type) goes to the same Python code as on the pure path.
``decode`` keeps the standard library's C parser, whose object hook is then a C function that
builds canonical ``dt``/``date``/``b64`` values itself and hands every other tagged object to
the Python hook: same parser, same values, same errors. ``TORNADOSERVICE_NO_SPEEDUPS=1`` in the
environment (read at import) forces the pure path. ``python -m bench.encoding`` measures both
against a DIRAC-style implementation.

Pure path: encoding calls the C encoder of the standard library (``json.encoder.c_make_encoder``)
directly, built once with DIRAC's settings; Python code runs only for the tagged types. Neither
path does circular-reference bookkeeping (that costs a dict operation per container, and shared
state would not be thread-safe); a circular structure ends in a ``RecursionError``, reported as
a :class:`JEncodeError`. Decoding uses the plain C decoder, and installs the object hook only
when the text may contain a ``__dCls`` key at all.
"""

from __future__ import annotations

import binascii
import contextlib
import datetime as dt
import gc
import inspect
import json
import json.encoder
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeVar, overload

from tornadoservice.core.errors import ETYPE, EVALUE, TornadoServiceError

# The C accelerators, unless TORNADOSERVICE_NO_SPEEDUPS is set (to anything but "" or "0").
if os.environ.get("TORNADOSERVICE_NO_SPEEDUPS", "") in ("", "0"):
    try:
        from tornadoservice.wire import _speedups
    except ImportError:  # installed where no C compiler was found: the pure-Python path
        _speedups = None  # type: ignore[assignment]
else:
    _speedups = None  # type: ignore[assignment]

__all__ = [
    "JEncodeError",
    "JSerializable",
    "decode",
    "encode",
    "register_serializable",
]

DATETIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT: Final = "%Y-%m-%d"

_RESERVED_CLASS_NAMES: Final = frozenset({"dt", "date", "b64"})

# The canonical shapes, checked before using the fast C parsers (``fromisoformat`` alone also
# accepts forms that DIRAC's strptime refuses, such as a "T" separator or an offset).
_CANONICAL_DATETIME: Final = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", re.ASCII)
_CANONICAL_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)

# A "\u00XX" escape of one of the characters of "__dCls". JSON lets a peer spell the key that
# way, so text without the literal "__dCls" may still hold it; such text takes the hooked path.
# A false match only costs speed.
_ESCAPED_MARKER_CHAR: Final = re.compile(r"\\u00(?:5[Ff]|64|43|6[Cc]|73)")


class JEncodeError(TornadoServiceError, ValueError):
    """Data that cannot be encoded to, or decoded from, DIRAC's JSON.

    A ``ValueError`` as well, like the ``json`` module's own errors. ``errno`` is ``EVALUE`` for
    bad input to :func:`decode` and ``ETYPE`` for an object :func:`encode` cannot represent.
    """

    default_errno: ClassVar[int] = EVALUE


class JSerializable:
    """Base class of objects that travel as ``{"__dCls": ..., "__dMod": ..., <attributes>}``.

    A subclass lists the attributes to send in ``_attrToSerialize`` (DIRAC's name) and must be
    constructible without arguments. Attributes that are missing or ``None`` are not sent.
    To be *decoded*, the class must also be registered with :func:`register_serializable`.
    """

    _attrToSerialize: ClassVar[Sequence[str]]


@dataclass(frozen=True, slots=True)
class _Registration:
    cls: type[JSerializable]
    attributes: frozenset[str]


# (module, class name) as written on the wire -> the class allowed to be built from it.
_REGISTRY: dict[tuple[str, str], _Registration] = {}
# class -> the (module, class name) it is written as, when registered under another module.
_WIRE_NAMES: dict[type[JSerializable], tuple[str, str]] = {}

_J = TypeVar("_J", bound=JSerializable)


@overload
def register_serializable(cls: type[_J], /) -> type[_J]: ...


@overload
def register_serializable(*, module: str | None = None) -> Callable[[type[_J]], type[_J]]: ...


def register_serializable(
    cls: type[_J] | None = None, /, *, module: str | None = None
) -> type[_J] | Callable[[type[_J]], type[_J]]:
    """Allow :func:`decode` to build instances of a :class:`JSerializable` subclass.

    Use as ``@register_serializable`` or ``@register_serializable(module="DIRAC.X.Y")``. By
    default the class is known on the wire by its own module and name; ``module`` replaces the
    module, in both directions, so that a class ported from DIRAC keeps the ``__dMod`` that
    DIRAC peers send and expect.

    Raises ``TypeError`` for a class that is not a :class:`JSerializable` with
    ``_attrToSerialize``, cannot be built without arguments, or is named like a built-in tag;
    ``ValueError`` if another class is already registered under the same wire name.
    """

    def register(target: type[_J]) -> type[_J]:
        _register(target, module)
        return target

    return register if cls is None else register(cls)


def _register(cls: type[JSerializable], module: str | None) -> None:
    if not (isinstance(cls, type) and issubclass(cls, JSerializable)):
        raise TypeError(f"{cls!r} is not a JSerializable subclass")
    attributes = getattr(cls, "_attrToSerialize", None)
    if attributes is None or isinstance(attributes, str):
        raise TypeError(f"{cls.__qualname__} must list its attributes in _attrToSerialize")
    if cls.__name__ in _RESERVED_CLASS_NAMES:
        raise TypeError(f"{cls.__qualname__}: the name {cls.__name__!r} is a built-in __dCls tag")
    try:
        inspect.signature(cls).bind()
    except TypeError as exc:
        raise TypeError(f"{cls.__qualname__} must be constructible without arguments") from exc
    wire_name = (module or cls.__module__, cls.__name__)
    known = _REGISTRY.get(wire_name)
    if known is not None and known.cls is not cls:
        raise ValueError(f"{wire_name[0]}.{wire_name[1]} is already registered as {known.cls!r}")
    _REGISTRY[wire_name] = _Registration(cls, frozenset(attributes))
    if module is not None:
        _WIRE_NAMES[cls] = wire_name


# --- Encoding ---------------------------------------------------------------------------------


def _serializable_to_dict(obj: JSerializable) -> dict[str, Any]:
    cls = type(obj)
    attributes = getattr(obj, "_attrToSerialize", None)
    if attributes is None:
        raise JEncodeError(
            f"cannot encode {cls.__qualname__}: it defines no _attrToSerialize", errno=ETYPE
        )
    module, name = _WIRE_NAMES.get(cls) or (cls.__module__, cls.__name__)
    if name in _RESERVED_CLASS_NAMES:
        raise JEncodeError(f"cannot encode {cls.__qualname__}: {name!r} is a built-in tag")
    # Key order as DIRAC writes it: the class, the module, then the attributes in list order.
    data: dict[str, Any] = {"__dCls": name, "__dMod": module}
    for attribute in attributes:
        value = getattr(obj, attribute, None)
        if value is not None:
            data[attribute] = value
    return data


def _default(obj: Any) -> Any:
    """Called by the C encoder for every object that JSON itself cannot hold."""
    # datetime first: it is a subclass of date. The unbound base-class methods ignore any
    # override in a subclass (pandas' Timestamp, for one) and give the canonical digits.
    if isinstance(obj, dt.datetime):
        return {"__dCls": "dt", "obj": dt.datetime.isoformat(obj, " ", "seconds")[:19]}
    if isinstance(obj, dt.date):
        return {"__dCls": "date", "obj": dt.date.isoformat(obj)}
    if isinstance(obj, JSerializable):
        return _serializable_to_dict(obj)
    if isinstance(obj, bytes):
        return {"__dCls": "b64", "obj": binascii.b2a_base64(obj, newline=False).decode("ascii")}
    raise JEncodeError(
        f"cannot encode an object of type {type(obj).__qualname__}: not JSON serializable",
        errno=ETYPE,
    )


def _make_c_encoder() -> Callable[[object, int], Any] | None:
    # json.dumps builds an encoder object on every call; building it once saves most of the
    # cost of a small body. The arguments are c_make_encoder's positional ones: markers (None:
    # no circular check), default, string encoder (the C ASCII one, which the C code recognises
    # and inlines), indent, key separator, item separator, sort_keys, skipkeys, allow_nan.
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # an interpreter without the C accelerator
        return None
    encoder: Callable[[object, int], Any] = c_make_encoder(
        None, _default, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )
    return encoder


_C_ENCODER: Final = _make_c_encoder()
_PY_ENCODER: Final = json.JSONEncoder(
    separators=(", ", ": "),
    ensure_ascii=True,
    allow_nan=True,
    check_circular=False,
    default=_default,
)


def encode(obj: Any) -> str:
    """``obj`` as DIRAC's JSON text.

    Raises :class:`JEncodeError` for an object of a type JSON cannot hold (a set, an arbitrary
    object), a dict key that is not a str/int/float/bool/None, a circular reference, or a
    :class:`JSerializable` without ``_attrToSerialize``.
    """
    try:
        if _speedups is not None:
            return _speedups.encode(obj, _default)
        if _C_ENCODER is not None:
            return "".join(_C_ENCODER(obj, 0))
        return _PY_ENCODER.encode(obj)
    except JEncodeError:
        raise
    except RecursionError as exc:
        raise JEncodeError(
            "cannot encode: circular reference or nesting too deep", errno=ETYPE
        ) from exc
    except (TypeError, ValueError) as exc:
        # e.g. "keys must be str, int, float, bool or None, not tuple"
        raise JEncodeError(f"cannot encode: {exc}", errno=ETYPE) from exc


# --- Decoding ---------------------------------------------------------------------------------


def _payload(tagged: dict[str, Any], tag: str) -> str:
    payload = tagged.get("obj")
    if not isinstance(payload, str):
        raise JEncodeError(f"a {tag!r} object needs a string 'obj', got {payload!r}")
    return payload


def _decode_datetime(tagged: dict[str, Any]) -> dt.datetime:
    text = _payload(tagged, "dt")
    if _CANONICAL_DATETIME.fullmatch(text):
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:
            pass  # out-of-range field: strptime below gives the error
    try:
        # strptime accepts what DIRAC accepts beyond the canonical form (e.g. "2024-1-2 3:4:5").
        return dt.datetime.strptime(text, DATETIME_FORMAT)
    except ValueError as exc:
        raise JEncodeError(f"bad 'dt' value {text!r}: expected YYYY-MM-DD HH:MM:SS") from exc


def _decode_date(tagged: dict[str, Any]) -> dt.date:
    text = _payload(tagged, "date")
    if _CANONICAL_DATE.fullmatch(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    try:
        return dt.datetime.strptime(text, DATE_FORMAT).date()
    except ValueError as exc:
        raise JEncodeError(f"bad 'date' value {text!r}: expected YYYY-MM-DD") from exc


def _decode_bytes(tagged: dict[str, Any]) -> bytes:
    text = _payload(tagged, "b64")
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise JEncodeError(f"bad 'b64' value: not standard base64 ({exc})") from exc


def _decode_registered(tag: Any, tagged: dict[str, Any]) -> JSerializable:
    module = tagged.get("__dMod")
    registration = (
        _REGISTRY.get((module, tag)) if isinstance(module, str) and isinstance(tag, str) else None
    )
    if registration is None:
        raise JEncodeError(
            f"refusing to decode __dCls {tag!r} from __dMod {module!r}: "
            "only dt, date, b64 and registered classes are allowed"
        )
    instance = registration.cls()
    for attribute, value in tagged.items():
        if attribute in ("__dCls", "__dMod") or value is None:
            continue
        if attribute not in registration.attributes:
            raise JEncodeError(f"{tag} has no serialized attribute {attribute!r}")
        setattr(instance, attribute, value)
    return instance


def _object_hook(tagged: dict[str, Any]) -> Any:
    if "__dCls" not in tagged:
        return tagged
    tag = tagged["__dCls"]
    if tag == "dt":
        return _decode_datetime(tagged)
    if tag == "date":
        return _decode_date(tagged)
    if tag == "b64":
        return _decode_bytes(tagged)
    return _decode_registered(tag, tagged)


_PLAIN_DECODER: Final = json.JSONDecoder()
_TAGGED_DECODER: Final = json.JSONDecoder(
    object_hook=_object_hook if _speedups is None else _speedups.make_object_hook(_object_hook)
)


def _text_of(data: bytes | bytearray) -> str:
    # What json.loads does with bytes: UTF-8, -16 or -32, told apart by the first bytes.
    try:
        return data.decode(json.detect_encoding(data), "surrogatepass")
    except UnicodeDecodeError as exc:
        raise JEncodeError(f"malformed JSON: not valid Unicode text ({exc.reason})") from exc


GC_PAUSE_THRESHOLD: Final = 64 * 1024
"""Texts at least this long are decoded with the cyclic garbage collector paused."""

_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_paused_by_us = False


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause automatic garbage collection while a large text is decoded.

    Building a large value allocates hundreds of thousands of containers, and every 700 of them
    trigger a collection that walks young objects, some of them a walk of the whole heap: a
    third of the decode time of ``bench.encoding``'s payload, spent on objects that cannot be
    cyclic garbage. Concurrent decodes share one pause (the last one to finish ends it), and a
    collector that was already disabled stays as it was.
    """
    global _gc_pausers, _gc_paused_by_us
    with _gc_lock:
        if _gc_pausers == 0 and gc.isenabled():
            gc.disable()
            _gc_paused_by_us = True
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_paused_by_us:
                _gc_paused_by_us = False
                gc.enable()


def decode(data: str | bytes) -> tuple[Any, int]:
    """The value encoded in ``data``, and ``len(data)`` (as DIRAC's ``JEncode.decode``).

    Raises :class:`JEncodeError` for malformed JSON, a bad ``dt``/``date``/``b64`` payload, or
    a ``__dCls`` that is neither built in nor registered (the module it names is not imported).
    """
    if isinstance(data, str):
        text = data
    elif isinstance(data, bytes | bytearray):
        text = _text_of(data)
    else:
        raise TypeError(f"decode() needs str or bytes, not {type(data).__qualname__}")
    tagged = "__dCls" in text or ("\\u" in text and _ESCAPED_MARKER_CHAR.search(text) is not None)
    decoder = _TAGGED_DECODER if tagged else _PLAIN_DECODER
    try:
        if len(text) < GC_PAUSE_THRESHOLD:
            value = decoder.decode(text)
        else:
            with _gc_paused():
                value = decoder.decode(text)
    except JEncodeError:
        raise
    except RecursionError as exc:
        raise JEncodeError("malformed JSON: nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, or an integer beyond Python's digit limit
        raise JEncodeError(f"malformed JSON: {exc}") from exc
    return value, len(data)
