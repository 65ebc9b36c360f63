"""Error numbers and the framework's base exception.

Error numbers travel on the wire in the ``Errno`` field of an ``S_ERROR``, and DIRAC clients
compare them with their own constants, so the numbers here are DIRAC's: the DIRAC-specific
codes (``DErrno``, 1000 and above) with their messages, plus the platform's standard ``errno``
values (``ENOENT``, ``EACCES``, ``ENOSYS`` ...), which DIRAC also uses as is.

Exceptions, inside the code::

    Exception
     └── TornadoServiceError          (every error the framework raises; has .errno)
          ├── SErrorException          (core.returnvalues: carries an S_ERROR dict)
          └── JEncodeError(+ValueError) (wire.jencode: bad JSON, unencodable object)

Other layers derive their own exceptions from :class:`TornadoServiceError`; the edges (handler
boundary, client boundary, CLI) turn them into ``S_ERROR(exc.errno, str(exc))`` or an HTTP
status.
"""

from __future__ import annotations

import errno as _errno
import os
from typing import ClassVar, Final

__all__ = [
    "DIRAC_MESSAGES",
    "E3RDPARTY",
    "EACCES",
    "EATOKENFIND",
    "EATOKENREAD",
    "EBADCKS",
    "ECERTFIND",
    "ECERTREAD",
    "ECONF",
    "ECONNREFUSED",
    "ECTMPF",
    "EDB",
    "EDISET",
    "EEEXCEPTION",
    "EELNOFOUND",
    "EENOPID",
    "EEXIST",
    "EEZOMBIE",
    "EFBIG",
    "EFCERR",
    "EFILESIZE",
    "EGFAL",
    "EIMPERR",
    "EINVAL",
    "EIO",
    "EMQCONN",
    "EMQNOM",
    "EMQUKN",
    "EMYSQL",
    "ENOAUTH",
    "ENOCERT",
    "ENOCHAIN",
    "ENOENT",
    "ENOGROUP",
    "ENOMETH",
    "ENOPKEY",
    "ENOSYS",
    "EOF",
    "EPERM",
    "EPROXYFIND",
    "EPROXYREAD",
    "ERESGEN",
    "ERESUNA",
    "ERESUNK",
    "ERF",
    "ERMSUKN",
    "ESECTION",
    "ESPF",
    "ESQLA",
    "ETIMEDOUT",
    "ETOKENTYPE",
    "ETSDATA",
    "ETSUKN",
    "ETYPE",
    "EVALUE",
    "EVOMS",
    "EWF",
    "EWMSJDL",
    "EWMSJMAN",
    "EWMSNOMATCH",
    "EWMSNOPILOT",
    "EWMSPLTVER",
    "EWMSRESC",
    "EWMSSTATUS",
    "EWMSSUBM",
    "EWMSUKN",
    "EX509",
    "TornadoServiceError",
    "strerror",
]

# --- Standard errno values the framework itself uses. Taken from the platform's errno module,
# as DIRAC does, so that the numbers match what a DIRAC peer on the same platform compares with.
EPERM: Final = _errno.EPERM
ENOENT: Final = _errno.ENOENT
EIO: Final = _errno.EIO
EACCES: Final = _errno.EACCES
EEXIST: Final = _errno.EEXIST
EINVAL: Final = _errno.EINVAL
EFBIG: Final = _errno.EFBIG
ENOSYS: Final = _errno.ENOSYS
ETIMEDOUT: Final = _errno.ETIMEDOUT
ECONNREFUSED: Final = _errno.ECONNREFUSED

# --- DIRAC-specific codes (DIRAC's DErrno). Ranges of 100 per DIRAC system.
# Generic, Python related
ETYPE: Final = 1000
EIMPERR: Final = 1001
ENOMETH: Final = 1002
ECONF: Final = 1003
EVALUE: Final = 1004
EEEXCEPTION: Final = 1005
# Generic, files
ECTMPF: Final = 1010
EOF: Final = 1011
ERF: Final = 1012
EWF: Final = 1013
ESPF: Final = 1014
# Core: certificates and proxies
EX509: Final = 1100
EPROXYFIND: Final = 1101
EPROXYREAD: Final = 1102
ECERTFIND: Final = 1103
ECERTREAD: Final = 1104
ENOCERT: Final = 1105
ENOCHAIN: Final = 1106
ENOPKEY: Final = 1107
ENOGROUP: Final = 1108
# Core: DISET (DIRAC's RPC layer)
EDISET: Final = 1110
ENOAUTH: Final = 1111
# Core: third-party security
E3RDPARTY: Final = 1120
EVOMS: Final = 1121
# Core: databases
EDB: Final = 1130
EMYSQL: Final = 1131
ESQLA: Final = 1132
# Core: message queues, Elasticsearch, processes
EMQUKN: Final = 1140
EMQNOM: Final = 1141
EMQCONN: Final = 1142
EELNOFOUND: Final = 1146
EEZOMBIE: Final = 1147
EENOPID: Final = 1148
# Core: tokens
EATOKENFIND: Final = 1150
EATOKENREAD: Final = 1151
ETOKENTYPE: Final = 1152
# Configuration
ESECTION: Final = 1400
# Workload management
EWMSUKN: Final = 1500
EWMSJDL: Final = 1501
EWMSRESC: Final = 1502
EWMSSUBM: Final = 1503
EWMSJMAN: Final = 1504
EWMSSTATUS: Final = 1505
EWMSNOMATCH: Final = 1510
EWMSPLTVER: Final = 1511
EWMSNOPILOT: Final = 1550
# Data management
EFILESIZE: Final = 1601
EGFAL: Final = 1602
EBADCKS: Final = 1603
EFCERR: Final = 1604
# Request management
ERMSUKN: Final = 1700
# Transformation system
ETSUKN: Final = 1900
ETSDATA: Final = 1901
# Resources
ERESGEN: Final = 2000
ERESUNA: Final = 2001
ERESUNK: Final = 2002

