"""Host data: one pydantic model, validated before any connection (a wrong value names its field)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from nyxops.config import OllamaModel, default_models
from nyxops.errors import ConfigError

log = logging.getLogger("nyxops.deploy")
STAGES = ("host", "config", "ollama", "release", "verify")


class HostData(BaseSettings):
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
    ollama_cpus: float = Field(3.0, gt=0, le=256)
    ollama_memory_gb: float = Field(5.0, gt=0, le=1024)
    models: list[OllamaModel] = Field(default_factory=default_models)
    default_model: str = "qwen2.5:7b"
    secrets_file: Path | None = None
    verify_wait: float = Field(120.0, ge=0, description="seconds verify retries failing checks (services starting)")
    stages: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(STAGES))

    @field_validator("stages", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return [s.strip() for s in value.split(",") if s.strip()] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> HostData:
        names = [m.name for m in self.models]
        if self.default_model not in names:
            raise ValueError(f"default_model {self.default_model} is not in models ({', '.join(names)})")
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown:
            raise ValueError(f"unknown stage(s) {', '.join(unknown)}; stages are {', '.join(STAGES)}")
        for model in self.models:
            if model.size_gb > self.ollama_memory_gb and model.role != "optional":
                raise ValueError(
                    f"ollama_memory_gb: {model.name} ({model.role}) needs about {model.size_gb:g} GB, more than "
                    f"the {self.ollama_memory_gb:g} GB limit; raise the limit or choose a smaller model"
                )
        return self

    @property
    def compose_command(self) -> list[str]:
        """Docker's plugin (``docker compose``) or Debian's standalone compose."""
        return ["docker", "compose"] if self.docker_source == "docker" else ["docker-compose"]

    @property
    def memory_bytes(self) -> int:
        return int(self.ollama_memory_gb * 1_000_000_000)

    def too_large(self) -> list[OllamaModel]:
        """Optional models that will not fit: pulled anyway would only fail at first use."""
        return [m for m in self.models if m.size_gb > self.ollama_memory_gb]

    def container(self, service: str) -> str:
        return f"{self.compose_project}-{service}-1"


def load_host_data(**overrides: object) -> HostData:
    """Env plus overrides (pyinfra ``--data``); a ConfigError naming the field when invalid."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        data = HostData(**clean)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc']) or 'host data'}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("invalid host data, nothing was changed:\n" + "\n".join(lines)) from None
    for model in data.too_large():
        log.warning("optional model %s (%.1f GB) does not fit %g GB: it will not be pulled", model.name,
                    model.size_gb, data.ollama_memory_gb)  # fmt: skip
    return data
