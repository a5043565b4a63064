"""How a compose service's container is found and a compose command is built, on any host shell.

Light on purpose (no pyinfra): the facts, the release code and the operator's commands share it.
Containers are found by compose's labels, never by name, and never a ``compose run`` one-off.
"""

from __future__ import annotations

import shlex

NO_CONTAINER = "nyxops: no running container"
SERVICE_NOT_ONE_OFF = "label=com.docker.compose.oneoff=False"
"""A service's own containers, not ``compose run`` ones (the release candidate, the schema tool's run)."""


def compose_argv(compose: list[str], project: str, file: str, profiles: list[str]) -> list[str]:
    """The compose command for the project's file and profiles, as every compose call on the host starts."""
    argv = [*compose, "-p", project, "-f", file]
    for profile in profiles:
        argv += ["--profile", profile]
    return argv


def find_container(project: str, service: str, var: str = "c") -> str:
    """Shell that sets ``$var`` to the running container of a compose service, found by its labels."""
    ps = ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}",
          "--filter", f"label=com.docker.compose.service={service}", "--filter", SERVICE_NOT_ONE_OFF]  # fmt: skip
    return f"{var}=$({shlex.join(ps)} | head -n1)"


def psql(query: str, user: str = "nyxcore", database: str = "nyxcore") -> list[str]:
    """psql in the database container, one query, unaligned rows only (what a script reads back)."""
    return ["psql", "-XtAq", "-U", user, "-d", database, "-c", query]


def count_tables(user: str = "nyxcore", database: str = "nyxcore") -> list[str]:
    """psql, in the database container, counting the tables outside the system schemas."""
    query = "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    return psql(query, user, database)
