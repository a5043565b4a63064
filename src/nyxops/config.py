"""One settings model for every command: environment, an optional ``nyxops.toml``, defaults.

Why one model: the CLI, the deploy and the tests must agree on what a target or a protected
column is, and a wrong value must stop the run with the field's name before anything connects.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from nyxops.defaults import PROTECTED_COLUMNS
from nyxops.errors import ConfigError
from nyxops.names import QualifiedName

Provider = Literal["openai", "ollama"]


class EmbeddingTarget(BaseModel):
    """One write path of embeddings: which rows, which text, which column, which model."""

    name: str
    table: str
    key: str = "id"
    text_sql: str = Field(description="SQL expression over the table's columns giving the text to embed")
    column: str = "embedding"
    dimension: int = Field(1536, gt=0, le=16000)
    provider: Provider = "openai"
    model: str = "text-embedding-3-small"
    created_column: str | None = Field(None, description="timestamp column for the NULL grace window")

    @property
    def qualified(self) -> QualifiedName:
        return QualifiedName.parse(self.table)


def default_targets() -> list[EmbeddingTarget]:
    """nyxcore's three write paths of embeddings."""
    return [
        EmbeddingTarget(
            name="workflow_insights",
            table="public.workflow_insights",
            text_sql="coalesce(title, '') || E'\\n\\n' || coalesce(content, '')",
            created_column="created_at",
        ),
        EmbeddingTarget(
            name="pipeline_insights",
            table="public.pipeline_insights",
            text_sql="coalesce(summary, '')",
            created_column="created_at",
        ),
        EmbeddingTarget(
            name="discussion_knowledge",
            table="public.discussion_knowledge",
            text_sql="coalesce(question, '') || E'\\n' || coalesce(answer, '')",
            created_column="created_at",
        ),
    ]


GIB = 1024**3
MIB = 1024**2
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmg]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": MIB, "g": GIB}
# Bytes of KV cache per token of context (f16 keys and values: 2 x layers x KV heads x head size x 2).
# Unknown models are counted as the largest common 7-8B model (llama3.1:8b): too much, never too little.
UNKNOWN_KV_BYTES_PER_TOKEN = 131_072


def memory_bytes(text: str) -> int:
    """A memory size read as Docker and compose read ``mem_limit``: ``5G`` is 5 GiB (5368709120), not 5e9."""
    match = _MEMORY.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a memory size; write it as compose does, for example 5G or 5120M")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / MIB:.0f} MiB"


class OllamaModel(BaseModel):
    name: str
    role: Literal["default", "fast", "optional"] = "optional"
    size_gb: float = Field(gt=0, description="size of the weights, as `ollama list` shows it (GB)")
    kv_bytes_per_token: int | None = Field(None, gt=0, description="KV cache per token of context")

    def need_bytes(self, context: int, parallel: int, overhead: int) -> tuple[int, str]:
        """Memory the loaded model needs: weights, KV cache at this context and parallelism, the runner."""
        weights = int(self.size_gb * 1e9)
        kv = (self.kv_bytes_per_token or UNKNOWN_KV_BYTES_PER_TOKEN) * context * parallel
        total = weights + kv + overhead
        why = (f"{gib(weights)} weights + {gib(kv)} KV cache at {context} tokens x {parallel}"
               f" + {gib(overhead)} runner")  # fmt: skip
        return total, f"about {gib(total)} ({why})"


def default_models() -> list[OllamaModel]:
    return [
        OllamaModel(name="qwen2.5:7b", role="default", size_gb=4.7, kv_bytes_per_token=57_344),
        OllamaModel(name="qwen2.5:3b", role="fast", size_gb=1.9, kv_bytes_per_token=36_864),
        OllamaModel(name="llama3.2:3b", role="optional", size_gb=2.0, kv_bytes_per_token=114_688),
    ]


class OllamaSettings(BaseModel):
    """Ollama's models and limits: one set of names (``NYXOPS_OLLAMA_*``) for the deploy and for verify."""

    ollama_models: list[OllamaModel] = Field(default_factory=default_models)
    ollama_memory: str = Field("5G", description="the container's memory limit, as compose writes it")
    ollama_context_length: int = Field(4096, ge=256, le=1_048_576)
    ollama_num_parallel: int = Field(1, ge=1, le=64)
    ollama_runner_overhead_mb: int = Field(256, ge=0)

    @field_validator("ollama_memory")
    @classmethod
    def _memory_size(cls, value: str) -> str:
        if memory_bytes(value) < 64 * MIB:
            raise ValueError(f"{value} is below 64 MiB: write it as compose does, for example 5G")
        return value

    @property
    def memory_limit_bytes(self) -> int:
        return memory_bytes(self.ollama_memory)

    def model_need(self, model: OllamaModel) -> tuple[int, str]:
        return model.need_bytes(self.ollama_context_length, self.ollama_num_parallel,
                                self.ollama_runner_overhead_mb * MIB)  # fmt: skip

    def too_large(self) -> list[OllamaModel]:
        """Models that will not fit the memory limit once loaded."""
        return [m for m in self.ollama_models if self.model_need(m)[0] > self.memory_limit_bytes]

    def memory_problems(self) -> list[str]:
        """A sentence per default or fast model that does not fit, naming the setting to change."""
        return [
            f"{m.name} ({m.role}) needs {self.model_need(m)[1]}, more than the {self.ollama_memory} limit; raise "
            "NYXOPS_OLLAMA_MEMORY, lower NYXOPS_OLLAMA_CONTEXT_LENGTH or choose a smaller model"
            for m in self.too_large()
            if m.role != "optional"
        ]

    @property
    def default_model(self) -> OllamaModel:
        return next((m for m in self.ollama_models if m.role == "default"), self.ollama_models[0])


