"""Traces: the competing load on every PE and the DNN's budgets over time (docs/formats.md)."""

from traces.errors import TraceError
from traces.shipped import shipped_traces
from traces.summary import plot_trace, summarize
from traces.synthetic import GENERATED_KINDS, NOVEL_KINDS, BudgetScale, generate
from traces.trace import BUDGET_FIELDS, KINDS, SPLITS, Budgets, Trace
from traces.trace_file import format_trace, load_trace, save_trace, validate_trace

__all__ = [
    "BUDGET_FIELDS",
    "GENERATED_KINDS",
    "KINDS",
    "NOVEL_KINDS",
    "SPLITS",
    "BudgetScale",
    "Budgets",
    "Trace",
    "TraceError",
    "format_trace",
    "generate",
    "load_trace",
    "plot_trace",
    "save_trace",
    "shipped_traces",
    "summarize",
    "validate_trace",
]
