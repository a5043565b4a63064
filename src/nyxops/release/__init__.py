"""A release on the host: its lock, its audit log, its backups, the health-gated switch and rollback.

Each module builds the shell the host runs and reads back what it prints; a ``Shell`` carries it,
over pyinfra's connection during a deploy and over fabric for the ``nyxops`` commands, so the
deploy and the operator's commands run the same code.
"""
