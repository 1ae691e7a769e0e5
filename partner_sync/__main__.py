"""`python -m partner_sync`: the `partner-sync` command."""

from __future__ import annotations

import sys

from partner_sync.cli import main

sys.exit(main())
