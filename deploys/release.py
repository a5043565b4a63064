"""Stage ``release``: the app at its pinned ref, a backup, migrations between two protects, the switch.

Order matters on a first deploy: the database starts, the app's own schema tool (or a restored
backup) creates the schema of an empty database, and only then do nyxops' reviewed migrations run,
after a backup of the database as it was. The app is switched to the new image only once that image
has passed its health check beside the old one, then the proxy in front of it is started.
"""

from __future__ import annotations

from pyinfra.api.deploy import deploy
from pyinfra.operations import git

from deploys.common import REPO, compose_project, data, migrations
from nyxops.deploy.operations import app_image, app_schema, compose_up, protect_installed, wait_healthy
from nyxops.deploy.release_ops import app_switched, backup_before_migrations, migrations_recorded


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
        image=d.app_image,
        restore=str(d.restore_backup) if d.restore_backup else None,
    )
    folder = str(migrations(d))
    backup_before_migrations(name="Backup before the migrations (pg_dump, on the host)", data=d, directory=folder,
                             cwd=str(REPO))  # fmt: skip
    # Before the migrations too: a release that brings a newer nyxops (new trigger kinds) would
    # otherwise run its migrations with only what the older one installed, unarmed.
    protect_installed(name="Protect triggers before the migrations, so that they run armed (SSH tunnel)", data=d,
                      cwd=str(REPO))  # fmt: skip
    migrations_recorded(name="Migrations (guarded runner, SSH tunnel)", data=d, directory=folder, cwd=str(REPO))
    # After them as well: a protected column a migration has just created gets its triggers.
    protect_installed(name="Protect trigger for the protected columns (SSH tunnel)", data=d, cwd=str(REPO))
    app_switched(name="App switched to this commit once healthy (the old one serves until then)", **project,
                 image=d.app_image, timeout=d.health_timeout, keep=d.keep_releases)  # fmt: skip
    compose_up(name="Proxy (Caddy: TLS on 443, 80 redirected)", **project, services=["proxy"], profiles=[])
