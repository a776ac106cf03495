"""``python -m prune_studio`` starts the desktop app."""

from prune_studio.ui.app import main

if __name__ == "__main__":
    raise SystemExit(main())
