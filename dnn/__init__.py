"""dnn (being built)."""
