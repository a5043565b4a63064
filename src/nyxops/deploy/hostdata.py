"""Host data: one pydantic model, validated before any connection (a wrong value names its field)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from nyxops.config import OllamaSettings
from nyxops.errors import ConfigError

log = logging.getLogger("nyxops.deploy")
STAGES = ("host", "config", "ollama", "release", "verify")


class HostData(BaseSettings, OllamaSettings):
    """Everything the stages read from ``host.data``; env ``NYXOPS_<FIELD>`` or pyinfra ``--data``."""

    model_config = SettingsConfigDict(env_prefix="NYXOPS_", extra="ignore")

    app_dir: str = Field("/opt/nyxcore", pattern=r"^/[A-Za-z0-9._/-]+$")
    compose_project: str = Field("nyxcore", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    docker_source: Literal["docker", "debian"] = "docker"
    git_repo: str = "git@github.com:nyxcore/nyxcore.git"
    git_ref: str = Field("production", pattern=r"^[A-Za-z0-9._/-]+$")
    build_no_cache: bool = False
    deploy_user: str = Field("deploy", pattern=r"^[a-z_][a-z0-9_-]*$")
    firewall_ports: list[int] = Field(default_factory=lambda: [22, 80, 443])
    firewall_apply: bool = True
    disk_threshold: int = Field(80, gt=0, le=100)
    db_port: int = Field(5432, gt=0, lt=65536)
    ollama_port: int = Field(11434, gt=0, lt=65536)
    app_port: int = Field(3000, gt=0, lt=65536)
    health_path: str = Field("/api/health", pattern=r"^/")
    db_image: str = "pgvector/pgvector:pg16"
    ollama_image: str = "ollama/ollama:latest"
    ollama_cpus: float = Field(3.0, gt=0, le=256, description="checked against the host's CPUs before any change")
    ollama_keep_alive: str = Field("-1", pattern=r"^-?\d+[smh]?$", description="-1: the model stays loaded")
    app_schema_command: str = Field(
        "npx prisma migrate deploy", min_length=1, description="run once in the app image on an empty database"
    )
    restore_backup: Path | None = Field(None, description="a pg_dump -Fc file restored into an empty database instead")
    prune_cache_age: str = Field("168h", pattern=r"^\d+[smh]$", description="build cache older than this is pruned")
    secrets_file: Path | None = None
    verify_wait: float = Field(120.0, ge=0, description="seconds verify retries failing checks (services starting)")
    lock_wait: float = Field(0, ge=0, le=86400, description="seconds a deploy waits for another's lock")
    deploy_message: str = Field("", max_length=200, description="why: kept with the lock and in the audit log")
    hooks_dir: Path | None = Field(None, description="pre-deploy / post-deploy executables (default deploys/hooks)")
    migrations_dir: Path | None = Field(None, description="reviewed migrations (default migrations/)")
    backup_dir: str = Field("", pattern=r"^(/[A-Za-z0-9._/-]+)?$", description="default: <app_dir>/backups")
    backup_keep: int = Field(7, ge=1, le=1000)
    keep_releases: int = Field(5, ge=2, le=100, description="app images kept for rollback")
    health_timeout: int = Field(120, ge=5, le=3600, description="seconds a new release has to pass its health check")
    domain: str = Field("nyxcore.cloud", pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
    tls: Literal["acme", "internal"] = Field("acme", description="internal: Caddy's own CA (staging, tests)")
    acme_email: str = Field("", pattern=r"^([^@\s]+@[^@\s]+)?$")
    proxy_image: str = "caddy:2"
    public_address: str | None = Field(None, description="verify connects here instead of the domain's DNS")
    public_ca: Path | None = Field(None, description="CA bundle verify trusts for the public URL")
    stages: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(STAGES))

    @field_validator("stages", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return [s.strip() for s in value.split(",") if s.strip()] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> HostData:
        if sum(m.role == "default" for m in self.ollama_models) != 1:
            raise ValueError("ollama_models: exactly one model needs role default")
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown:
            raise ValueError(f"unknown stage(s) {', '.join(unknown)}; stages are {', '.join(STAGES)}")
        problems = self.memory_problems()
        if problems:
            raise ValueError("ollama_memory: " + "; ".join(problems))
        if self.restore_backup is not None and not self.restore_backup.is_file():
            raise ValueError(f"restore_backup: {self.restore_backup} is not a file on this machine")
        return self

    @property
    def compose_command(self) -> list[str]:
        """Docker's plugin (``docker compose``) or Debian's standalone compose."""
        return ["docker", "compose"] if self.docker_source == "docker" else ["docker-compose"]

    @property
    def app_image(self) -> str:
        """The app's image repository; each build is tagged with its commit, ``current`` is the one to run."""
        return f"{self.compose_project}-app"


def load_host_data(**overrides: object) -> HostData:
    """Env plus overrides (pyinfra ``--data``); a ConfigError naming the field when invalid."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        data = HostData(**clean)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc']) or 'host data'}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("invalid host data, nothing was changed:\n" + "\n".join(lines)) from None
    for model in data.too_large():
        log.warning("optional model %s needs %s, more than the %s limit: it will not be pulled", model.name,
                    data.model_need(model)[1], data.ollama_memory)  # fmt: skip
    return data
