"""The production inventory, validated before pyinfra connects to anything."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from nyxops.deploy.hostdata import HostData, load_host_data
from nyxops.deploy.secrets import load_secrets
from nyxops.errors import ConfigError

PRODUCTION_HOST = "nyxcore-prod"  # an alias in the operators' ~/.ssh/config


def production(environ: Mapping[str, str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """``[(host, data)]`` for the prod group: SSH from ``NYXOPS_HOST``/``_SSH_*``, host data from the model.

    Host key checking is strict: an unknown host key stops the deploy (see ``NYXOPS_SSH_KNOWN_HOSTS``).
    """
    environ = os.environ if environ is None else environ
    try:
        data = load_host_data()
        if {"config", "release", "verify"} & set(data.stages):
            load_secrets(data, environ)  # fail now, before any connection, not halfway through
        port = int(environ.get("NYXOPS_SSH_PORT", "22"))
    except (ConfigError, ValueError) as exc:
        print(f"nyxops inventory: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    ssh: dict[str, Any] = {
        "ssh_port": port,
        "ssh_user": environ.get("NYXOPS_SSH_USER", "root"),
        "ssh_strict_host_key_checking": "yes",
    }
    if environ.get("NYXOPS_SSH_KEY"):
        ssh["ssh_key"] = environ["NYXOPS_SSH_KEY"]
    if environ.get("NYXOPS_SSH_KNOWN_HOSTS"):
        ssh["ssh_known_hosts_file"] = environ["NYXOPS_SSH_KNOWN_HOSTS"]
    return [(environ.get("NYXOPS_HOST", PRODUCTION_HOST), {**ssh, **host_data_dict(data)})]


def host_data_dict(data: HostData) -> dict[str, Any]:
    return data.model_dump(mode="json")
