"""``python -m prune_studio.cli`` is ``prune-studio-cli``."""

from prune_studio.cli import main

raise SystemExit(main())
