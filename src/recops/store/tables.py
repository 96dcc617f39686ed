"""SQLAlchemy rows of the metadata store.

Rows are persistence only; domain objects live with the package that owns them and are
built from rows there. Changing a table means adding an Alembic migration under
``store/migrations/versions``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class LakeBatchRow(Base):
    """One ingest batch: the unit that is committed to the lake atomically."""

    __tablename__ = "lake_batches"

    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    # pending while its files are being written; committed once the catalog lists them;
    # aborted when a later writer found it pending (its process died) and removed its files.
    state: Mapped[str] = mapped_column(String(16), index=True)
    origin: Mapped[str] = mapped_column(String(16))  # file | sdk | http | compaction
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    committed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_stored: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_duplicate: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_quarantined: Mapped[int] = mapped_column(BigInteger, default=0)


class LakeFileRow(Base):
    """A Parquet file of the lake. Readers see exactly the files listed here and not removed."""

    __tablename__ = "lake_files"

    path: Mapped[str] = mapped_column(String(512), primary_key=True)  # relative to data_dir
    kind: Mapped[str] = mapped_column(String(32))
    date: Mapped[str] = mapped_column(String(10))
    batch_id: Mapped[str] = mapped_column(ForeignKey("lake_batches.batch_id"))
    rows: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set by compaction and retention; the file itself is deleted later by vacuum, so a
    # reader holding an older file list never finds a file gone under it.
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_lake_files_kind_live", "kind", "removed_at", "date"),)


class IngestedSourceRow(Base):
    """A source file whose records are committed; unchanged, it is skipped without reading."""

    __tablename__ = "ingested_sources"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    batch_id: Mapped[str] = mapped_column(ForeignKey("lake_batches.batch_id"))
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("kind", "path", "size", "mtime_ns", name="uq_ingested_source"),)


# --- registry (issue 3): model versions, lineage, aliases, validations, runs, audit log.
# JSON-valued columns are Text holding canonical JSON written by recops.registry, so that
# digests computed over them are the same on SQLite and PostgreSQL.


class RegistryVersionRow(Base):
    """A registered model version. Never updated after insert (recops.registry)."""

    __tablename__ = "registry_versions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(100))
    artifact_uri: Mapped[str] = mapped_column(Text)
    artifact_digest: Mapped[str | None] = mapped_column(String(80))
    code: Mapped[str | None] = mapped_column(Text)
    params: Mapped[str] = mapped_column(Text)
    metrics: Mapped[str] = mapped_column(Text)
    environment: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    origin: Mapped[str] = mapped_column(String(32))  # sdk | manifest | mlflow | api
    run_id: Mapped[str | None] = mapped_column(String(64))
    record_digest: Mapped[str] = mapped_column(String(80))

    __table_args__ = (
        UniqueConstraint("model", "version", name="uq_registry_version"),
        Index("ix_registry_versions_created", "model", "created_at"),
    )


class RegistryInputRow(Base):
    """A dataset a version was trained (or validated) on."""

    __tablename__ = "registry_inputs"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("registry_versions.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    uri: Mapped[str] = mapped_column(Text)
    digest: Mapped[str | None] = mapped_column(String(140), index=True)
    computed: Mapped[bool] = mapped_column(Boolean)
    format: Mapped[str | None] = mapped_column(String(16))
    rows: Mapped[int | None] = mapped_column(BigInteger)
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    files: Mapped[int | None] = mapped_column(Integer)
    time_column: Mapped[str | None] = mapped_column(String(200))
    time_min: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    time_max: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    schema: Mapped[str] = mapped_column(Text)


class RegistryUpstreamRow(Base):
    """An upstream source partition (an arrival) a training dataset was built from."""

    __tablename__ = "registry_upstream"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    input_id: Mapped[int] = mapped_column(ForeignKey("registry_inputs.id"), index=True)
    source: Mapped[str] = mapped_column(String(200))
    partition: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_registry_upstream_source", "source", "partition"),)


class RegistryAliasRow(Base):
    """Where an alias points now: the serving lookup reads this one row by primary key."""

    __tablename__ = "registry_aliases"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    alias: Mapped[str] = mapped_column(String(100), primary_key=True)
    version: Mapped[str] = mapped_column(String(100))
    artifact_uri: Mapped[str] = mapped_column(Text)
    moved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RegistryAliasEventRow(Base):
    """One alias move (``version`` set) or removal (``version`` null), in effect from ``at``."""

    __tablename__ = "registry_alias_history"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(200))
    alias: Mapped[str] = mapped_column(String(100))
    version: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    override: Mapped[bool] = mapped_column(Boolean)
    audit_seq: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_registry_alias_history", "model", "alias", "at"),)


class RegistryValidationRow(Base):
    """A validation result attached to a version (gates, manual checks)."""

    __tablename__ = "registry_validations"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("registry_versions.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    passed: Mapped[bool] = mapped_column(Boolean)
    details: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    audit_seq: Mapped[int] = mapped_column(BigInteger)


class RegistryRunRow(Base):
    """A training run tracked by ``track_training``: running, failed or registered."""

    __tablename__ = "registry_runs"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)


class AuditEntryRow(Base):
    """One entry of the append-only, hash-chained audit log."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(400), index=True)
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The chain's head, kept apart from the log so a cut tail shows."""

    __tablename__ = "audit_head"

    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MetricPointRow(Base):
    """One value of a metric series: a metric about a subject, in a slice and a window.

    ``subject`` names what the value is about within the metric (a feature, a feature
    group, a source, a stage, a check; empty when the metric needs none), ``slice`` the
    traffic it covers (``""`` for all, else ``key=value``). Ratio metrics keep their
    numerator and denominator so slices and windows can be re-aggregated and tested.
    """

    __tablename__ = "metric_points"

    metric: Mapped[str] = mapped_column(String(100), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    slice: Mapped[str] = mapped_column(String(300), primary_key=True)
    granularity: Mapped[str] = mapped_column(String(16), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    family: Mapped[str] = mapped_column(String(32), index=True)
    value: Mapped[float | None] = mapped_column(Float)
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    n: Mapped[int] = mapped_column(BigInteger, default=0)
    label_completeness: Mapped[float | None] = mapped_column(Float)
    engine: Mapped[str] = mapped_column(String(16))
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_metric_points_window", "granularity", "window_start"),)


class MonitorStateRow(Base):
    """What `monitor run` has seen: processed batches and clocks, for incremental runs."""

    __tablename__ = "monitor_state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class MonitorBatchRow(Base):
    """A lake batch whose rows the monitors have accounted for."""

    __tablename__ = "monitor_batches"

    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- alerts (issue 6): lifecycle, groups, silences, events and the notification outbox.
# JSON-valued columns are Text written by recops.detect.


class AlertGroupRow(Base):
    """Alerts with one cause: open (firing or acknowledged) while any member is open."""

    __tablename__ = "alert_groups"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    cause: Mapped[str] = mapped_column(String(400))  # the cause key that opened it
    cause_keys: Mapped[str] = mapped_column(Text)  # JSON list of every member's cause keys
    state: Mapped[str] = mapped_column(String(16), index=True)  # firing | acknowledged | resolved
    severity: Mapped[str] = mapped_column(String(8))
    first_data_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_data_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # What the last group notification said, so the next one is sent only on a change.
    notified_state: Mapped[str | None] = mapped_column(String(16))
    notified_severity: Mapped[str | None] = mapped_column(String(8))
    notified_members: Mapped[int] = mapped_column(Integer, default=0)
    dirty: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)


class AlertSilenceRow(Base):
    """Alerts matching every glob are stored but not routed until ``expires_at``."""

    __tablename__ = "alert_silences"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    detector: Mapped[str] = mapped_column(String(300))
    metric: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(300))
    slice: Mapped[str] = mapped_column(String(300))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_by: Mapped[str | None] = mapped_column(String(200))


