"""Entry script of the PyInstaller bundle: the same as the ``prune-studio`` gui-script.

``prune-studio --self-test`` and every other flag are handled by ``prune_studio.ui.app``.
"""

import sys

from prune_studio.ui.app import main

if __name__ == "__main__":
    sys.exit(main())
