"""Embeddings in the database: the live backfill, the Batch API path, the vector index, vectors as one parameter."""
