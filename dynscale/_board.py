"""The verb board probe: what a board's kernel exposes, and what is missing or not permitted."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's verbs to the command line (filled in by its package's work)."""
