"""The public Python surface is exactly what ``__all__`` says (httpx's habit)."""

from __future__ import annotations

import recops
import recops.contract
import recops.sdk


def test_sdk_exports() -> None:
    assert sorted(recops.sdk.__all__) == ["LoggerOptions", "LoggerStats", "OutcomeLogger", "RecordLogger",
                                          "RequestLogger", "keep", "read_spool_file",
                                          "track_training"]  # fmt: skip
    for name in recops.sdk.__all__:  # the SDK's own, or the contract's (which it imports alone)
        assert getattr(recops.sdk, name).__module__.startswith(("recops.sdk", "recops.contract"))


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


def test_package_inits_import_lazily() -> None:
    # Reading series or alerts must not load Ibis (and its engines): commands that only
    # read the store (`alerts`, `diagnose`, `trace`) start faster.
    import subprocess
    import sys

    code = (
        "import sys; import recops.monitors.series, recops.detect.alerts; "
        "from recops.detect import SeriesPoint; print('ibis' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    import recops.detect
    import recops.monitors

    assert recops.monitors.run_monitors.__module__ == "recops.monitors.runner"
    assert recops.detect.make_detector.__name__ == "make_detector"
    assert all(hasattr(recops.detect, name) for name in recops.detect.__all__)
