"""What every stage shares: the repository's folders and the validated host data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyinfra.context import host

from nyxops.deploy.hostdata import HostData, load_host_data

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "deploys" / "templates"
MIGRATIONS = REPO / "migrations"
CHECKS = REPO / "checks"
COMPOSE_FILE = "docker-compose.production.yml"


def data() -> HostData:
    """Host data as pyinfra holds it (inventory plus ``--data``), validated again: a bad ``--data`` names its field."""
    return load_host_data(**{name: host.data.get(name) for name in HostData.model_fields})


def migrations(d: HostData) -> Path:
    """The reviewed migrations this deploy applies: the repository's own, or ``NYXOPS_MIGRATIONS_DIR``."""
    return (d.migrations_dir or MIGRATIONS).resolve()


def compose_project(d: HostData) -> dict[str, Any]:
    """Where compose runs on the host: the arguments every compose operation takes."""
    return {"app_dir": d.app_dir, "compose": d.compose_command, "project": d.compose_project, "file": COMPOSE_FILE}
