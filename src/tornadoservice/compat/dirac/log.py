"""DIRAC's ``gLogger``: the root of the loggers that ported code writes to.

``gLogger`` is a :class:`~tornadoservice.core.log.DiracLogger` named ``DIRAC`` with DIRAC's
method names (``always``, ``notice``, ``info``, ``verbose``, ``debug``, ``warn``, ``error``,
``exception``, ``fatal``) and ``getSubLogger``; its records go through the standard
:mod:`logging` module, so ``tornadoservice serve``'s setup prints them.
"""

from __future__ import annotations

from tornadoservice.core.log import DiracLogger

__all__ = ["gLogger"]

gLogger = DiracLogger("DIRAC")
"""DIRAC's root logger; ``gLogger.getSubLogger("Name")`` logs as ``DIRAC.Name``."""
