"""Stage ``ollama``: the CPU-only service up with its profile, healthy, and its models pulled only when missing."""

from __future__ import annotations

from pyinfra.api.deploy import deploy

from deploys.common import compose_project, data
from nyxops.deploy.operations import compose_up, ollama_pull, wait_healthy


@deploy("ollama")
def ollama_stage() -> None:
    d = data()
    up = compose_up(
        name="Ollama service (profile ollama, CPU only, limits from host data)",
        **compose_project(d),
        services=["ollama"],
        profiles=["ollama"],
    )
    wait_healthy(name="Wait until Ollama is healthy", container=d.container("ollama"), _if=up.did_change)
    fitting = [m.name for m in d.models if m not in d.too_large()]
    ollama_pull(name="Ollama models (only the missing ones)", container=d.container("ollama"), models=fitting)
