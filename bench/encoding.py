"""``python -m bench.encoding``: JEncode against a DIRAC-style stdlib ``json`` implementation.

The payload is a file catalogue answer, as ``getFileMetadata`` returns it for a list of LFNs:
``S_OK({"Successful": {lfn: metadata}, "Failed": {}})``. The baseline is the same format
written the way DIRAC writes it: ``json.dumps`` with a ``JSONEncoder`` subclass whose
``default()`` formats datetimes with ``strftime`` and bytes with ``base64``, and ``json.loads``
with an ``object_hook`` that parses them back with ``strptime`` and ``b64decode``. Both sides
are checked to write the same bytes and read back equal values before anything is timed.

Each repetition times every variant once, in turn, after a ``gc.collect()``, so that the noise
of a shared machine falls on all of them alike; the table shows the median and the range.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import gc
import hashlib
import importlib.util
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from tornadoservice.wire import jencode

TARGET_RATIO = 3.0
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"

PAYLOAD_DESCRIPTION = (
    "a file catalogue `getFileMetadata` answer, `S_OK({'Successful': {lfn: metadata}, "
    "'Failed': {}})`, one entry per LFN (an ASCII path of about 80 characters); each metadata "
    "dict holds 15 fields: ints (FileID, Size, UID, GID, Mode), strings (GUID, Status, Owner, "
    "OwnerGroup, ChecksumType), a float (Luminosity), two datetimes (CreationDate, "
    "ModificationDate), one bytes value (Checksum, a 16-byte MD5 digest) and a nested list of "
    "1 to 3 replica dicts (SE, PFN of about 115 characters, Status)"
)

STORAGE_ELEMENTS = ("CERN-DST-EOS", "CNAF-DST", "GRIDKA-DST", "IN2P3-DST", "PIC-DST", "RAL-DST")
STATUSES = ("AprioriGood", "AprioriGood", "AprioriGood", "Trash", "Removed")


def make_payload(records: int, seed: int = 20240301) -> dict[str, Any]:
    """The benchmark's payload: ``records`` LFNs with their metadata, always the same for a seed."""
    rng = random.Random(seed)
    start = dt.datetime(2023, 1, 1)
    successful: dict[str, Any] = {}
    for index in range(records):
        production, job = rng.randrange(100_000, 200_000), rng.randrange(1, 10_000)
        lfn = (
            f"/lhcb/MC/2024/ALLSTREAMS.DST/{production:08d}/{job // 1000:04d}/"
            f"{production:08d}_{job:08d}_{index}.allstreams.dst"
        )
        created = start + dt.timedelta(seconds=rng.randrange(365 * 86_400))
        successful[lfn] = {
            "FileID": 40_000_000 + index,
            "Size": rng.randrange(1_000_000, 5_000_000_000),
            "GUID": str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper(),
            "Checksum": hashlib.md5(lfn.encode()).digest(),
            "ChecksumType": "MD5",
            "Status": rng.choice(STATUSES),
            "UID": 1234,
            "GID": 56,
            "Owner": "lhcbprod",
            "OwnerGroup": "lhcb_mc",
            "Mode": 0o775,
            "Luminosity": rng.uniform(0.0, 2000.0),
            "CreationDate": created,
            "ModificationDate": created + dt.timedelta(seconds=rng.randrange(30 * 86_400)),
            "Replicas": [
                {"SE": se, "PFN": f"root://{se.lower()}.example.org//lhcb{lfn}", "Status": "U"}
                for se in rng.sample(STORAGE_ELEMENTS, rng.randint(1, 3))
            ],
        }
    return {"OK": True, "Value": {"Successful": successful, "Failed": {}}}


# --- The baseline: the format as DIRAC writes and reads it, with the stdlib json ---------------


