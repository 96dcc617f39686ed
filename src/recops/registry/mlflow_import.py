"""Import registered models from an MLflow tracking server over its REST API.

recops does not import mlflow (it pins an older pyarrow); it reads
``/api/2.0/mlflow/registered-models/search``, ``model-versions/search`` and
``runs/get`` with the standard library. Each READY model version becomes a recops
version (origin ``mlflow``) with its source as artifact URI, its run's parameters,
latest metrics, git commit and logged datasets, and its tags; the registered model's
aliases become alias moves. Versions already in recops are skipped and aliases that
already agree are left alone, so running the import again adds only what is new.

MLflow keeps no alias history, so an imported alias move is dated at import time; its
reason says so.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from recops.errors import InvalidInput, NotFound, RecopsError
from recops.registry.aliases import set_alias
from recops.registry.capture import strip_credentials
from recops.registry.datasets import declared_dataset
from recops.registry.entities import CodeRef, DatasetRef
from recops.registry.versions import register_version
from recops.store import Store
from recops.store.tables import RegistryVersionRow

ACTOR = "mlflow-import"
PAGE = 100


class MlflowError(InvalidInput):
    """The MLflow server could not be reached or answered with an error."""


@dataclass
class ImportReport:
    """What an import did."""

    tracking_uri: str
    models: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    not_ready: list[str] = field(default_factory=list)
    aliases_moved: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tracking_uri": self.tracking_uri,
            "models": self.models,
            "added": self.added,
            "skipped": self.skipped,
            "not_ready": self.not_ready,
            "aliases_moved": self.aliases_moved,
            "notes": self.notes,
        }


class MlflowRest:
    """A minimal client of MLflow's REST API (GET only)."""

    def __init__(self, tracking_uri: str, *, timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlparse(tracking_uri)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InvalidInput(f"--tracking-uri must be http(s)://HOST:PORT, got {tracking_uri!r}")
        self.base = tracking_uri.rstrip("/") + "/api/2.0/mlflow/"
        self.timeout = timeout

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        url = self.base + path + (f"?{query}" if query else "")
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            if exc.code == 404:
                raise NotFound(f"MLflow {path}: {detail}") from None
            raise MlflowError(f"MLflow {path} answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise MlflowError(f"cannot reach MLflow at {strip_credentials(self.base)}: {exc}") from None
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise MlflowError(f"MLflow {path} did not answer JSON") from None
        if not isinstance(data, dict):
            raise MlflowError(f"MLflow {path} answered {type(data).__name__}, not an object")
        return data

    def pages(self, path: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            data = self.get(path, max_results=PAGE, page_token=token, **params)
            yield from data.get(key, [])
            token = data.get("next_page_token")
            if not token:
                return


def _tags(items: Sequence[dict[str, Any]] | None) -> dict[str, str]:
    return {str(t["key"]): str(t.get("value", "")) for t in items or ()}


def _ms(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError):
        return None


def _json(text: Any) -> Any:
    if not isinstance(text, str) or not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _dataset(item: dict[str, Any]) -> DatasetRef:
    ds = item.get("dataset") or {}
    context = _tags(item.get("tags")).get("mlflow.data.context") or "train"
    source = _json(ds.get("source"))
    uri = None
    if isinstance(source, dict):
        uri = source.get("uri") or source.get("url") or source.get("path") or source.get("table_name")
    name = str(ds.get("name") or "dataset")
    profile = _json(ds.get("profile"))
    rows = profile.get("num_rows") if isinstance(profile, dict) else None
    schema_doc = _json(ds.get("schema"))
    schema: list[tuple[str, str]] = []
    if isinstance(schema_doc, dict):
        for col in schema_doc.get("mlflow_colspec") or ():
            if isinstance(col, dict) and col.get("name"):
                schema.append((str(col["name"]), str(col.get("type", ""))))
    digest = ds.get("digest")
    return declared_dataset(
        str(uri or f"mlflow-dataset:{name}"),
        digest=f"mlflow:{digest}" if digest else None,
        name=name,
        role="train" if context == "training" else context,
        rows=int(rows) if isinstance(rows, int | float) else None,
        schema=schema,
    )


def _code(tags: dict[str, str]) -> CodeRef | None:
    commit = tags.get("mlflow.source.git.commit")
    repo = tags.get("mlflow.source.git.repoURL") or tags.get("mlflow.gitRepoURL")
    if not commit and not repo:
        return None
    return CodeRef(
        repo=strip_credentials(repo) if repo else None,
        commit=commit,
        dirty=None,
        branch=tags.get("mlflow.source.git.branch"),
        path=tags.get("mlflow.source.name"),
    )


def import_mlflow(
    store: Store, tracking_uri: str, *, models: Sequence[str] | None = None, timeout: float = 30.0
) -> ImportReport:
    """Bring MLflow's registered models, versions, tags, aliases and logged datasets across.

    Args:
        store: the recops store.
        tracking_uri: ``http://HOST:PORT`` of the MLflow tracking server.
        models: only these registered models (default: all).
        timeout: per-request timeout in seconds.

    Returns:
        What was added, skipped (already in recops) and moved.

    Raises:
        InvalidInput: a bad URI, or the server unreachable or answering errors.
    """
    client = MlflowRest(tracking_uri, timeout=timeout)
    where = strip_credentials(tracking_uri)
    report = ImportReport(where)
    wanted = set(models) if models else None
    for rm in client.pages("registered-models/search", "registered_models"):
        name = str(rm["name"])
        if wanted is not None and name not in wanted:
            continue
        report.models.append(name)
        model_tags = {f"mlflow.model.{k}": v for k, v in _tags(rm.get("tags")).items()}
        with store.session() as session:
            have = set(
                session.scalars(select(RegistryVersionRow.version).where(RegistryVersionRow.model == name))
            )
        filter_ = "name='" + name.replace("'", "\\'") + "'"
        found = list(client.pages("model-versions/search", "model_versions", filter=filter_))
        found.sort(
            key=lambda mv: (int(mv["version"]) if str(mv["version"]).isdigit() else 0, str(mv["version"]))
        )
        for mv in found:
            ref = f"{name}@{mv['version']}"
            if str(mv["version"]) in have:
                report.skipped.append(ref)
                continue
            if mv.get("status", "READY") != "READY":
                report.not_ready.append(ref)
                continue
            _import_version(store, client, mv, model_tags, where, report)
        for item in rm.get("aliases") or ():
            alias, version = str(item["alias"]), str(item["version"])
            try:
                moved = set_alias(
                    store,
                    name,
                    alias,
                    version,
                    actor=ACTOR,
                    reason=f"alias in MLflow at {where} (dated at import)",
                )
            except NotFound:
                report.notes.append(f"alias {name}:{alias} names {version}, which was not imported")
                continue
            if moved is not None:
                report.aliases_moved.append(f"{name}:{alias} → {version}")
    return report


def _import_version(
    store: Store,
    client: MlflowRest,
    mv: dict[str, Any],
    model_tags: dict[str, str],
    where: str,
    report: ImportReport,
) -> None:
    name, version = str(mv["name"]), str(mv["version"])
    ref = f"{name}@{version}"
    run_id = mv.get("run_id") or None
    params: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    datasets: list[DatasetRef] = []
    code = None
    if run_id:
        try:
            run = client.get("runs/get", run_id=run_id).get("run", {})
        except NotFound:
            report.notes.append(f"{ref}: run {run_id} no longer exists in MLflow; imported without it")
            run = {}
        data = run.get("data") or {}
        params = {str(p["key"]): p.get("value") for p in data.get("params") or ()}
        metrics = {
            str(m["key"]): float(m["value"]) for m in data.get("metrics") or () if _finite(m.get("value"))
        }
        run_tags = _tags(data.get("tags"))
        code = _code(run_tags)
        for item in (run.get("inputs") or {}).get("dataset_inputs") or ():
            datasets.append(_dataset(item))
    seen: dict[str, int] = {}
    unique: list[DatasetRef] = []
    for d in datasets:  # the same dataset name logged twice: keep both, named apart
        n = seen.get(d.name, 0)
        seen[d.name] = n + 1
        unique.append(d if n == 0 else replace(d, name=f"{d.name}#{n + 1}"))
    tags = {**model_tags, **_tags(mv.get("tags")), "recops.imported_from": where}
    if run_id:
        tags["mlflow.run_id"] = str(run_id)
    if mv.get("description"):
        tags["mlflow.description"] = str(mv["description"])
    try:
        register_version(
            store,
            model=name,
            version=version,
            artifact_uri=str(mv.get("source") or f"models:/{name}/{version}"),
            datasets=unique,
            code=code,
            params=params,
            metrics=metrics,
            tags=tags,
            created_by=str(mv.get("user_id") or ACTOR),
            created_at=_ms(mv.get("creation_timestamp")),
            origin="mlflow",
            run_id=str(run_id) if run_id else None,
        )
    except RecopsError as exc:
        report.notes.append(f"{ref}: not imported: {exc}")
        return
    report.added.append(ref)


def _finite(value: Any) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return number == number and number not in (float("inf"), float("-inf"))
