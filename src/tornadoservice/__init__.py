"""tornadoservice: secure RPC services over HTTPS, wire-compatible with DIRAC."""
