"""envs (being built)."""
