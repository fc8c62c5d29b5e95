"""SyncService: the one facade the CLI, `paysync serve` and the console use to sync.

- `preview()`   the plan, computed without writing anything;
- `push()`      resolve open intents, plan, apply (journaled), record a SyncRun;
- `sync_now()`  on-demand: permission check, refresh from Procore, push, and queue QuickBooks
                queries for the Web Connector's next poll (it is pull-only);
- `set_payment_number()`, `add_attachment()`, `retract_payment()`: the edits a person may make.

Procore clients come from `client_factory` (a fresh one per operation, closed afterwards), so
the service can be used from several threads (the console's UI thread, the scheduler, the
automatic push after a Web Connector session).
"""

from __future__ import annotations

import logging
import mimetypes
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from storage import models
from storage.fields import utc_now
from storage.models import Setting
from storage.views import RATE_LIMIT_KEYS
from sync.engine.apply import (
    OUTCOME_FAILED,
    OUTCOME_NEEDS_ATTENTION,
    PaymentProblem,
    PaymentPusher,
    ProcoreOutage,
    WriteContext,
    journaled_procore_call,
    prepare_links,
    retract,
    unlock_patch_relock,
)
from sync.engine.desired import origin_data
from sync.engine.journal import ContractListings, audit, resolve_open_intents
from sync.engine.lease import PushLease
from sync.engine.plan import DELETED_IN_QUICKBOOKS, FAILED, PlannedAction, compute_plan
from sync.engine.snapshot import load_application
from sync.procore.client import ProcoreClient
from sync.procore.errors import (
    ProcoreAuthError,
    ProcoreError,
    ProcoreRequestError,
    ProcoreWriteOutcomeUnknown,
)
from sync.procore.importer import ImportSummary, import_from_procore
from sync.runs import record_failed_run
from sync.settings import ConfigError, Settings

__all__ = [
    "ALLOWED_ATTACHMENT_TYPES",
    "MAX_ATTACHMENT_BYTES",
    "MAX_PAYMENT_NUMBER",
    "BackgroundPusher",
    "QUICKBOOKS_WORK_LABELS",
    "PermissionDenied",
    "PlannedAction",
    "SyncService",
    "SyncSummary",
]

log = logging.getLogger("paysync.sync")

PaymentLink: Any = models.PaymentLink
PaymentAttachment: Any = models.PaymentAttachment
ErrorEvent: Any = models.ErrorEvent
SyncRun: Any = models.SyncRun
ProcoreProject: Any = models.ProcoreProject
Commitment: Any = models.Commitment
ProcoreWrite: Any = models.ProcoreWrite

MAX_PAYMENT_NUMBER = 2**31 - 1
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
ALLOWED_ATTACHMENT_TYPES: dict[str, str] = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".heic": "image/heic",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xls": "application/vnd.ms-excel",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".csv": "text/csv",
    ".txt": "text/plain",
}
# How long a manual push waits for one already running (e.g. the one after a Web Connector session).
LEASE_WAIT_SECONDS = 120.0
QUICKBOOKS_WORK_LABELS = {
    "host": "company-file check",
    "payments_check": "check bill payments",
    "payments_credit_card": "credit card bill payments",
    "deleted": "deleted payments",
    "bills": "bills",
}
ERP_TOOL_NAMES = {"erpintegrations", "erpintegration", "erp"}
APPROVER_ACTIONS = {"canpushtoaccounting"}


class PermissionDenied(Exception):
    """The signed-in Procore user may not do this; the message says what is missing."""


