"""``python -m bench.transfer``: ``receiveFile``/``sendFile`` of a big file against bare Tornado.

One random test file (1 GiB by default) is made per run. Both servers of
:mod:`bench.transfer_servers` serve it from the same folder, each its own process pinned to
core 0; every transfer is a fresh client process pinned to core 1, so that the peak RSS of each
side is its own. Each tornadoservice case is compared with the baseline case doing the same work
(:data:`JUDGED`):

* download to a path: ``TornadoClient.receiveFile(path, fileId)`` (a temporary file, fsync'd,
  renamed into place) against ``requests`` GET with ``iter_content`` into a file, then fsync;
* download to an open file: ``receiveFile(file, fileId)`` against the same GET without fsync;
* upload: ``TornadoClient.sendFile(path, fileId)`` against ``requests`` PUT from an open file,
  each server writing the body to a file as it arrives.

A warm-up round of every case comes first and is not counted; then the repetitions, interleaved
(repetition 1 of every case, then 2...). Each client process warms its connection up (``ping``),
then measures its own transfer: wall time, its CPU and the server's (utime+stime from
``/proc/<pid>/stat``), and the peak RSS of both processes over the transfer (``VmHWM`` from
``/proc/<pid>/status``, reset just before through ``/proc/<pid>/clear_refs``). The received file's
size and SHA-256 are checked afterwards, outside the timed window, and the copy deleted. Every
process started here is stopped by its PID.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Only the standard library at the top: a client process (this module run with --client) then
# loads no more than its own HTTP library, so its RSS is that library's. The orchestrator's
# helpers from bench.pki/report/runner (which load tornadoservice and Tornado) are imported
# where they are used.
if TYPE_CHECKING:
    from bench.pki import BenchPKI

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
CHUNK = MIB
"""Bytes per write of the test file (and of the page-cache priming)."""
BASELINE_READ = 256 * 1024
"""``iter_content`` chunk of the baseline client: the fastest of 64 KiB, 256 KiB and 1 MiB here
(1 MiB reads cost urllib3 a 1 MiB buffer each and ran at half speed in about half the runs)."""
TARGET_RATIO = 1.0
"""tornadoservice must move at least the bare Tornado handler's MiB/s, doing the same work."""
RSS_GROWTH_LIMIT_MIB = 64
"""Peak RSS over a transfer may exceed the RSS before it by less than this (either process)."""
SERVICE = "Framework/Files"
SOURCE_NAME = "testfile.bin"
FRAMEWORK, BASELINE = "tornadoservice", "tornado"


@dataclass(frozen=True)
class Case:
    key: str
    target: str  # the server (bench.transfer_servers)
    direction: str  # download | upload
    client: str  # what the client process does, for the report


CASES = (
    Case("tornadoservice/download", FRAMEWORK, "download", "`receiveFile(path, fileId)`"),
    Case("tornado/download-fsync", BASELINE, "download", "GET into a file, then fsync"),
    Case(
        "tornadoservice/download-fileobj",
        FRAMEWORK,
        "download",
        "`receiveFile(open file, fileId)`",
    ),
    Case("tornado/download", BASELINE, "download", "GET into a file"),
    Case("tornadoservice/upload", FRAMEWORK, "upload", "`sendFile(path, fileId)`"),
    Case("tornado/upload", BASELINE, "upload", "PUT from an open file"),
)
JUDGED = {
    "download": ("tornadoservice/download", "tornado/download-fsync"),
    "download-fileobj": ("tornadoservice/download-fileobj", "tornado/download"),
    "upload": ("tornadoservice/upload", "tornado/upload"),
}
"""tornadoservice case -> the baseline case doing the same work, which it must reach 0.8 of.
``receiveFile(path)`` fsyncs the file before renaming it into place: its baseline fsyncs too."""
METRICS = (
    "mib_s",
    "seconds",
    "server_cpu_pct",
    "client_cpu_pct",
    "server_rss_before_mib",
    "server_peak_rss_mib",
    "client_rss_before_mib",
    "client_peak_rss_mib",
)


