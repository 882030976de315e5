"""``python -m dynscale`` runs the command line."""

from platform_models.signals import hold_stop_signals

# first: a Ctrl-C or SIGTERM while the command line's modules load waits for run_command's try
hold_stop_signals()

from dynscale.cli import main  # noqa: E402  (after the hold)

raise SystemExit(main())
