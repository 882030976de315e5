"""The verbs profile and deploy: the dynamic DNN measured and run live on a board."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's verbs to the command line (filled in by its package's work)."""
