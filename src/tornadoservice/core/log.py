"""Logging with DIRAC's logger vocabulary on top of the standard :mod:`logging` module.

Ported handlers call ``self.log.notice(...)``, ``self.log.warn(...)``, ``self.log.verbose(...)`` and
pass a second "variable part" argument (``log.error("Cannot open", path)``). :class:`DiracLogger`
accepts exactly that, and maps DIRAC's extra levels onto standard ones, so the records go through
ordinary handlers, filters and formatters.
"""

from __future__ import annotations

import logging
from typing import Any

NOTICE = logging.INFO + 5
VERBOSE = logging.DEBUG + 5
ALWAYS = logging.CRITICAL - 1

logging.addLevelName(NOTICE, "NOTICE")
logging.addLevelName(VERBOSE, "VERBOSE")
logging.addLevelName(ALWAYS, "ALWAYS")


class DiracLogger:
    """A thin wrapper around a :class:`logging.Logger` offering DIRAC's method names.

    ``message`` and ``variable`` are joined with a space, as DIRAC prints them. Values are never
    %-formatted, so a message containing ``%`` cannot break logging.
    """

    __slots__ = ("logger",)

    def __init__(self, name: str) -> None:
        self.logger = logging.getLogger(name)

    def get_sublogger(self, name: str) -> DiracLogger:
        return DiracLogger(f"{self.logger.name}.{name}")

    getSubLogger = get_sublogger

    def _log(self, level: int, message: object, variable: object, exc_info: bool = False) -> None:
        if not self.logger.isEnabledFor(level):
            return
        text = str(message) if variable in ("", None) else f"{message} {variable}"
        # stacklevel=3 points the record at the caller of debug()/info()/..., not at this module.
        self.logger.log(level, "%s", text, exc_info=exc_info, stacklevel=3)

    def debug(self, message: object, variable: object = "") -> None:
        self._log(logging.DEBUG, message, variable)

    def verbose(self, message: object, variable: object = "") -> None:
        self._log(VERBOSE, message, variable)

    def info(self, message: object, variable: object = "") -> None:
        self._log(logging.INFO, message, variable)

    def notice(self, message: object, variable: object = "") -> None:
        self._log(NOTICE, message, variable)

    def warn(self, message: object, variable: object = "") -> None:
        self._log(logging.WARNING, message, variable)

    warning = warn

    def error(self, message: object, variable: object = "") -> None:
        self._log(logging.ERROR, message, variable)

    def exception(self, message: object = "", variable: object = "", **_: Any) -> None:
        self._log(logging.ERROR, message, variable, exc_info=True)

    def fatal(self, message: object, variable: object = "") -> None:
        self._log(logging.CRITICAL, message, variable)

    critical = fatal

    def always(self, message: object, variable: object = "") -> None:
        self._log(ALWAYS, message, variable)
