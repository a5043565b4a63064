"""Stage ``verify``: the post-deploy checks (``nyxops verify``, through tunnels); a failure fails the deploy."""

from __future__ import annotations

from pyinfra.api.deploy import deploy

from deploys.common import CHECKS, REPO, data
from nyxops.deploy.operations import verified


@deploy("verify")
def verify_stage() -> None:
    verified(name="Post-deploy verification (nyxops verify)", data=data(), checks=str(CHECKS), cwd=str(REPO))
