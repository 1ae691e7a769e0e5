"""`python -m sandbox`: run the sandbox server."""

from __future__ import annotations

import sys

from sandbox._cli import main

if __name__ == "__main__":
    sys.exit(main())
