"""hw_agents (being built)."""
