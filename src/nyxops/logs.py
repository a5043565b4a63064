"""Logging for the commands (all but lint, which logs nothing): standard error, secrets scrubbed, libraries quieted."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

NOISY = ("httpx", "httpx2", "httpcore", "httpcore2", "paramiko", "openai", "invoke", "fabric", "pgserver")


class Scrubber(logging.Filter):
    """Every record's text with the process's secret values replaced (``names.scrub_secrets``)."""

    def __init__(self) -> None:
        super().__init__()
        from nyxops.names import known_secrets

        self.secrets = known_secrets()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            from nyxops.names import scrub_secrets

            record.msg, record.args = scrub_secrets(record.getMessage(), self.secrets), None
        return True


def configure(console: Console) -> None:
    """rich's columns on a terminal; in a pipe or a CI log, one plain line per record.

    rich pads each log line to the console's width (400 columns in a pipe, where tables keep their
    full names) and leaves out a time equal to the line before: a CI log or a file needs every
    line's own date and time, and no trailing blanks.
    """
    handler: logging.Handler
    if console.is_terminal:
        from rich.logging import RichHandler

        handler = RichHandler(console=console, show_path=False)
    else:
        handler = logging.StreamHandler(console.file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.addFilter(Scrubber())
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[handler], force=True)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
