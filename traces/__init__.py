"""traces (being built)."""