# DIRAC's message for each of its codes, verbatim: they are part of the wire format, since
# ``S_ERROR(code, msg)`` puts them into ``Message``.
DIRAC_MESSAGES: Final[dict[int, str]] = {
    ETYPE: "Object Type Error",
    EIMPERR: "Failed to import library",
    ENOMETH: "No such method or function",
    ECONF: "Configuration error",
    EVALUE: "Wrong value passed",
    EEEXCEPTION: "runtime general exception",
    ECTMPF: "Failed to create temporary file",
    EOF: "Cannot open file",
    ERF: "Cannot read from file",
    EWF: "Cannot write to file",
    ESPF: "Cannot set permissions to file",
    EX509: "Generic Error with X509",
    EPROXYFIND: "Can't find proxy",
    EPROXYREAD: "Can't read proxy",
    ECERTFIND: "Can't find certificate",
    ECERTREAD: "Can't read certificate",
    ENOCERT: "No certificate loaded",
    ENOCHAIN: "No chain loaded",
    ENOPKEY: "No private key loaded",
    ENOGROUP: "No DIRAC group",
    EDISET: "DISET Error",
    ENOAUTH: "Unauthorized query",
    E3RDPARTY: "3rd party security service error",
    EVOMS: "VOMS Error",
    EDB: "Database Error",
    EMYSQL: "MySQL Error",
    ESQLA: "SQLAlchemy Error",
    EMQUKN: "Unknown MQ Error",
    EMQNOM: "No messages",
    EMQCONN: "MQ connection failure",
    EELNOFOUND: "Index not found",
    EEZOMBIE: "Zombie process",
    EENOPID: "No PID of process",
    EATOKENFIND: "Can't find a bearer access token.",
    EATOKENREAD: "Can't read a bearer access token.",
    ETOKENTYPE: "Unsupported access token type.",
    ESECTION: "Section is not found",
    EWMSUKN: "Unknown WMS error",
    EWMSJDL: "Invalid job description",
    EWMSRESC: "Job to reschedule",
    EWMSSUBM: "Job submission error",
    EWMSJMAN: "Job management error",
    EWMSSTATUS: "Job status error",
    EWMSNOMATCH: "No match found",
    EWMSPLTVER: "Pilot version does not match",
    EWMSNOPILOT: "No pilots found",
    EFILESIZE: "Bad file size",
    EGFAL: "Error with the gfal call",
    EBADCKS: "Bad checksum",
    EFCERR: "FileCatalog error",
    ERMSUKN: "Unknown RMS error",
    ETSUKN: "Unknown Transformation System Error",
    ETSDATA: "Invalid Input Data definition",
    ERESGEN: "Unknown Resource Failure",
    ERESUNA: "Resource not available",
    ERESUNK: "Unknown Resource",
}


def strerror(code: int) -> str:
    """The message for an error number, as DIRAC words it.

    DIRAC's own message for its codes, the C library's message for standard ``errno`` values,
    ``"Undefined error"`` for 0 (DIRAC's wording), ``"Unknown error N"`` for anything else.
    """
    if code == 0:
        return "Undefined error"
    message = DIRAC_MESSAGES.get(code)
    if message is not None:
        return message
    try:
        return os.strerror(code)
    except (ValueError, OverflowError):
        # Some C libraries refuse unknown numbers instead of answering "Unknown error N";
        # numbers beyond a C int overflow before reaching the C library at all.
        return f"Unknown error {code}"


class TornadoServiceError(Exception):
    """Base class of every exception the framework raises.

    ``errno`` is the number an edge puts into ``S_ERROR`` when it converts the exception;
    subclasses set a fitting :attr:`default_errno`, and a raise site may override it.
    """

    default_errno: ClassVar[int] = 0

    def __init__(self, message: str = "", *, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno: int = self.default_errno if errno is None else errno
