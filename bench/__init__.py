"""``python -m bench``: tornadoservice against bare Tornado (and FastAPI) over mutual TLS.

Modules: :mod:`bench.pki` (the certificates), :mod:`bench.servers` (one process per server
under test), :mod:`bench.loadgen` (the closed-loop load generator, its own process),
:mod:`bench.runner` (starts, pins and stops the processes, gathers the numbers),
:mod:`bench.report` (docs/benchmarks.md) and :mod:`bench.cli` (the options).
"""