class AlertRow(Base):
    """One alert: a detector's condition on one series, from firing to resolved."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    key: Mapped[str] = mapped_column(String(64))  # dedup key: one open alert per key
    group_id: Mapped[int] = mapped_column(ForeignKey("alert_groups.id"), index=True)
    detector: Mapped[str] = mapped_column(String(100))
    metric: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(200))
    subject_kind: Mapped[str] = mapped_column(String(32))
    slice: Mapped[str] = mapped_column(String(300))
    granularity: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16), index=True)
    summary: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text)
    data_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # end of the tripping window
    last_data_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_data_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # wall clock
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    silence_id: Mapped[int | None] = mapped_column(ForeignKey("alert_silences.id"))
    notified: Mapped[bool] = mapped_column(Boolean, default=False)
    seq: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_alerts_key_state", "key", "state"),)


class AlertEventRow(Base):
    """A lifecycle event of an alert or a group, with the snapshot its notifications carry."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(8))  # alert | group
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("alert_groups.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(8))
    silenced: Mapped[bool] = mapped_column(Boolean, default=False)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[str] = mapped_column(Text)
    routed: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class AlertOutboxRow(Base):
    """One notification to send: an event for a route, retried with backoff until delivered."""

    __tablename__ = "alert_outbox"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("alert_events.id"))
    route: Mapped[str] = mapped_column(String(100))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))  # pending | delivered | rejected
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("event_id", "route", name="uq_alert_outbox_event_route"),
        Index("ix_alert_outbox_route_state", "route", "state", "id"),
    )


class AlertDeliveryRow(Base):
    """One delivery attempt of an outbox row: the delivery log."""

    __tablename__ = "alert_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("alert_outbox.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ok: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)


class IncidentRow(Base):
    """An incident: opened from an alert group or by hand; open → mitigated → resolved."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)  # open | mitigated | resolved
    severity: Mapped[str] = mapped_column(String(8))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("alert_groups.id"))
    cause: Mapped[str] = mapped_column(String(400))  # e.g. model_version:v13, feature_group:x
    model: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # data time
    detected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    mitigated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # wall clock
    opened_by: Mapped[str] = mapped_column(String(200))
    playbook: Mapped[str | None] = mapped_column(String(100))


class IncidentEventRow(Base):
    """One step of an incident's own log (opened, mitigated, resolved, note...)."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)


class IncidentActionRow(Base):
    """A post-mortem action item with an owner, tracked until closed."""

    __tablename__ = "incident_actions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    title: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), index=True)  # open | closed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)


class PlaybookRunRow(Base):
    """One run (or dry run) of a playbook, with each step's command and outcome as JSON."""

    __tablename__ = "playbook_runs"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    playbook: Mapped[str] = mapped_column(String(100), index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    dry_run: Mapped[bool] = mapped_column(Boolean)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    ok: Mapped[bool] = mapped_column(Boolean)
    steps: Mapped[str] = mapped_column(Text)


class ApiTokenRow(Base):
    """An API token of the server: only its SHA-256 digest is kept, never the secret."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # viewer | ingest | operator | admin
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AlertDiagnosisRow(Base):
    """The diagnosis of an alert as JSON, computed once per alert state (pages read it)."""

    __tablename__ = "alert_diagnoses"

    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), primary_key=True)
    alert_updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seconds: Mapped[float] = mapped_column(Float)
    body: Mapped[str] = mapped_column(Text)
