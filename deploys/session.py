"""The deploy's own bookkeeping around the stages: the host's deploy lock and hooks first, the audit line last.

The session is registered with pyinfra's callbacks when the plan is made, so a stage that fails still
writes its audit lines, releases the lock and tells the post-deploy hook (pyinfra has no ``finally``).
"""

from __future__ import annotations

from pyinfra.api.deploy import deploy
from pyinfra.context import host, state

from deploys.common import REPO, data
from nyxops.deploy.release_ops import deploy_locked, deploy_recorded
from nyxops.deploy.session import CURRENT, Session, SessionCallback


@deploy("lock")
def lock_stage() -> None:
    d = data()
    session = Session(d, d.hooks_dir or REPO / "deploys" / "hooks")
    CURRENT[host.name] = session
    state.add_callback_handler(SessionCallback(session, host.name))
    deploy_locked(name="Deploy lock held for this deploy (pre-deploy hook after it)")


@deploy("audit")
def audit_stage() -> None:
    deploy_recorded(name="Deploy recorded in the host's audit log, lock released")