# ---------------------------------------------------------------------- /proc
def proc_status_mib(pid: int | str, key: str) -> float:
    """``VmRSS``/``VmHWM`` of a process, in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    raise LookupError(f"{key} not in /proc/{pid}/status")


def reset_peak_rss(pid: int | str) -> bool:
    """Set ``VmHWM`` back to the current RSS (Linux 4.0+); False where not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def cpu_seconds(pid: int | str) -> float:
    """utime + stime of a process."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------- the client process
@dataclass(frozen=True)
class ClientSpec:
    case: str
    port: int
    proxy: str  # the client credential: RFC 3820 proxy, its key, the user certificate
    ca_dir: str
    file_id: str
    local: str  # download: where to write; upload: what to send
    received: str  # where the received copy will be (download: local; upload: the server's)
    size: int
    server_pid: int
    timeout: float


def prime_page_cache(folder: Path, size: int) -> None:
    """Write and delete ``size`` bytes in ``folder``, so that the transfer's writes find memory.

    This VM hands freed memory back to its host (virtio-balloon free page reporting, 2 s after
    it is freed); touching it again costs about 2 s per GiB, measured here. Without this, a
    transfer that writes its file right after a pause pays that on top, whichever the target.
    """
    scratch = folder / ".prime.bin"
    block = bytes(CHUNK)
    try:
        with open(scratch, "wb") as out:
            for _ in range(0, size, CHUNK):
                out.write(block)
    finally:
        scratch.unlink(missing_ok=True)


def _tornadoservice_transfer(spec: ClientSpec, case: Case) -> Callable[[], None]:
    """The transfer of a tornadoservice case, after warming the connection up."""
    from tornadoservice import TornadoClient
    from tornadoservice.config.tree import ConfigTree

    config = ConfigTree.from_dict({"DIRAC": {"Security": {"CALocation": spec.ca_dir}}})
    client = TornadoClient(
        f"https://127.0.0.1:{spec.port}/{SERVICE}",
        proxyLocation=spec.proxy,
        config=config,
        timeout=spec.timeout,
    )  # no skipCACheck: the server is verified against the CA directory, host name included
    warm = client.ping()
    if not warm["OK"]:
        raise RuntimeError(f"ping: {warm['Message']}")

    def check(result: dict[str, Any]) -> None:
        if not result["OK"]:
            raise RuntimeError(result["Message"])

    if case.key == "tornadoservice/download":
        return lambda: check(client.receiveFile(spec.local, spec.file_id))
    if case.key == "tornadoservice/download-fileobj":

        def to_file_object() -> None:
            with open(spec.local, "wb") as out:
                check(client.receiveFile(out, spec.file_id))

        return to_file_object
    return lambda: check(client.sendFile(spec.local, spec.file_id))


def _requests_transfer(spec: ClientSpec, case: Case) -> Callable[[], None]:
    """The transfer of a baseline case, after warming the connection up."""
    import requests

    session = requests.Session()
    session.trust_env = False  # never through an environment proxy
    session.cert = spec.proxy  # proxy certificate, key and user certificate in one file
    session.verify = spec.ca_dir  # the server is verified against the CA directory
    base = f"https://127.0.0.1:{spec.port}"
    with session.get(f"{base}/ping", timeout=spec.timeout, stream=True) as warm:
        warm.raise_for_status()
        if not getattr(warm.raw.connection, "is_verified", False):
            raise RuntimeError("the connection to the server is not verified")
        warm.content  # noqa: B018 (read it, so that the connection goes back to the pool)
    url = f"{base}/{SERVICE}/{spec.file_id}"

    def download() -> None:
        with session.get(url, stream=True, timeout=spec.timeout) as response:
            response.raise_for_status()
            with open(spec.local, "wb") as out:
                for chunk in response.iter_content(BASELINE_READ):
                    out.write(chunk)
                if case.key == "tornado/download-fsync":
                    out.flush()
                    os.fsync(out.fileno())

    def upload() -> None:
        with open(spec.local, "rb") as source:
            response = session.put(url, data=source, timeout=spec.timeout)
        response.raise_for_status()

    return download if case.direction == "download" else upload


def client_main(spec: ClientSpec) -> dict[str, Any]:
    """Run one transfer in this process, measured (see the module docstring)."""
    case = next(case for case in CASES if case.key == spec.case)
    maker = _tornadoservice_transfer if case.target == FRAMEWORK else _requests_transfer
    transfer = maker(spec, case)
    prime_page_cache(Path(spec.received).parent, spec.size)
    peak_reset = reset_peak_rss("self") and reset_peak_rss(spec.server_pid)
    client_rss = proc_status_mib("self", "VmRSS")
    server_rss = proc_status_mib(spec.server_pid, "VmRSS")
    server_cpu, client_cpu = cpu_seconds(spec.server_pid), cpu_seconds("self")
    began = time.perf_counter()
    error = ""
    try:
        transfer()
    except Exception as exc:  # reported, not raised: the run goes on with the other cases
        error = f"{type(exc).__name__}: {exc}"[:2000]
    seconds = time.perf_counter() - began
    return {
        "ok": not error,
        "error": error,
        "seconds": seconds,
        "server_cpu_pct": 100 * (cpu_seconds(spec.server_pid) - server_cpu) / seconds,
        "client_cpu_pct": 100 * (cpu_seconds("self") - client_cpu) / seconds,
        "server_rss_before_mib": server_rss,
        "server_peak_rss_mib": proc_status_mib(spec.server_pid, "VmHWM"),
        "client_rss_before_mib": client_rss,
        "client_peak_rss_mib": proc_status_mib("self", "VmHWM"),
        "peak_reset": peak_reset,
    }


# ---------------------------------------------------------------------- the orchestrator
def _pinned(server: bool, command: list[str], pinned: bool) -> list[str]:
    """``command`` on the server's or the client's core (bench.runner's layout)."""
    from bench.runner import CLIENT_CORE, SERVER_CORE

    return (
        ["taskset", "-c", SERVER_CORE if server else CLIENT_CORE, *command] if pinned else command
    )


def spread(values: Sequence[float]) -> dict[str, float]:
    """Shaped as bench.runner's."""
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


@contextmanager
def server_process(
    target: str, pki: BenchPKI, data: Path, log: Path, pinned: bool
) -> Iterator[tuple[int, int]]:
    """Start one file server, wait for its port, yield ``(pid, port)``, stop it by its PID."""
    command = [sys.executable, "-m", "bench.transfer_servers", target]
    command += ["--pki", str(pki.folder), "--data", str(data), "--log", str(log)]
    from bench.procs import announced_server

    what = f"{target} server (see {log})"
    with announced_server(_pinned(True, command, pinned), ROOT, what) as server:
        yield server


def make_test_file(path: Path, size_mib: int) -> str:
    """``size_mib`` MiB of random bytes; returns their SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for _ in range(size_mib):
            block = os.urandom(CHUNK)
            digest.update(block)
            out.write(block)
        out.flush()
        # On disk before the first transfer: its write-back must not compete with one (fsync).
        os.fsync(out.fileno())
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    with open(path, "rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()


def run_client(spec: ClientSpec, pinned: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.transfer", "--client", json.dumps(asdict(spec))]
    try:
        completed = subprocess.run(
            _pinned(False, command, pinned),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=spec.timeout + 60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"client process ran over {spec.timeout + 60:.0f} s"}
    try:
        result: dict[str, Any] = json.loads(completed.stdout)
    except json.JSONDecodeError:
        result = {"ok": False, "error": "the client process wrote no result"}
    if completed.returncode != 0:
        result = {"ok": False, "error": f"client process failed: {completed.stderr[-2000:]}"}
    return result


def _one_transfer(
    case: Case,
    repetition: int,
    server: tuple[int, int],
    pki: BenchPKI,
    folders: dict[str, Path],
    source: dict[str, Any],
    pinned: bool,
) -> dict[str, Any]:
    pid, port = server
    name = f"{case.key.replace('/', '-')}-{repetition}.bin"
    if case.direction == "download":
        file_id, local = SOURCE_NAME, folders["client"] / name
        received = local
    else:
        file_id, local = name, folders["data"] / SOURCE_NAME
        received = folders["data"] / "uploads" / name
    received.unlink(missing_ok=True)
    # At least 2 MiB/s, or the transfer is reported as failed.
    timeout = 60.0 + source["bytes"] / (2 * MIB)
    spec = ClientSpec(
        case=case.key,
        port=port,
        proxy=str(pki.proxy),
        ca_dir=str(pki.ca_dir),
        file_id=file_id,
        local=str(local),
        received=str(received),
        size=source["bytes"],
        server_pid=pid,
        timeout=timeout,
    )
    result = run_client(spec, pinned)
    result["case"], result["repetition"] = case.key, repetition
    # Checked outside the timed window (and outside the client process).
    size = received.stat().st_size if received.exists() else -1
    result["received_bytes"] = size
    result["size_ok"] = size == source["bytes"]
    result["sha256_ok"] = result["size_ok"] and file_digest(received) == source["sha256"]
    received.unlink(missing_ok=True)
    if result["ok"]:
        result["mib_s"] = source["bytes"] / MIB / result["seconds"]
    return result


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for key, reps in runs.items():
        good = [rep for rep in reps if rep["ok"] and rep["sha256_ok"]]
        entry: dict[str, Any] = {
            "repetitions": len(reps),
            "failures": len(reps) - len(good),
        }
        if good:
            entry |= {metric: spread([rep[metric] for rep in good]) for metric in METRICS}
        summary[key] = entry
    return summary


def ratios(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per pair of :data:`JUDGED`: tornadoservice MiB/s over the baseline's, and the verdict."""
    summary = summarize(runs)
    out: dict[str, dict[str, Any]] = {}
    for name, (ours, theirs) in JUDGED.items():
        if "mib_s" not in summary.get(ours, {}) or "mib_s" not in summary.get(theirs, {}):
            continue
        median = summary[ours]["mib_s"]["median"] / summary[theirs]["mib_s"]["median"]
        # The two ran in the same repetition, one after the other: pair them.
        paired = [
            a["mib_s"] / b["mib_s"]
            for a, b in zip(runs[ours], runs[theirs], strict=True)
            if "mib_s" in a and "mib_s" in b and a["sha256_ok"] and b["sha256_ok"]
        ]
        if not paired:
            continue
        out[name] = {
            "ours": ours,
            "baseline": theirs,
            "ratio_of_medians": median,
            "per_repetition": spread(paired),
            "met": median >= TARGET_RATIO,
            "met_every_repetition": min(paired) >= TARGET_RATIO,
        }
    return out


def rss_growth(runs: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """The most MiB each tornadoservice process grew by over one transfer (peak minus RSS just
    before, worst repetition), per case and side."""
    growth: dict[str, float] = {}
    for case in CASES:
        if case.target != FRAMEWORK:
            continue
        good = [rep for rep in runs.get(case.key, []) if rep.get("ok") and rep.get("sha256_ok")]
        for side in ("server", "client"):
            values = [
                rep[f"{side}_peak_rss_mib"] - rep[f"{side}_rss_before_mib"]
                for rep in good
                if f"{side}_peak_rss_mib" in rep and f"{side}_rss_before_mib" in rep
            ]
            if values:
                growth[f"{case.key.split('/', 1)[1]} {side}"] = max(values)
    return growth


def run_transfer(
    size_mib: int = 1024,
    repeat: int = 3,
    workdir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every case ``repeat`` times (interleaved) on a ``size_mib`` MiB file; JSON-able."""
    from bench.pki import make_pki
    from bench.report import machine
    from bench.runner import pinning_available
    from tornadoservice.client.transfer import CHUNK_SIZE

    say = progress or (lambda line: None)
    pinned = pinning_available()
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    began = time.monotonic()
    runs: dict[str, list[dict[str, Any]]] = {case.key: [] for case in CASES}
    warmup: list[dict[str, Any]] = []
    with ExitStack() as stack:
        kept = workdir is not None
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-xfer-")))
        folders = {name: workdir / name for name in ("data", "client", "logs")}
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        pki = make_pki(workdir / "pki")
        say(f"making a {size_mib} MiB random test file in {folders['data']}")
        source_path = folders["data"] / SOURCE_NAME
        source = {"bytes": size_mib * MIB, "sha256": make_test_file(source_path, size_mib)}
        servers = {
            target: stack.enter_context(
                server_process(
                    target, pki, folders["data"], folders["logs"] / f"{target}.log", pinned
                )
            )
            for target in (FRAMEWORK, BASELINE)
        }
        # Repetition 0 is a warm-up round, not counted: the first file written in a fresh VM
        # touches never-used memory for its page cache (measured: 2 s more per GiB here), and
        # the servers start their thread pools.
        for repetition in range(0, repeat + 1):
            for case in CASES:
                result = _one_transfer(
                    case, repetition, servers[case.target], pki, folders, source, pinned
                )
                (runs[case.key] if repetition else warmup).append(result)
                if result["ok"] and result["sha256_ok"]:
                    say(
                        f"[{repetition or 'warm-up'}/{repeat}] {case.key}: "
                        f"{result['mib_s']:.0f} MiB/s, "
                        f"server peak RSS {result['server_peak_rss_mib']:.0f} MiB, "
                        f"client peak RSS {result['client_peak_rss_mib']:.0f} MiB"
                    )
                else:
                    say(
                        f"[{repetition or 'warm-up'}/{repeat}] {case.key}: "
                        f"FAILED {result.get('error')}"
                    )
    return {
        "settings": {
            "size_mib": size_mib,
            "repeat": repeat,
            "baseline_read": BASELINE_READ,
            "client_read": CHUNK_SIZE,
        },
        "machine": machine(),
        "pinned": pinned,
        "started": started,
        "wall_seconds": time.monotonic() - began,
        "workdir": str(workdir) if kept else None,
        "source": source,
        "cases": {case.key: asdict(case) for case in CASES},
        "runs": runs,
        "warmup": warmup,
        "summary": summarize(runs),
        "ratios": ratios(runs),
        "target_ratio": TARGET_RATIO,
    }


# ---------------------------------------------------------------------- the report
def _cell(stats: dict[str, float] | None, digits: int = 0) -> str:
    if stats is None:
        return "-"
    return f"{stats['median']:.{digits}f} ({stats['min']:.{digits}f}-{stats['max']:.{digits}f})"


def render_transfer(result: dict[str, Any]) -> str:
    """The ``## Transfers`` markdown section of a :func:`run_transfer` result."""
    settings, info, summary = result["settings"], result["machine"], result["summary"]
    size = settings["size_mib"]
    size_text = f"{size // 1024} GiB" if size % 1024 == 0 else f"{size} MiB"
    command = result.get("command") or "python -m bench.transfer"
    pinning = "with `taskset`" if result["pinned"] else "**not pinned**: no taskset or one core"
    out = [
        "## Transfers",
        "",
        f"Written by `{command}` on {result['started']} ({result['wall_seconds']:.0f} s); "
        f"{info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, Tornado "
        f"{info['tornado']}, {info['openssl']}.",
        "",
        f"- One file of {size_text} of random bytes, sent {settings['repeat']} time(s) per case "
        "over HTTPS/1.1 on loopback; the client presents an RFC 3820 proxy certificate and "
        "verifies the server against the CA directory. One warm-up round of every case first "
        "(not counted), then the repetitions, interleaved across cases. Cells: median "
        "(min-max).",
        f"- Server process pinned to core 0, every transfer a fresh client process on core 1 "
        f"({pinning}); the client warms its connection up (`ping`) before the timed transfer.",
        "- **tornadoservice**: a `TornadoService` (`Framework/Files`, authenticated callers): "
        "`streamToClient(fileId)` returns the open file (the framework sends it in 1 MiB "
        "chunks with `Content-Length`, reading the next in a worker thread while the last one "
        "drains), `streamFromClient(fileId, token, size, stream)` copies "
        "`stream` to a file (`shutil.copyfileobj`, 1 MiB reads); access log at INFO to a file. "
        f"Client: `TornadoClient` (its downloads read {settings['client_read'] // 1024} KiB "
        "chunks); `receiveFile(path)` writes a temporary file, fsyncs it and renames it into "
        "place; `receiveFile(open file)` only writes.",
        "- **tornado** (the baseline): bare `RequestHandler`s, same TLS context with "
        "`CERT_REQUIRED`; GET reads the file 1 MiB at a time (`write` + `await flush()`, "
        "`Content-Length` set), a `@stream_request_body` PUT writes each chunk to a file. "
        "Client: `requests` with the same proxy certificate and CA directory: GET with "
        f"`iter_content({settings['baseline_read'] // 1024} KiB)` into a file (with an fsync "
        "at the end for the case that "
        "`receiveFile(path)` is compared with), PUT from an open file.",
        "- MiB/s: file size over the wall time of the transfer in the client. CPU: "
        "utime+stime from `/proc/<pid>/stat` over the transfer (100% = one core). Size and "
        "SHA-256 of every received file checked after the transfer.",
        "",
        "| server | direction | client | MiB/s | seconds | server CPU % | client CPU % | checks |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for key, case in result["cases"].items():
        entry = summary.get(key, {})
        failures = entry.get("failures", 0)
        checks = "all OK" if not failures else f"**{failures} of {entry['repetitions']} FAILED**"
        out.append(
            f"| {case['target']} | {case['direction']} | {case['client']} "
            f"| {_cell(entry.get('mib_s'))} | {_cell(entry.get('seconds'), 2)} "
            f"| {_cell(entry.get('server_cpu_pct'))} | {_cell(entry.get('client_cpu_pct'))} "
            f"| {checks} |"
        )
    out += [
        "",
        "Memory: RSS of each process just before the transfer, and its peak over the "
        "transfer (`VmHWM` from `/proc/<pid>/status`, reset through `/proc/<pid>/clear_refs` "
        "just before), in MiB.",
        "",
        "| server | direction | client | server RSS before | server peak RSS "
        "| client RSS before | client peak RSS |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for key, case in result["cases"].items():
        entry = summary.get(key, {})
        out.append(
            f"| {case['target']} | {case['direction']} | {case['client']} "
            f"| {_cell(entry.get('server_rss_before_mib'))} "
            f"| {_cell(entry.get('server_peak_rss_mib'))} "
            f"| {_cell(entry.get('client_rss_before_mib'))} "
            f"| {_cell(entry.get('client_peak_rss_mib'))} |"
        )
    if not all(rep.get("peak_reset") for reps in result["runs"].values() for rep in reps):
        out += ["", "The peak could not be reset in some runs: those show the lifetime peak."]
    out += [
        "",
        f"Target: tornadoservice at least {TARGET_RATIO} of the baseline's MiB/s, each compared "
        "with the baseline case doing the same work. Ratio of the medians, and per repetition "
        "(the two cases of the same repetition, run one after the other).",
        "",
        "| case | tornadoservice / baseline | ratio of medians | per repetition "
        f"| ≥ {TARGET_RATIO} |",
        "|---|---|---:|---:|---|",
    ]
    verdicts = []
    for name, ratio in result["ratios"].items():
        ours, theirs = result["cases"][ratio["ours"]], result["cases"][ratio["baseline"]]
        out.append(
            f"| {name} | {ours['client']} / {theirs['client']} "
            f"| {ratio['ratio_of_medians']:.2f} | {_cell(ratio['per_repetition'], 2)} "
            f"| {'met' if ratio['met'] else '**NOT met**'} |"
        )
        every = "" if ratio["met_every_repetition"] else ", not in every repetition"
        verdicts.append(
            f"{name} {ratio['ratio_of_medians']:.2f} ({'met' if ratio['met'] else 'NOT met'}"
            f"{every})"
        )
    out.append("")
    growth = rss_growth(result["runs"])
    if growth:
        worst = max(growth.values())
        out.append(
            f"Peak RSS growth of tornadoservice's processes over a transfer (peak minus RSS "
            f"just before, worst repetition): at most {worst:.0f} MiB "
            + ("(below" if worst < RSS_GROWTH_LIMIT_MIB else "(**not** below")
            + f" the {RSS_GROWTH_LIMIT_MIB} MiB limit): "
            + "; ".join(f"{name} {value:.0f}" for name, value in growth.items())
            + "."
        )
        out.append("")
    if len(result["ratios"]) < len(JUDGED):
        out.append("**Not judged:** some transfers failed (see the checks column).")
    elif all(ratio["met"] for ratio in result["ratios"].values()):
        out.append(f"**The {TARGET_RATIO} target is met in every case:** {'; '.join(verdicts)}.")
    else:
        out.append(
            f"**The {TARGET_RATIO} target is not met in every case:** {'; '.join(verdicts)}."
        )
    out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.transfer",
        description="receiveFile/sendFile of one big file against a bare Tornado handler, over "
        "mutual TLS on loopback, server on core 0 and client on core 1; prints markdown.",
    )
    parser.add_argument("--size-mib", type=int, default=1024, help="test file size (MiB)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each case")
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON")
    parser.add_argument("--workdir", type=Path, help="keep the PKI, test file and logs here")
    parser.add_argument("--client", help=argparse.SUPPRESS)  # internal: one client process
    args = parser.parse_args(argv)
    if args.client is not None:
        print(json.dumps(client_main(ClientSpec(**json.loads(args.client)))))
        return 0
    if args.size_mib < 1 or args.repeat < 1:
        parser.error("--size-mib and --repeat must be at least 1")
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    result = run_transfer(
        args.size_mib,
        args.repeat,
        args.workdir,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    given = argv if argv is not None else sys.argv[1:]
    result["command"] = ("python -m bench.transfer " + shlex.join(given)).strip()
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1))
    print(render_transfer(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
