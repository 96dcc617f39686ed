"""Packages that import their exported names on first use (PEP 562).

A package whose ``__init__`` imported every module it exports would load all their
dependencies (SQLAlchemy's ORM, DuckDB, Ibis) for the one name a command needs. Such a
package lists where each name lives and takes its module ``__getattr__`` from here;
type checkers read the same names from an ``if TYPE_CHECKING:`` block of imports.
Unlayered: every layer may use it, and it imports nothing of recops.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, sources: Mapping[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package``: imports the module ``sources`` names for
    an exported name (a full module path), and keeps the value on the package."""

    def __getattr__(name: str) -> Any:
        module = sources.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
