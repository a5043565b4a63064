"""Logging for the commands (all but lint, which logs nothing): rich on standard error, libraries quieted."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

NOISY = ("httpx", "httpcore", "paramiko", "openai", "invoke", "fabric", "pgserver")


def configure(console: Console) -> None:
    from rich.logging import RichHandler

    handler = RichHandler(console=console, show_path=False)
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[handler], force=True)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
