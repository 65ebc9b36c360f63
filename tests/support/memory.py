"""Memory of the test process, from /proc: for tests that must show constant memory."""

from __future__ import annotations


def rss_bytes() -> int:
    """The resident set size of this process now."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")
