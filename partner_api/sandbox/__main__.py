"""`python -m partner_api.sandbox`: run the sandbox server."""

from __future__ import annotations

import sys

from partner_api.sandbox._cli import main

if __name__ == "__main__":
    sys.exit(main())
