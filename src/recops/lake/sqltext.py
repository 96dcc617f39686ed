"""SQL text built from names and strings: quoted identifiers and string literals.

Both follow standard SQL (a doubled quote inside), which DuckDB and PostgreSQL share.
Values that are data go into queries as parameters; these are for what parameters
cannot carry: column names, map keys, file lists.
"""

from __future__ import annotations


def quote(name: str) -> str:
    """An identifier: ``a"b`` becomes ``"a""b"``."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A string literal: ``it's`` becomes ``'it''s'``."""
    return "'" + text.replace("'", "''") + "'"