@dataclass
class SyncSummary:
    """What one sync did. `problems` lists each payment that needs attention or failed, once;
    the counts are that list's. `errors` are problems of the run itself (a refresh that failed, an
    outage, a push that could not start)."""

    trigger: str
    started_at: datetime
    finished_at: datetime | None = None
    imported: object | None = None
    created: int = 0
    updated: int = 0
    voided: int = 0
    flagged: int = 0
    skipped: int = 0
    problems: list[PaymentProblem] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    queued_quickbooks: list[str] = field(default_factory=list)
    # Set when this run recorded the cutoff (sync.cutoff): it was PaySync's first real run.
    cutoff_recorded: datetime | None = None
    notices: list[str] = field(default_factory=list)  # what the person should know first (the cutoff)

    @property
    def needs_attention(self) -> int:
        return sum(1 for problem in self.problems if problem.outcome == OUTCOME_NEEDS_ATTENTION)

    @property
    def failed(self) -> int:
        return sum(1 for problem in self.problems if problem.outcome == OUTCOME_FAILED)

    @property
    def all_right(self) -> bool:
        """Everything meant to happen happened: no payment needs attention or failed, no run problem."""
        return not self.problems and not self.errors

    def as_text(self) -> str:
        lines = [f"Sync ({self.trigger}) started {self.started_at.strftime('%Y-%m-%d %H:%M:%S UTC')}"]
        lines.extend(f"  {notice}" for notice in self.notices)
        if isinstance(self.imported, ImportSummary):
            imp = self.imported
            lines.append(
                f"  Procore refresh: {imp.projects} projects, {imp.vendors} vendors, "
                f"{imp.commitments} commitments, {imp.invoices} invoices"
            )
            lines.extend(f"  Procore refresh warning: {warning}" for warning in imp.warnings[:10])
        lines.append(
            f"  Procore payments: {self.created} created, {self.updated} updated, {self.voided} voided, "
            f"{self.flagged} flagged as deleted in QuickBooks, {self.skipped} unchanged or skipped"
        )
        lines.append(f"  Needs attention: {self.needs_attention}   Failed: {self.failed}")
        if self.queued_quickbooks:
            # The work kinds as stored, which scripts can rely on.
            lines.append("  Queued for the Web Connector's next poll: " + ", ".join(self.queued_quickbooks))
        if self.problems:
            lines.append(f"  Payments that need attention or failed ({len(self.problems)}):")
            for problem in self.problems[:10]:
                tag = "needs attention" if problem.outcome == OUTCOME_NEEDS_ATTENTION else "failed"
                lines.append(f"    - [{tag}] {problem.message}")
            if len(self.problems) > 10:
                lines.append(
                    f"    … and {len(self.problems) - 10} more (the console and paysync status list them)"
                )
        if self.errors:
            lines.append(f"  Problems with the run ({len(self.errors)}):")
            lines.extend(f"    - {message}" for message in self.errors[:10])
            if len(self.errors) > 10:
                lines.append(f"    … and {len(self.errors) - 10} more (paysync status shows the latest)")
        if self.finished_at is not None:
            seconds = (self.finished_at - self.started_at).total_seconds()
            lines.append(f"  Finished in {seconds:.1f} s")
        return "\n".join(lines)


def _normalise_tool(name: object) -> str:
    return "".join(ch for ch in str(name or "").lower() if ch.isalnum())


def remember_rate_limit(client: ProcoreClient) -> None:
    """Keep the last X-Rate-Limit-* figures in the database, so the console and `paysync status`
    can show the Procore budget: clients are short-lived, one per operation."""
    state = client.rate_limit
    if state.limit is None or state.remaining is None:
        return
    values = (str(state.limit), str(state.remaining), state.reset_at.isoformat() if state.reset_at else "")
    now = utc_now()
    try:
        for key, value in zip(RATE_LIMIT_KEYS, values, strict=True):
            Setting.insert(key=key, value=value, updated_at=now).on_conflict(
                conflict_target=[Setting.key], update={Setting.value: value, Setting.updated_at: now}
            ).execute()
    except Exception:  # a display nicety must never fail a sync
        log.warning("could not store the Procore rate-limit figures", exc_info=True)


