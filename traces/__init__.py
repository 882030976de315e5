"""Traces: the competing load on every PE and the DNN's budgets over time (docs/formats.md)."""

from traces.errors import TraceError
from traces.trace import BUDGET_FIELDS, KINDS, SPLITS, Budgets, Trace
from traces.trace_file import format_trace, load_trace, save_trace, validate_trace

__all__ = [
    "BUDGET_FIELDS",
    "KINDS",
    "SPLITS",
    "Budgets",
    "Trace",
    "TraceError",
    "format_trace",
    "load_trace",
    "save_trace",
    "validate_trace",
]
