"""Compatibility layers: the names other frameworks' code imports, over tornadoservice's own.

:mod:`tornadoservice.compat.dirac` holds DIRAC's service-layer API, so that a DIRAC handler
ports by changing ``from DIRAC... import X`` into ``from tornadoservice.compat.dirac import X``.
"""
