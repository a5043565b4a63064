"""An inventory of one ``@fake`` host (pyinfra's scripted connector) for the stages that need Docker.

The scenario file (``NYXOPS_FAKE_SCENARIO``) scripts what the host answers: ``[matcher, response]``
pairs, a matcher starting with ``re:`` being a regular expression. Host data is the same validated
model as production's; SSH settings in it point the operator-side work (tunnels) at the real test host.
"""

import json
import os
import re
from pathlib import Path

from nyxops.deploy.hostdata import load_host_data

scenario = json.loads(Path(os.environ["NYXOPS_FAKE_SCENARIO"]).read_text())
responses = {(re.compile(m[3:]) if m.startswith("re:") else m): r for m, r in scenario["responses"]}
data = load_host_data().model_dump(mode="json")
ssh = {
    key: os.environ[env]
    for key, env in (("ssh_hostname", "NYXOPS_TUNNEL_HOST"), ("ssh_port", "NYXOPS_SSH_PORT"),
                     ("ssh_key", "NYXOPS_SSH_KEY"), ("ssh_known_hosts_file", "NYXOPS_SSH_KNOWN_HOSTS"))
    if os.environ.get(env)
}  # fmt: skip
prod = [("@fake/prod", {**data, **ssh, "fake_responses": responses, "fake_delay": 0, "fake_delay_jitter": 0})]
