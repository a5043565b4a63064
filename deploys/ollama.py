"""Stage ``ollama``: the CPU-only service up with its profile, healthy, its models pulled only when missing,
and the default model loaded."""

from __future__ import annotations

from pyinfra.api.deploy import deploy

from deploys.common import compose_project, data
from nyxops.deploy.operations import compose_up, ollama_pull, ollama_warm, wait_healthy


@deploy("ollama")
def ollama_stage() -> None:
    d = data()
    up = compose_up(
        name="Ollama service (profile ollama, CPU only, limits from host data)",
        **compose_project(d),
        services=["ollama"],
        profiles=["ollama"],
    )
    wait_healthy(name="Wait until Ollama is healthy", project=d.compose_project, service="ollama", timeout=180,
                 _if=up.did_change)  # fmt: skip
    fitting = [m.name for m in d.ollama_models if m not in d.too_large()]
    ollama_pull(name="Ollama models (only the missing ones)", project=d.compose_project, models=fitting)
    ollama_warm(
        name=f"Default model {d.default_model.name} loaded",
        project=d.compose_project,
        model=d.default_model.name,
        keep_alive=d.ollama_keep_alive,
        port=d.ollama_port,
    )
