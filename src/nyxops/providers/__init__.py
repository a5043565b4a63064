"""Thin wrappers over the official openai and ollama clients: timeouts, one retry layer, counts."""
