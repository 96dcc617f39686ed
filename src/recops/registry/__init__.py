"""The model registry: versions (immutable), lineage, aliases with history, validations,
the hash-chained audit log, MLflow import and OpenLineage export (docs/registry.md).

Library calls take the workspace's ``Store`` (and ``Lake`` where request logs or
arrivals are read); the serving lookup is :func:`resolve_alias`.

These names are imported on first use (PEP 562), not with the package: most of the
registry writes through SQLAlchemy's ORM, whose import takes a third of a second, while
:mod:`recops.registry.reads` (one version, the alias history) and ``lineage_of`` read in
plain SQL without it, which keeps ``recops trace`` of a registered version under its
one-second budget.
"""

from __future__ import annotations

# Private names: the package's public names are exactly ``__all__`` (and its submodules).
import sys as _sys
import typing as _typing
from types import ModuleType as _ModuleType

from recops.lazy import lazy_getattr as _lazy_getattr

if _typing.TYPE_CHECKING:
    from recops.registry.aliases import alias_history as alias_history
    from recops.registry.aliases import current_aliases as current_aliases
    from recops.registry.aliases import remove_alias as remove_alias
    from recops.registry.aliases import resolve_alias as resolve_alias
    from recops.registry.aliases import served_at as served_at
    from recops.registry.aliases import set_alias as set_alias
    from recops.registry.capture import capture_code as capture_code
    from recops.registry.capture import capture_environment as capture_environment
    from recops.registry.datasets import declared_dataset as declared_dataset
    from recops.registry.datasets import describe_dataset as describe_dataset
    from recops.registry.entities import AliasEvent as AliasEvent
    from recops.registry.entities import AliasState as AliasState
    from recops.registry.entities import AliasWindow as AliasWindow
    from recops.registry.entities import AuditEntry as AuditEntry
    from recops.registry.entities import CodeRef as CodeRef
    from recops.registry.entities import DatasetRef as DatasetRef
    from recops.registry.entities import EnvironmentRef as EnvironmentRef
    from recops.registry.entities import LineageEdge as LineageEdge
    from recops.registry.entities import ModelVersion as ModelVersion
    from recops.registry.entities import TrainingRunRecord as TrainingRunRecord
    from recops.registry.entities import UpstreamPartition as UpstreamPartition
    from recops.registry.entities import ValidationResult as ValidationResult
    from recops.registry.entities import parse_ref as parse_ref
    from recops.registry.lineage import lineage_of as lineage_of
    from recops.registry.lineage import reverse_lineage as reverse_lineage
    from recops.registry.mlflow_import import import_mlflow as import_mlflow
    from recops.registry.report import LiveMetricsSource as LiveMetricsSource
    from recops.registry.report import MetricSeries as MetricSeries
    from recops.registry.report import describe_version as describe_version
    from recops.registry.tracking import TrainingRun as TrainingRun
    from recops.registry.tracking import track_training as track_training
    from recops.registry.traffic import check_traffic as check_traffic
    from recops.registry.verify import verify as verify
    from recops.registry.versions import get_version as get_version
    from recops.registry.versions import list_versions as list_versions
    from recops.registry.versions import record_validation as record_validation
    from recops.registry.versions import register_version as register_version

__all__ = [
    "AliasEvent",
    "AliasState",
    "AliasWindow",
    "AuditEntry",
    "CodeRef",
    "DatasetRef",
    "EnvironmentRef",
    "LineageEdge",
    "LiveMetricsSource",
    "MetricSeries",
    "ModelVersion",
    "TrainingRun",
    "TrainingRunRecord",
    "UpstreamPartition",
    "ValidationResult",
    "alias_history",
    "capture_code",
    "capture_environment",
    "check_traffic",
    "current_aliases",
    "declared_dataset",
    "describe_dataset",
    "describe_version",
    "get_version",
    "import_mlflow",
    "lineage_of",
    "list_versions",
    "parse_ref",
    "record_validation",
    "register_version",
    "remove_alias",
    "resolve_alias",
    "reverse_lineage",
    "served_at",
    "set_alias",
    "track_training",
    "verify",
]

#: The module of this package that defines each name above.
_SOURCES: dict[str, str] = {
    name: module
    for module, names in {
        "aliases": (
            "alias_history",
            "current_aliases",
            "remove_alias",
            "resolve_alias",
            "served_at",
            "set_alias",
        ),
        "capture": ("capture_code", "capture_environment"),
        "datasets": ("declared_dataset", "describe_dataset"),
        "entities": (
            "AliasEvent",
            "AliasState",
            "AliasWindow",
            "AuditEntry",
            "CodeRef",
            "DatasetRef",
            "EnvironmentRef",
            "LineageEdge",
            "ModelVersion",
            "TrainingRunRecord",
            "UpstreamPartition",
            "ValidationResult",
            "parse_ref",
        ),
        "lineage": ("lineage_of", "reverse_lineage"),
        "mlflow_import": ("import_mlflow",),
        "report": ("LiveMetricsSource", "MetricSeries", "describe_version"),
        "tracking": ("TrainingRun", "track_training"),
        "traffic": ("check_traffic",),
        "verify": ("verify",),
        "versions": ("get_version", "list_versions", "record_validation", "register_version"),
    }.items()
    for name in names
}


__getattr__ = _lazy_getattr(__name__, {name: f"{__name__}.{module}" for name, module in _SOURCES.items()})


def __dir__() -> list[str]:
    return sorted({*globals(), *_SOURCES})


class _Package(_ModuleType):
    """This package, whose exported names keep their objects when a submodule is imported.

    Importing a submodule binds it on its package, and :func:`verify` shares its name with
    its module: when the eager imports ran, the function took the name last; here the
    module is not bound under an exported name, so the name still finds the function.
    """

    def __setattr__(self, name: str, value: _typing.Any) -> None:
        if not (isinstance(value, _ModuleType) and name in _SOURCES):
            super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