class DiracStyleEncoder(json.JSONEncoder):
    """``default()`` as DIRAC's JSON encoder behaves: strftime and base64."""

    def default(self, o: Any) -> Any:
        if isinstance(o, dt.datetime):
            return {"__dCls": "dt", "obj": o.strftime(DATETIME_FORMAT)}
        if isinstance(o, dt.date):
            return {"__dCls": "date", "obj": o.strftime(DATE_FORMAT)}
        if isinstance(o, bytes):
            return {"__dCls": "b64", "obj": base64.b64encode(o).decode()}
        return super().default(o)


def _dirac_style_hook(tagged: dict[str, Any]) -> Any:
    tag = tagged.get("__dCls")
    if tag == "dt":
        return dt.datetime.strptime(tagged["obj"], DATETIME_FORMAT)
    if tag == "date":
        return dt.datetime.strptime(tagged["obj"], DATE_FORMAT).date()
    if tag == "b64":
        return base64.b64decode(tagged["obj"])
    return tagged


def dirac_style_encode(obj: Any) -> str:
    return json.dumps(obj, cls=DiracStyleEncoder)


def dirac_style_decode(text: str) -> Any:
    return json.loads(text, object_hook=_dirac_style_hook)


# --- Measuring --------------------------------------------------------------------------------


def load_pure_jencode() -> ModuleType:
    """A second, private copy of jencode, imported with ``TORNADOSERVICE_NO_SPEEDUPS=1``.

    The pure path exactly as a process started with that variable runs it, beside the
    accelerated one in this process, so that both are timed in turn under the same noise.
    """
    spec = importlib.util.spec_from_file_location("_jencode_pure_path", jencode.__file__)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {jencode.__file__}")
    module = importlib.util.module_from_spec(spec)
    saved = os.environ.get("TORNADOSERVICE_NO_SPEEDUPS")
    os.environ["TORNADOSERVICE_NO_SPEEDUPS"] = "1"
    sys.modules[spec.name] = module  # dataclasses look their module up while it runs
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
        if saved is None:
            del os.environ["TORNADOSERVICE_NO_SPEEDUPS"]
        else:
            os.environ["TORNADOSERVICE_NO_SPEEDUPS"] = saved
    if module._speedups is not None:
        raise AssertionError("TORNADOSERVICE_NO_SPEEDUPS=1 did not give the pure path")
    return module


def _variants() -> dict[str, tuple[str, Callable[[Any], str], Callable[[str], Any]]]:
    pure = load_pure_jencode()
    return {
        "baseline": ("DIRAC-style stdlib json (baseline)", dirac_style_encode, dirac_style_decode),
        "speedups": (
            "tornadoservice, C speedups",
            jencode.encode,
            lambda text: jencode.decode(text)[0],
        ),
        "pure": ("tornadoservice, pure path", pure.encode, lambda text: pure.decode(text)[0]),
    }


def _check_same_results(
    variants: dict[str, tuple[str, Callable[[Any], str], Callable[[str], Any]]],
    payload: dict[str, Any],
) -> str:
    """The text all variants write, after checking that they agree both ways."""
    text = dirac_style_encode(payload)
    for name, (_, encode, decode) in variants.items():
        if encode(payload) != text:
            raise AssertionError(f"{name} does not write the baseline's bytes")
        if decode(text) != payload:
            raise AssertionError(f"{name} does not read the payload back")
    return text


