"""Framework helpers (each submodule imports its framework lazily)."""
