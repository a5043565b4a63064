"""Stage ``preflight`` (always first): what the host cannot give is refused before anything changes."""

from __future__ import annotations

from pyinfra.api.deploy import deploy

from deploys.common import data
from nyxops.deploy.operations import host_fits


@deploy("preflight")
def preflight_stage() -> None:
    d = data()
    host_fits(name="Host has room for the Ollama limits", cpus=d.ollama_cpus, memory_bytes=d.memory_limit_bytes)
