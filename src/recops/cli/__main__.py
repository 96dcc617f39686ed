"""``python -m recops.cli``."""

from __future__ import annotations

from recops.cli.main import run

run()
