"""The one exception of the configuration layer.

Everything that goes wrong while reading or combining configuration (a missing file, a syntax
error, a section that a later file turns into an option) is a :class:`ConfigError`. It is a
``ValueError`` so that code which only knows "bad value" still catches it, and its message always
names the file and, where one is known, the line: ``dirac.cfg:12: '}' without a matching '{'``.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration file could not be read, parsed or merged.

    ``source`` is the file as the caller named it (or a short label such as ``<dict>`` for
    configuration built in memory); ``line`` is 1-based, ``None`` when no line applies.
    """

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None):
        self.message = message
        self.source = source
        self.line = line
        if source is not None and line is not None:
            text = f"{source}:{line}: {message}"
        elif source is not None:
            text = f"{source}: {message}"
        else:
            text = message
        super().__init__(text)
