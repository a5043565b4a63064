"""Pick the embedder for a provider name."""

from __future__ import annotations

from nyxops.config import Settings
from nyxops.errors import UsageError
from nyxops.providers.base import Embedder
from nyxops.providers.ollama_client import OllamaClient
from nyxops.providers.openai_embed import OpenAIEmbedder


def embedder(settings: Settings, provider: str, model: str) -> Embedder:
    if provider == "openai":
        return OpenAIEmbedder(settings, model)
    if provider == "ollama":
        return OllamaClient(settings, model)
    raise UsageError(f"unknown provider {provider!r}: use openai or ollama")
