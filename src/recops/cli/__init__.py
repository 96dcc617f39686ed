"""The command line: thin Typer commands over the library."""

from __future__ import annotations
