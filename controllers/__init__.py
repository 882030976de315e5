"""controllers (being built)."""
