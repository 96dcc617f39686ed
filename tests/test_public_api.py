"""The public Python surface is exactly what ``__all__`` says (httpx's habit)."""

from __future__ import annotations

import recops
import recops.contract
import recops.sdk


def test_sdk_exports() -> None:
    assert sorted(recops.sdk.__all__) == ["LoggerOptions", "LoggerStats", "OutcomeLogger", "RecordLogger",
                                          "RequestLogger", "keep", "track_training"]  # fmt: skip
    for name in recops.sdk.__all__:
        assert getattr(recops.sdk, name).__module__.startswith("recops.sdk")


def test_contract_exports_are_present() -> None:
    assert len(set(recops.contract.__all__)) == len(recops.contract.__all__)
    for name in recops.contract.__all__:
        assert hasattr(recops.contract, name)


def test_sdk_does_not_import_the_heavy_stack() -> None:
    import subprocess
    import sys

    heavy = "('duckdb', 'sqlalchemy', 'typer', 'rich')"
    code = f"import sys, recops.sdk; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
