"""The vocabulary of outbound provisioning: what a cycle does to an object, the state of a job, and the kind of a
cycle. The values are the wire strings of the Graph synchronization API and of the provisioning logs."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """What a cycle does to one object. The planner decides ``SKIP`` to ``DELETE``; the logs also record
    ``STAGED_DELETE`` (a delete held by the accidental-deletion threshold) and ``OTHER`` (nothing exported)."""

    SKIP = "skip"
    CREATE = "create"
    UPDATE = "update"
    DISABLE = "disable"
    DELETE = "delete"
    STAGED_DELETE = "stagedDelete"
    OTHER = "other"


# The actions that send something to the target (the dry run counts these).
SENT_ACTIONS = (Action.CREATE, Action.UPDATE, Action.DISABLE, Action.DELETE)
# The provisioningAction values a log row can hold (a skip is logged as OTHER).
LOGGED_ACTIONS = (
    Action.CREATE,
    Action.UPDATE,
    Action.DELETE,
    Action.DISABLE,
    Action.STAGED_DELETE,
    Action.OTHER,
)


class Status(StrEnum):
    """provisioningStatusInfo/status of a log row."""

    SUCCESS = "success"
    FAILURE = "failure"
    SKIPPED = "skipped"
    WARNING = "warning"


class JobCode(StrEnum):
    """synchronizationStatus/code. ``NOT_CONFIGURED`` is never stored: it is shown while the secrets lack a
    target."""

    NOT_CONFIGURED = "NotConfigured"
    NOT_RUN = "NotRun"
    ACTIVE = "Active"
    PAUSED = "Paused"
    QUARANTINE = "Quarantine"


# Jobs the runner works on: a quarantined job keeps being retried on its backoff.
RUNNING_CODES = (JobCode.ACTIVE, JobCode.QUARANTINE)


class CycleKind(StrEnum):
    INITIAL = "initial"  # a full cycle owed after creation, a restart or a schema change
    RECONCILE = "reconcile"  # the periodic full evaluation that also repairs drift in the target
    INCREMENTAL = "incremental"  # the objects named by the change log since the watermark, and due escrows
    ON_DEMAND = "onDemand"
    DRY_RUN = "dryRun"


class StopReason(StrEnum):
    """Why a cycle ended early (``quarantine.reason`` for the ones that quarantine the job)."""

    STOPPED = "Stopped"  # paused, deleted or shutting down: not a failure
    TARGET_UNAVAILABLE = "TargetUnavailable"
    QUARANTINE_EXCEPTION = "EncounteredQuarantineException"
    ESCROW_THRESHOLD = "EncounteredEscrowProportionThreshold"
    TOO_MANY_DELETES = "TooManyDeletes"
    QUARANTINED_ON_DEMAND = "QuarantinedOnDemand"


# Quarantines that wait for an admin (a restart with ForceDeletes, or a fixed source) instead of a retry.
HELD_FOR_ADMIN = (StopReason.TOO_MANY_DELETES, StopReason.QUARANTINED_ON_DEMAND)
