"""Stage ``release``: the app at its pinned ref, built for its commit, the schema, migrations, protect, the app.

Order matters on a first deploy: the database starts, the app's own schema tool (or a restored
backup) creates the schema of an empty database, and only then do nyxops' reviewed migrations run.
"""

from __future__ import annotations

from pyinfra.api.deploy import deploy
from pyinfra.operations import git

from deploys.common import MIGRATIONS, REPO, compose_project, data
from nyxops.deploy.operations import (
    app_image,
    app_running,
    app_schema,
    compose_up,
    migrations_applied,
    protect_installed,
    wait_healthy,
)


@deploy("release")
def release_stage() -> None:
    d = data()
    project = compose_project(d)
    git.repo(name=f"App source at {d.git_ref}", src=d.git_repo, dest=f"{d.app_dir}/src", branch=d.git_ref)
    app_image(
        name="App image for the checked-out commit" + (" (no cache)" if d.build_no_cache else ""),
        app_dir=d.app_dir,
        image=d.app_image,
        project=d.compose_project,
        no_cache=d.build_no_cache,
    )
    db = compose_up(name="Database service", **project, services=["db"], profiles=[])
    wait_healthy(name="Wait until the database is healthy", project=d.compose_project, service="db",
                 _if=db.did_change)  # fmt: skip
    app_schema(
        name="App schema on an empty database" + (" (restored from a backup)" if d.restore_backup else ""),
        **project,
        command=d.app_schema_command,
        restore=str(d.restore_backup) if d.restore_backup else None,
    )
    migrations_applied(name="Migrations (guarded runner, SSH tunnel)", data=d, directory=str(MIGRATIONS), cwd=str(REPO))
    protect_installed(name="Protect trigger for the protected columns (SSH tunnel)", data=d, cwd=str(REPO))
    app = app_running(name="App runs the current image", **project, image=d.app_image)
    wait_healthy(name="Wait until the app is healthy", project=d.compose_project, service="app", _if=app.did_change)
