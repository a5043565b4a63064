"""Where the checks reach things: directly, or, with ``NYXOPS_HOST``, through SSH tunnels.

On the production host PostgreSQL, Ollama and the app listen on loopback only; from the
operator's machine they are reached through tunnels opened for the length of one verify run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from nyxops.config import Settings
from nyxops.errors import ConfigError
from nyxops.remote import Host, through_tunnel
from nyxops.verify.check import Context


@contextmanager
def session(settings: Settings, health_path: str = "/api/health") -> Iterator[Context]:
    direct = settings.database_url.get_secret_value() if settings.database_url else None
    if not settings.host:
        yield Context(settings, direct, settings.ollama_base_url, settings.app_health_url)
        return
    remote_url = settings.remote_database_url.get_secret_value() if settings.remote_database_url else direct
    if not remote_url:
        raise ConfigError("NYXOPS_HOST is set: give the host's database URL in NYXOPS_REMOTE_DATABASE_URL")
    with ExitStack() as stack:
        host = Host(settings).open()
        stack.callback(host.close)
        db_port = stack.enter_context(host.tunnel(settings.remote_db_port))
        ollama_port = stack.enter_context(host.tunnel(settings.remote_ollama_port))
        app_port = stack.enter_context(host.tunnel(settings.remote_app_port))
        yield Context(
            settings,
            through_tunnel(remote_url, db_port),
            f"http://127.0.0.1:{ollama_port}",
            settings.app_health_url or f"http://127.0.0.1:{app_port}{health_path}",
            remote=host,
        )
