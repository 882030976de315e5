"""``python -m dynscale`` runs the command line."""

from dynscale.cli import main

raise SystemExit(main())
