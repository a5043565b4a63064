"""Stage ``verify``: the post-deploy checks (``nyxops verify``, through tunnels); a failure fails the deploy."""

from __future__ import annotations

from pyinfra.api.deploy import deploy

from deploys.common import CHECKS, REPO, data
from nyxops.deploy.operations import verified


@deploy("verify")
def verify_stage() -> None:
    d = data()
    verified(
        name="Post-deploy verification (nyxops verify)", data=d, checks=str(CHECKS), cwd=str(REPO), wait=d.verify_wait
    )
