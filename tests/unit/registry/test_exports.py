"""The registry's public surface is exactly ``__all__``, sorted, each name defined in the package."""

from __future__ import annotations

import subprocess
import sys

import recops.registry


def test_registry_exports() -> None:
    assert recops.registry.__all__ == sorted(recops.registry.__all__)
    for name in recops.registry.__all__:
        assert getattr(recops.registry, name).__module__.startswith("recops.registry"), name
    public = {n for n in vars(recops.registry) if not n.startswith("_")}
    submodules = {n for n in public if type(getattr(recops.registry, n)).__name__ == "module"}
    assert public - submodules - {"annotations"} == set(recops.registry.__all__)


def test_importing_the_registry_does_not_load_mlflow_or_openlineage() -> None:
    code = (
        "import sys, recops.registry; print(sorted(m for m in ('mlflow', 'openlineage') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
