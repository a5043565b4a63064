"""One settings model for every command: environment, an optional ``nyxops.toml``, defaults.

Why one model: the CLI, the deploy and the tests must agree on what a target or a protected
column is, and a wrong value must stop the run with the field's name before anything connects.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

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


class OllamaModel(BaseModel):
    name: str
    role: Literal["default", "fast", "optional"] = "optional"
    size_gb: float = Field(gt=0, description="memory the model needs when loaded (Q4 weights + context)")


def default_models() -> list[OllamaModel]:
    return [
        OllamaModel(name="qwen2.5:7b", role="default", size_gb=4.7),
        OllamaModel(name="qwen2.5:3b", role="fast", size_gb=1.9),
        OllamaModel(name="llama3.2:3b", role="optional", size_gb=2.0),
    ]


class Settings(BaseSettings):
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
    openai_timeout: float = Field(30.0, gt=0)
    openai_max_retries: int = Field(6, ge=0, le=20)
    ollama_base_url: str = Field("http://localhost:11434", validation_alias=AliasChoices("OLLAMA_BASE_URL"))
    ollama_timeout: float = Field(120.0, gt=0)
    ollama_models: list[OllamaModel] = Field(default_factory=default_models)
    ollama_memory_limit_gb: float = Field(5.0, gt=0)

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
    remote_database_url: SecretStr | None = None
    app_dir: str = "/opt/nyxcore"
    compose_project: str = "nyxcore"
    disk_threshold: int = Field(80, gt=0, le=100)

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
    def default_model(self) -> OllamaModel:
        return next((m for m in self.ollama_models if m.role == "default"), self.ollama_models[0])

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
    except ValueError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None