class Settings(BaseSettings, OllamaSettings):
    """Environment ``NYXOPS_*`` (plus the app's own ``DATABASE_URL``, ``OPENAI_*``, ``OLLAMA_BASE_URL``)."""

    model_config = SettingsConfigDict(env_prefix="NYXOPS_", extra="forbid", populate_by_name=True)

    database_url: SecretStr | None = Field(None, validation_alias=AliasChoices("NYXOPS_DATABASE_URL", "DATABASE_URL"))
    migrations_dir: Path = Path("migrations")
    lock_timeout: str = "5s"
    statement_timeout: str = "10min"
    protected_columns: list[str] = Field(default_factory=lambda: list(PROTECTED_COLUMNS))
    embedding_targets: list[EmbeddingTarget] = Field(default_factory=default_targets)

    openai_api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(None, validation_alias=AliasChoices("OPENAI_BASE_URL"))
    openai_timeout: float = Field(20.0, gt=0)
    openai_max_retries: int = Field(3, ge=0, le=20)
    ollama_base_url: str = Field("http://localhost:11434", validation_alias=AliasChoices("OLLAMA_BASE_URL"))
    ollama_timeout: float = Field(120.0, gt=0)

    null_grace_minutes: float = Field(10.0, ge=0)
    app_health_url: str | None = None
    host: str | None = None
    ssh_port: int = Field(22, gt=0, lt=65536)
    ssh_user: str = "root"
    ssh_key: Path | None = None
    ssh_known_hosts: Path | None = None
    remote_db_port: int = Field(5432, gt=0, lt=65536)
    remote_ollama_port: int = Field(11434, gt=0, lt=65536)
    remote_app_port: int = Field(3000, gt=0, lt=65536)
    app_admin_header: str = Field("authorization", pattern=r"^[A-Za-z0-9-]+$")
    app_request_timeout: float = Field(30.0, gt=0)
    remote_database_url: SecretStr | None = None
    app_dir: str = "/opt/nyxcore"
    compose_project: str = "nyxcore"
    disk_threshold: int = Field(80, gt=0, le=100)
    backup_dir: str = Field("", pattern=r"^(/[A-Za-z0-9._/-]+)?$", description="default: <app_dir>/backups")
    backup_keep: int = Field(7, ge=1, le=1000)
    keep_releases: int = Field(5, ge=2, le=100)
    health_timeout: int = Field(120, ge=5, le=3600)
    public_url: str | None = Field(None, pattern=r"^https?://[^/]+$")
    public_address: str | None = None
    public_ca: Path | None = None
    public_tls: Literal["acme", "internal"] = "acme"
    health_path: str = Field("/api/health", pattern=r"^/")

    @property
    def protected(self) -> list[QualifiedName]:
        """``protected_columns`` as names (each checked by the validator below)."""
        return [QualifiedName.parse(c, parts=(2, 3)) for c in self.protected_columns]

    @field_validator("protected_columns")
    @classmethod
    def _columns_are_qualified(cls, value: list[str]) -> list[str]:
        for item in value:
            QualifiedName.parse(item, parts=(2, 3))
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("NYXOPS_CONFIG", "nyxops.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file))

    @property
    def timeouts(self) -> tuple[str, str]:
        """``lock_timeout`` and ``statement_timeout``, for a migration's statements and nyxops' reads."""
        return self.lock_timeout, self.statement_timeout

    def require_database_url(self) -> str:
        if self.database_url is None or not self.database_url.get_secret_value():
            raise ConfigError("no database: set DATABASE_URL (or pass --database-url postgresql://user@host/db)")
        return self.database_url.get_secret_value()


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with ``overrides`` (CLI flags) on top; a bad value is a ConfigError."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    config_path = os.environ.get("NYXOPS_CONFIG")
    if config_path and not Path(config_path).is_file():
        raise ConfigError(f"NYXOPS_CONFIG points to {config_path}, which is not a file")
    try:
        return Settings(**clean)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            lines.append(f"  {where}: {err['msg']}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from None
    except SettingsError as exc:  # a list or table setting whose environment value is not JSON
        raise ConfigError(_not_json(str(exc))) from None
    except ValueError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None


_EXAMPLES = {
    "protected_columns": "'[\"public.workflow_insights.embedding\"]'",
    "embedding_targets": '\'[{"name": "insights", "table": "public.workflow_insights", "text_sql": "content"}]\'',
}


def _not_json(message: str) -> str:
    """pydantic-settings says which field and source; the operator needs the variable and its form."""
    field = re.search(r'field "(?P<name>\w+)"', message)
    if field is None or "EnvSettingsSource" not in message:
        return f"invalid configuration: {message}"
    name = field["name"]
    variable = "NYXOPS_" + name.upper()
    example = _EXAMPLES.get(name, "'[...]' or '{...}'")
    return (
        f"invalid configuration: {variable} is not JSON. A list or table setting is written in the "
        f"environment as JSON, for example {variable}={example}"
    )
