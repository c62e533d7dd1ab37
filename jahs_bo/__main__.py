"""``python -m jahs_bo`` runs the ``jahs-bo`` command line."""

from __future__ import annotations

import sys

from jahs_bo.cli import main

if __name__ == "__main__":
    sys.exit(main())
