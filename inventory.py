"""pyinfra inventory: the ``prod`` group, one Hetzner host.

``NYXOPS_HOST``, ``NYXOPS_SSH_PORT``, ``NYXOPS_SSH_USER``, ``NYXOPS_SSH_KEY`` (and
``NYXOPS_SSH_KNOWN_HOSTS``) point the same deploy at staging or the test host. Host data comes from
one validated model (``nyxops.deploy.hostdata``); a wrong value stops here, before any connection.
"""

from nyxops.deploy.inventory import production

prod = production()