def _milliseconds(call: Callable[[Any], object], argument: Any) -> float:
    gc.collect()  # no collection left over from the previous call
    started = time.perf_counter()
    call(argument)
    return (time.perf_counter() - started) * 1000


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def run_encoding(records: int = 10_000, repeat: int = 7) -> dict[str, Any]:
    """Time encode and decode of every variant ``repeat`` times; JSON-serialisable numbers."""
    variants = _variants()
    payload = make_payload(records)
    text = _check_same_results(variants, payload)
    samples: dict[str, dict[str, list[float]]] = {
        name: {"encode": [], "decode": []} for name in variants
    }
    for _ in range(repeat):
        for name, (_, encode, decode) in variants.items():
            samples[name]["encode"].append(_milliseconds(encode, payload))
            samples[name]["decode"].append(_milliseconds(decode, text))
    summary = {
        name: {operation: _spread(values) for operation, values in operations.items()}
        for name, operations in samples.items()
    }
    base = summary["baseline"]
    ratios = {
        f"{operation}{suffix}": base[operation]["median"] / summary[name][operation]["median"]
        for name, suffix in (("speedups", ""), ("pure", "_pure"))
        for operation in ("encode", "decode")
    }
    return {
        "records": records,
        "repeat": repeat,
        "payload": PAYLOAD_DESCRIPTION,
        "payload_bytes": len(text),
        "python": platform.python_version(),
        "speedups_built": getattr(jencode, "_speedups", None) is not None,
        "labels": {name: label for name, (label, _, _) in variants.items()},
        "samples_ms": samples,
        "summary_ms": summary,
        "ratios": ratios,
        "target_ratio": TARGET_RATIO,
        "target_met": {op: ratios[op] >= TARGET_RATIO for op in ("encode", "decode")},
    }


# --- Report -----------------------------------------------------------------------------------


def _cell(spread: dict[str, float]) -> str:
    return f"{spread['median']:.1f} ({spread['min']:.1f}-{spread['max']:.1f})"


def render_encoding(result: dict[str, Any]) -> str:
    """A markdown section, ``## Encoding``, for docs/benchmarks.md or a terminal."""
    summary, ratios, target = result["summary_ms"], result["ratios"], result["target_ratio"]
    lines = [
        "## Encoding",
        "",
        f"`tornadoservice.wire.jencode.encode`/`decode` against a DIRAC-style implementation "
        f"of the same format on {result['records']:,} records "
        f"({result['payload_bytes'] / 1e6:.1f} MB of JSON), Python {result['python']}, "
        f"{result['repeat']} repetitions.",
        "",
        f"Payload: {result['payload']}.",
        "",
        "Baseline: `json.dumps(obj, cls=<JSONEncoder subclass>)` whose `default()` writes "
        "datetimes with `strftime`, dates likewise and bytes with `base64.b64encode`, and "
        "`json.loads(text, object_hook=...)` reading them back with `datetime.strptime` and "
        "`base64.b64decode`, as DIRAC does. All variants write the same bytes and read back "
        "equal values (checked before timing).",
        "",
        "| implementation | encode ms, median (min-max) | decode ms, median (min-max) |",
        "| --- | --- | --- |",
    ]
    for name, label in result["labels"].items():
        lines.append(
            f"| {label} | {_cell(summary[name]['encode'])} | {_cell(summary[name]['decode'])} |"
        )
    if not result["speedups_built"]:
        lines += [
            "",
            "The C speedups are not built here: both tornadoservice rows are the pure path.",
        ]
    lines += [
        "",
        f"Baseline / tornadoservice (medians): encode **{ratios['encode']:.1f}x**, decode "
        f"**{ratios['decode']:.1f}x** with the speedups; encode {ratios['encode_pure']:.1f}x, "
        f"decode {ratios['decode_pure']:.1f}x on the pure path.",
        "",
    ]
    for operation in ("encode", "decode"):
        met = result["target_met"][operation]
        verdict = "met" if met else "**not met**"
        lines.append(
            f"- {operation} at least {target:g}x faster than the baseline: {verdict} "
            f"({ratios[operation]:.1f}x)."
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.encoding",
        description="JEncode encode/decode against a DIRAC-style stdlib json implementation; "
        "prints a markdown section.",
    )
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON")
    args = parser.parse_args(argv)
    if args.records < 1 or args.repeat < 1:
        parser.error("--records and --repeat must be positive")
    result = run_encoding(args.records, args.repeat)
    sys.stdout.write(render_encoding(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
