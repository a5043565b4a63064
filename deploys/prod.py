"""The nyxcore production deploy: ``pyinfra inventory.py deploys/prod.py [--dry] [--data stages=host,config]``.

Stages run in order: host -> config -> ollama -> release -> verify, between the deploy lock (taken
first, with the pre-deploy hook) and the audit line (written last, lock released, post-deploy hook).
Each stage is idempotent: a second run reports no change for its operations (verify aside, which
always checks; the lock and the audit line are the deploy's own and run every time).
"""

from deploys.common import data
from deploys.config import config_stage
from deploys.host import host_stage
from deploys.ollama import ollama_stage
from deploys.preflight import preflight_stage
from deploys.release import release_stage
from deploys.session import audit_stage, lock_stage
from deploys.verify import verify_stage

STAGES = {
    "host": host_stage,
    "config": config_stage,
    "ollama": ollama_stage,
    "release": release_stage,
    "verify": verify_stage,
}

selected = data().stages
preflight_stage()
lock_stage()
for name, stage in STAGES.items():
    if name in selected:
        stage()
audit_stage()
