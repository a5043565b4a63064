"""Stage ``config``: the app folder, the compose file (validated by the host's compose), the ``.env``, the Caddyfile."""

from __future__ import annotations

from pyinfra.api.deploy import deploy
from pyinfra.operations import files

from deploys.common import COMPOSE_FILE, TEMPLATES, data
from nyxops.deploy.compose import render, render_text
from nyxops.deploy.operations import compose_file, secret_file
from nyxops.deploy.release_ops import caddyfile
from nyxops.deploy.secrets import env_file, load_secrets


@deploy("config")
def config_stage() -> None:
    d = data()
    compose = render(TEMPLATES / f"{COMPOSE_FILE}.j2", d)  # invalid YAML stops here, before the host is touched
    secrets = load_secrets(d)
    files.directory(name="App folder", path=d.app_dir, mode="750")
    files.directory(name="App source folder", path=f"{d.app_dir}/src", mode="750")
    secret_file(name="App .env (secrets, 0600, never printed)", path=f"{d.app_dir}/.env", content=env_file(d, secrets))
    compose_file(
        name=f"{COMPOSE_FILE} (validated before it replaces the old one)",
        app_dir=d.app_dir,
        filename=COMPOSE_FILE,
        content=compose,
        compose=d.compose_command,
        project=d.compose_project,
        profiles=["ollama"],
    )
    caddyfile(name=f"Caddyfile for {d.domain} (a running proxy reloads it)", app_dir=d.app_dir,
              content=render_text(TEMPLATES / "Caddyfile.j2", d), project=d.compose_project)  # fmt: skip