class SyncService:
    def __init__(
        self,
        settings: Settings,
        *,
        client_factory: Callable[[], ProcoreClient] | None = None,
        actor: str = "paysync",
    ) -> None:
        self.settings = settings
        self.actor = actor
        self._client_factory = client_factory
        self.lease_wait_seconds = LEASE_WAIT_SECONDS
        if models.database_proxy.obj is None:
            from sync.settings import open_settings_database

            open_settings_database(settings)

    # -- clients --------------------------------------------------------------------------------

    @contextmanager
    def _client(self) -> Iterator[ProcoreClient]:
        if self._client_factory is not None:
            client = self._client_factory()
            try:
                yield client
            finally:
                remember_rate_limit(client)
            return
        client = ProcoreClient.from_settings(self.settings)
        try:
            yield client
        finally:
            remember_rate_limit(client)
            client.close()

    # -- reading --------------------------------------------------------------------------------

    def refresh_from_procore(self) -> object:
        """Copy projects, vendors, commitments and subcontractor invoices from Procore."""
        with self._client() as client:
            summary = import_from_procore(client, project_ids=self.settings.procore_project_ids)
        for warning in summary.warnings:  # e.g. an invoice whose commitment this sign-in cannot see
            ErrorEvent.create(where="procore", message=warning)
        return summary

    def preview(self) -> list[PlannedAction]:
        """What a push would do now, item by item. Writes nothing, anywhere."""
        return compute_plan()

    # -- pushing --------------------------------------------------------------------------------

    def push(
        self,
        *,
        trigger: str,
        progress: Callable[[int, int, str], None] | None = None,
        retry_refused: bool = False,
        prior_errors: list[str] | None = None,
    ) -> SyncSummary:
        """Bring Procore in line with what PaySync knows of QuickBooks (journaled; one SyncRun row).
        `retry_refused`: a person asked, so what Procore refused before is sent again.
        `prior_errors`: problems of this run before the push (a failed refresh); they fail the run."""
        summary = SyncSummary(trigger=trigger, started_at=utc_now(), errors=list(prior_errors or ()))
        lease = PushLease(f"{self.actor} ({trigger})")
        if not lease.acquire(wait_seconds=self.lease_wait_seconds):
            message = f"Not pushed: {lease.describe_holder()}. Try again when it has finished."
            summary.errors.append(message)
            summary.finished_at = utc_now()
            record_failed_run(
                trigger, self.actor, "; ".join(summary.errors), where="engine", started_at=summary.started_at
            )
            return summary
        run = SyncRun.create(
            trigger=trigger[:32], actor=self.actor[:100], started_at=summary.started_at, status="running"
        )
        try:
            self._push_with_lease(summary, lease, progress, retry_refused)
            run.status = "ok" if not (summary.failed or summary.errors) else "failed"
        except ProcoreAuthError as exc:
            message = f"Push stopped: {exc}"
            summary.errors.append(message)
            ErrorEvent.create(where="procore", message=message)
            run.status = "failed"
        except Exception as exc:
            message = f"Push stopped by an unexpected error: {type(exc).__name__}: {exc}"
            log.exception("push failed")
            summary.errors.append(message)
            ErrorEvent.create(where="engine", message=message)
            run.status = "failed"
        finally:
            lease.release()
            summary.finished_at = utc_now()
            run.finished_at = summary.finished_at
            run.created = summary.created
            run.updated = summary.updated
            run.voided = summary.voided
            run.flagged = summary.flagged
            run.skipped = summary.skipped
            run.errors = summary.needs_attention + summary.failed
            run.message = "; ".join(summary.errors[:3])[:2000] if summary.errors else None
            run.save()
        return summary

    def _push_with_lease(
        self,
        summary: SyncSummary,
        lease: PushLease,
        progress: Callable[[int, int, str], None] | None,
        retry_refused: bool = False,
    ) -> None:
        with self._client() as client:
            listings = ContractListings(client)
            # Rule 4: open intents first, before anything could be written twice.
            resolution = resolve_open_intents(listings, actor=self.actor)
            summary.errors.extend(resolution.errors)
            actions = compute_plan(retry_refused=retry_refused)
            prepare_links(actions)
            pusher = PaymentPusher(client, listings, actor=self.actor, blocked_links=resolution.still_open)
            total = len(actions)
            outage: str | None = None
            for number, action in enumerate(actions, 1):
                if action.link_id is None:
                    pusher.counts.problem(
                        OUTCOME_FAILED,
                        f"{action.extra.get('label', action.origin_id)}: could not record a link for it "
                        "(duplicate origin id?)",
                    )
                    continue
                if outage is None or not action.writes_to_procore:
                    try:
                        pusher.apply(action)
                    except ProcoreOutage as exc:
                        outage = str(exc)
                        summary.errors.append(outage)
                        ErrorEvent.create(where="procore", message=outage)
                lease.renew_if_due()
                if progress is not None:
                    progress(number, total, f"{action.action}: {action.origin_id}")
            counts = pusher.counts
            for problem in listings.unreadable[:20]:
                message = f"Procore listed a payment PaySync cannot read; it was left out ({problem})"
                summary.errors.append(message)
                ErrorEvent.create(where="procore", message=message)
        summary.created += counts.created
        summary.updated += counts.updated
        summary.voided += counts.voided
        summary.flagged += counts.flagged
        summary.skipped += counts.skipped
        summary.problems.extend(counts.problems)

    def refresh_and_push(
        self,
        *,
        trigger: str,
        progress: Callable[[int, int, str], None] | None = None,
        retry_refused: bool = False,
    ) -> SyncSummary:
        """Refresh our copy of Procore (so new invoices can match), then push. What the automatic
        runs do (after a Web Connector session, on the schedule); no permission check, since they
        act as the configured Procore app, not as a person."""
        imported: object | None = None
        import_error: str | None = None
        cutoff: datetime | None = None
        try:
            imported = self.refresh_from_procore()
        except ProcoreError as exc:
            import_error = f"Refreshing from Procore failed: {exc} (pushed with what PaySync already knew)"
            ErrorEvent.create(where="procore", message=import_error)
        else:
            cutoff = self._record_cutoff(trigger)  # Procore answered: a real run has started
        summary = self.push(
            trigger=trigger,
            progress=progress,
            retry_refused=retry_refused,
            prior_errors=[import_error] if import_error else None,
        )
        summary.imported = imported
        self._note_cutoff(summary, cutoff)
        return summary

    def _record_cutoff(self, trigger: str) -> datetime | None:
        """Record the cutoff if this is PaySync's first real run (sync.cutoff); never fails the run."""
        from sync.cutoff import record_cutoff_at_first_run

        try:
            return record_cutoff_at_first_run(self.actor, trigger)
        except Exception:
            log.exception("could not record the cutoff")
            return None

    @staticmethod
    def _note_cutoff(summary: SyncSummary, cutoff: datetime | None) -> None:
        if cutoff is None:
            return
        from sync.cutoff import recorded_message

        summary.cutoff_recorded = cutoff
        summary.notices.insert(0, recorded_message(cutoff))

    def sync_now(
        self, *, trigger: str, progress: Callable[[int, int, str], None] | None = None
    ) -> SyncSummary:
        """On-demand sync: check permission, refresh from Procore, push, queue QuickBooks queries.

        A sync that cannot start (configuration, permission, Procore unreachable) raises, and is
        kept first as a failed run with its reason (sync.runs)."""
        started_at = utc_now()
        try:
            self.check_can_sync()
        except PermissionDenied as exc:
            record_failed_run(trigger, self.actor, str(exc), where="procore", started_at=started_at)
            raise
        except ProcoreError as exc:
            record_failed_run(trigger, self.actor, str(exc), where="procore", started_at=started_at)
            raise
        except ConfigError as exc:
            record_failed_run(trigger, self.actor, str(exc), where="config", started_at=started_at)
            raise
        cutoff = self._record_cutoff(trigger)  # configuration valid, Procore reached: a real run
        summary = self.refresh_and_push(trigger=trigger, progress=progress, retry_refused=True)
        self._note_cutoff(summary, cutoff)
        from sync.workqueue import queue_quickbooks_refresh

        queued = queue_quickbooks_refresh(self.settings.qbwc_file_key, requested_by=self.actor)
        summary.queued_quickbooks = [str(item.kind) for item in queued]
        audit(self.actor, "sync.on_demand", trigger, {"queued_quickbooks": summary.queued_quickbooks})
        return summary

    # -- permissions ------------------------------------------------------------------------------

    def _project_ids(self, client: ProcoreClient) -> list[int]:
        if self.settings.procore_project_ids:
            return list(self.settings.procore_project_ids)
        stored = [int(p.id) for p in ProcoreProject.select(ProcoreProject.id)]
        if stored:
            return stored
        return [int(p["id"]) for p in client.list_projects()]

    def check_can_sync(self) -> None:
        """On-demand sync needs Admin on the ERP Integrations tool of every synced project, or the
        user must be a designated accounting approver (DESIGN rule 6); else PermissionDenied."""
        with self._client() as client:
            me = client.get_me()
            who = str(me.get("login") or me.get("name") or me.get("id"))
            approvers = {a.strip().casefold() for a in self.settings.accounting_approvers}
            if approvers & {str(me.get("id", "")).casefold(), str(me.get("login", "")).casefold()}:
                return
            lacking: list[str] = []
            project_ids = self._project_ids(client)
            for project_id in project_ids:
                try:
                    manifest = client.get_permissions(project_id)
                except ProcoreRequestError as exc:
                    lacking.append(f"project {project_id} ({exc})")
                    continue
                erp = next(
                    (
                        tool
                        for tool in manifest.get("tools") or []
                        if isinstance(tool, dict)
                        and (
                            _normalise_tool(tool.get("name")) in ERP_TOOL_NAMES
                            or _normalise_tool(tool.get("friendly_name")) in ERP_TOOL_NAMES
                        )
                    ),
                    None,
                )
                level = ""
                approver = False
                if erp is not None:
                    access = erp.get("user_access_level") or {}
                    level = str(access.get("name", "")) if isinstance(access, dict) else ""
                    approver = any(
                        _normalise_tool(a.get("action_name")) in APPROVER_ACTIONS
                        for a in erp.get("permitted_actions") or []
                        if isinstance(a, dict)
                    )
                if level.strip().casefold() != "admin" and not approver:
                    lacking.append(f"project {project_id} (ERP Integrations: {level or 'no access'})")
            if not project_ids:
                raise PermissionDenied(
                    "No Procore project to sync: the app can see none. Set PROCORE_PROJECT_IDS or give the "
                    "app access to the projects in Procore's App Management."
                )
            if lacking:
                raise PermissionDenied(
                    f"{who} may not sync on demand: that needs 'Admin' on the ERP Integrations tool of every "
                    f"synced project, or being an accounting approver. Missing on: {', '.join(lacking)}. "
                    "Ask a Procore admin for the permission, or add the user to PAYSYNC_ACCOUNTING_APPROVERS."
                )

    # -- edits a person may make ---------------------------------------------------------------

    def _link(self, link_id: int) -> Any:
        link = PaymentLink.get_or_none(PaymentLink.id == link_id)
        if link is None:
            raise ValueError(
                f"There is no payment with link id {link_id}; refresh the list and pick it again."
            )
        return link

    def _contract_of(self, link: Any) -> tuple[int, int] | None:
        if link.commitment_id is not None:
            commitment = Commitment.get_or_none(Commitment.id == link.commitment_id)
            if commitment is not None:
                return int(commitment.project_id), int(commitment.id)
        write = (
            ProcoreWrite.select()
            .where((ProcoreWrite.link == link.id) & ProcoreWrite.status.in_(("done", "resolved")))
            .order_by(ProcoreWrite.id.desc())
            .first()
        )
        return (int(write.project_id), int(write.contract_id)) if write is not None else None

    def set_payment_number(self, link_id: int, payment_number: int | None) -> str:
        """Store the user's payment number and, if the payment is in Procore, send it there
        (unlock-patch-relock). A Procore failure is recorded on the payment (and retried by the
        next push); it does not raise. Returns what happened, in words for the person."""
        if payment_number is not None and (
            isinstance(payment_number, bool)
            or not isinstance(payment_number, int)
            or not 1 <= payment_number <= MAX_PAYMENT_NUMBER
        ):
            raise ValueError(
                f"Payment number {payment_number!r} is not valid: use a whole number from 1 to "
                f"{MAX_PAYMENT_NUMBER:,}, or clear it."
            )
        link = self._link(link_id)
        if link.erp_status == DELETED_IN_QUICKBOOKS:
            raise ValueError(
                "This payment was deleted in QuickBooks; its payment number can no longer change."
            )
        PaymentLink.update(payment_number=payment_number, updated_at=utc_now()).where(
            PaymentLink.id == link_id
        ).execute()
        audit(
            self.actor,
            "payment_number.set",
            link.origin_id,
            {"link_id": link_id, "payment_number": payment_number},
        )
        what = "Payment number cleared" if payment_number is None else f"Payment number {payment_number}"
        if link.procore_payment_id is None:
            return f"{what} saved; it goes to Procore with the payment at the next push."
        contract = self._contract_of(link)
        if contract is None:
            return f"{what} saved; the next push sends it (refresh from Procore: its commitment is unknown)."
        lease = PushLease(f"{self.actor} (payment number)")
        if not lease.acquire(wait_seconds=10.0):
            return f"{what} saved; a push is running and the next one sends it to Procore."
        try:
            with self._client() as client:
                ctx = WriteContext(link_id, link.origin_id, contract[0], contract[1], self.actor)
                app = load_application(int(link.application_id))
                unlock_patch_relock(
                    client,
                    ctx,
                    payment_id=int(link.procore_payment_id),
                    fields={"payment_number": payment_number},
                    origin_data=origin_data(app) if app is not None else None,
                    done_changes={"status_reason": None},
                )
        except ProcoreError as exc:
            status = "needs_attention" if isinstance(exc, ProcoreRequestError) else FAILED
            reason = f"Sending payment number {payment_number} to Procore failed: {exc}"
            PaymentLink.update(erp_status=status, status_reason=reason, updated_at=utc_now()).where(
                PaymentLink.id == link_id
            ).execute()
            ErrorEvent.create(where="procore", message=f"{link.origin_id}: {reason}")
            return f"{what} saved in PaySync, but {reason[0].lower()}{reason[1:]}"
        finally:
            lease.release()
        return f"{what} sent to Procore."

    def add_attachment(self, link_id: int, path: Path) -> str:
        """Upload a file to the payment's Procore record (allowed while it is locked).

        Bad files raise ValueError and store nothing. A Procore failure is recorded on the
        attachment row (status failed, with the reason); it does not raise. Returns what happened."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path} does not exist or is not a file: pick an existing file.")
        suffix = path.suffix.lower()
        if suffix not in ALLOWED_ATTACHMENT_TYPES:
            raise ValueError(
                f"{path.name}: files of type {suffix or '(none)'} cannot be attached. Allowed: "
                + ", ".join(sorted(s.lstrip(".") for s in ALLOWED_ATTACHMENT_TYPES))
                + "."
            )
        size = path.stat().st_size
        if size > MAX_ATTACHMENT_BYTES:
            raise ValueError(
                f"{path.name} is {size / 1024 / 1024:.1f} MB; the limit is 25 MB. Compress or split it."
            )
        if size == 0:
            raise ValueError(f"{path.name} is empty: pick the file with the content.")
        link = self._link(link_id)
        if link.procore_payment_id is None:
            raise ValueError(
                "This payment is not in Procore yet, so there is nothing to attach the file to. "
                "Attach it once the payment shows Synced."
            )
        contract = self._contract_of(link)
        if contract is None:
            raise ValueError("PaySync no longer knows this payment's commitment: refresh from Procore first.")
        content = path.read_bytes()
        content_type = (
            ALLOWED_ATTACHMENT_TYPES.get(suffix)
            or mimetypes.guess_type(path.name)[0]
            or "application/octet-stream"
        )
        attachment = PaymentAttachment.create(link=link_id, filename=path.name, size=size, status="waiting")
        payment_id = int(link.procore_payment_id)
        ctx = WriteContext(link_id, link.origin_id, contract[0], contract[1], self.actor)
        detail = {"procore_payment_id": payment_id, "filename": path.name, "size": size}
        try:
            with self._client() as client:
                result = journaled_procore_call(
                    ctx,
                    "attach",
                    lambda: client.attach_files_to_contract_payment(
                        payment_id, ctx.project_id, ctx.contract_id, [(path.name, content, content_type)]
                    ),
                    payment_id=payment_id,
                    body={"filename": path.name, "size": size, "attachment_row": attachment.id},
                    audit_detail=detail,
                )
        except ProcoreError as exc:
            unknown = isinstance(exc, ProcoreWriteOutcomeUnknown)
            PaymentAttachment.update(
                status="failed" if not unknown else "waiting",
                error=(
                    f"Procore did not confirm the upload ({exc}); the next push checks whether it arrived"
                    if unknown
                    else f"Upload failed: {exc}"
                ),
            ).where(PaymentAttachment.id == attachment.id).execute()
            if unknown:
                return f"{path.name}: Procore did not confirm the upload; the next push checks whether it arrived."
            return f"{path.name} was not attached: {exc}"
        uploaded = [
            a
            for a in result.get("attachments") or []
            if isinstance(a, dict) and a.get("filename") == path.name
        ]
        procore_attachment_id = max((int(a["id"]) for a in uploaded if a.get("id") is not None), default=None)
        PaymentAttachment.update(
            status="uploaded", procore_attachment_id=procore_attachment_id, error=None
        ).where(PaymentAttachment.id == attachment.id).execute()
        return f"{path.name} attached to the payment in Procore."

    def retract_payment(self, link_id: int, *, confirm: bool) -> None:
        """Delete from Procore a payment that was deleted in QuickBooks. An explicit Admin operation:
        refused without confirm=True, and only for payments flagged Deleted in QuickBooks."""
        link = self._link(link_id)
        if link.erp_status != DELETED_IN_QUICKBOOKS or link.procore_payment_id is None:
            raise ValueError(
                "Only a payment flagged 'Deleted in QuickBooks' that is still in Procore can be retracted; "
                f"this one is {str(link.erp_status).replace('_', ' ')}."
            )
        if not confirm:
            raise ValueError(
                f"Retracting deletes Procore payment {link.procore_payment_id} for good (it was deleted in "
                "QuickBooks). Nothing was changed: confirm to go ahead."
            )
        self.check_can_sync()
        contract = self._contract_of(link)
        if contract is None:
            raise ValueError("PaySync no longer knows this payment's commitment: refresh from Procore first.")
        lease = PushLease(f"{self.actor} (retract)")
        if not lease.acquire(wait_seconds=30.0):
            raise ValueError(f"Not retracted: {lease.describe_holder()}. Try again when it has finished.")
        try:
            with self._client() as client:
                app = load_application(int(link.application_id))
                retract(
                    client,
                    WriteContext(link_id, link.origin_id, contract[0], contract[1], self.actor),
                    payment_id=int(link.procore_payment_id),
                    origin_data=origin_data(app) if app is not None else None,
                )
            audit(
                self.actor,
                "payment.retract",
                link.origin_id,
                {"link_id": link_id, "procore_payment_id": link.procore_payment_id},
            )
        finally:
            lease.release()


class BackgroundPusher:
    """Runs `service.push` in a background thread when asked; asks made while one runs are
    coalesced into one more push afterwards. Used after each Web Connector session and by the
    scheduler in `paysync serve`."""

    def __init__(self, service: SyncService) -> None:
        self.service = service
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._again: str | None = None
        self.last_summary: SyncSummary | None = None

    def request(self, trigger: str) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self._again = trigger
                return
            self._thread = threading.Thread(
                target=self._run, args=(trigger,), name="paysync-push", daemon=True
            )
            self._thread.start()

    def _run(self, trigger: str) -> None:
        while True:
            try:
                self.last_summary = self.service.refresh_and_push(trigger=trigger)
                log.info("%s", self.last_summary.as_text())
            except Exception as exc:
                log.exception("automatic push failed")
                record_failed_run(
                    trigger,
                    getattr(self.service, "actor", None),
                    f"stopped by an unexpected error: {type(exc).__name__}: {exc}",
                )
            with self._lock:
                if self._again is None:
                    self._thread = None
                    return
                trigger, self._again = self._again, None

    def wait(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
