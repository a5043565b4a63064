"""The drop guard: static rules over parse trees (layer 1) and event triggers inside PostgreSQL (layer 2)."""
