"""``python -m dynscale`` runs the command line."""

try:
    from dynscale.cli import main
except KeyboardInterrupt:  # Ctrl-C while the command line's modules load: nothing has started
    raise SystemExit(130) from None

raise SystemExit(main())
