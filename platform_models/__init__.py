"""platform_models (being built)."""
