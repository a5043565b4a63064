"""Stage ``release``: the app at its pinned ref, built, migrated through a tunnel, restarted."""

from __future__ import annotations

import shlex

from pyinfra.api.deploy import deploy
from pyinfra.operations import git, server

from deploys.common import COMPOSE_FILE, MIGRATIONS, REPO, compose_project, data
from nyxops.deploy.operations import compose_up, migrations_applied, wait_healthy


@deploy("release")
def release_stage() -> None:
    d = data()
    source = git.repo(name=f"App source at {d.git_ref}", src=d.git_repo, dest=f"{d.app_dir}/src", branch=d.git_ref)
    compose = [*d.compose_command, "-p", d.compose_project, "-f", COMPOSE_FILE]
    build = [*compose, "build", *(["--no-cache"] if d.build_no_cache else []), "app"]
    built = server.shell(
        name="Build the app image" + (" (no cache)" if d.build_no_cache else ""),
        commands=[f"cd {shlex.quote(d.app_dir)} && {shlex.join(build)}"],
        _if=(lambda: True) if d.build_no_cache else source.did_change,
    )
    db = compose_up(
        name="Database service",
        **compose_project(d),
        services=["db"],
        profiles=[],
    )
    wait_healthy(name="Wait until the database is healthy", container=d.container("db"), _if=db.did_change)
    migrations_applied(name="Migrations (guarded runner, SSH tunnel)", data=d, directory=str(MIGRATIONS), cwd=str(REPO))
    restart = [*compose, "up", "-d", "--no-deps", "--force-recreate", "app"]
    server.shell(
        name="Restart the app on the new image",
        commands=[f"cd {shlex.quote(d.app_dir)} && {shlex.join(restart)}"],
        _if=built.did_change,
    )
    compose_up(
        name="App service running as configured",
        **compose_project(d),
        services=["app"],
        profiles=[],
    )
