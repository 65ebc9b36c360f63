"""The CLI's one exception: a message for the user and the exit code to leave with."""

from __future__ import annotations


class CLIError(Exception):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
