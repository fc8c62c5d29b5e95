"""SyncService: the engine's facade, the one object the CLI, `paysync serve` and the console use
to sync.

- `preview()`   the plan, computed without writing anything;
- `push()`      resolve open intents, plan, apply (journaled), record a SyncRun; a `SyncCancel`
                stops it between two writes (engine/cancel.py; the run is kept as "cancelled");
- `sync_now()`  on-demand: permission check, refresh from Procore, push, and queue QuickBooks
                queries for the Web Connector's next poll (it is pull-only);
- `set_payment_number()`, `add_attachment()`, `retract_payment()`: the edits a person may make;
- `reconcile()`   each commitment's Payments Issued, listed fresh, against QuickBooks (engine/reconcile.py);
                `resend_missing()` marks PaySync payments deleted in Procore so the next push creates them again.

Procore clients come from `client_factory` (a fresh one per operation, closed afterwards), so
the service can be used from several threads (the console's UI thread, the scheduler, the
automatic push after a Web Connector session). With company files in several Procore companies,
each operation holds one client per company (sync/procore/companies.py: `company_client_factory`
makes the others) and every call about a project goes to that project's company.

Long because it is the one facade: each entry point is short, and all share the client factory,
the push lease and the run record that a split would pass around.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from storage import models
from storage.db import durable_commits, write_transaction
from storage.fields import utc_now
from storage.leases import PushLease
from storage.models import Commitment, ErrorEvent, PaymentAttachment, PaymentLink, ProcoreWrite, SyncRun
from storage.settings_store import delete_setting, procore_payments_listed
from storage.vocabulary import ErpStatus
from sync.engine.apply import PaymentPusher, ProcoreOutage, prepare_links
from sync.engine.cancel import SyncCancel
from sync.engine.desired import origin_data
from sync.engine.erp_lock import retract, unlock_patch_relock
from sync.engine.journal import WriteContext, audit, journaled_procore_call, origins_with_writes
from sync.engine.listings import ContractListings
from sync.engine.plan import PlannedAction, compute_plan
from sync.engine.reconcile import Reconciliation, reconcile_commitments
from sync.engine.resolve import resolve_open_intents
from sync.engine.runs import record_failed_run
from sync.engine.snapshot import load_application
from sync.engine.summary import OUTCOME_FAILED, SyncSummary
from sync.procore.attachments import check_attachment, content_type
from sync.procore.client import ProcoreClient, remember_rate_limit
from sync.procore.companies import ProcoreClients
from sync.procore.errors import (
    ProcoreAuthError,
    ProcoreError,
    ProcoreRequestError,
    ProcoreWriteOutcomeUnknown,
)
from sync.procore.importer import ImportSummary, import_from_procore
from sync.procore.permissions import PermissionDenied, check_can_sync
from sync.quickbooks.companies import (
    active_file_keys,
    procore_companies,
    procore_imports,
    record_cutoffs_at_first_run,
)
from sync.quickbooks.cutoff import recorded_message
from sync.quickbooks.workqueue import queue_quickbooks_refresh
from sync.settings import ConfigError, Settings, open_settings_database

log = logging.getLogger("paysync.sync")


MAX_PAYMENT_NUMBER = 2**31 - 1
# How long a manual push waits for one already running (e.g. the one after a Web Connector session).
LEASE_WAIT_SECONDS = 120.0


class SyncService:
    def __init__(
        self,
        settings: Settings,
        *,
        client_factory: Callable[[], ProcoreClient] | None = None,
        company_client_factory: Callable[[int], ProcoreClient] | None = None,
        actor: str = "paysync",
    ) -> None:
        self.settings = settings
        self.actor = actor
        self._client_factory = client_factory
        self._company_client_factory = company_client_factory
        self.lease_wait_seconds = LEASE_WAIT_SECONDS
        if models.database_proxy.obj is None:
            open_settings_database(settings)

    # -- clients --------------------------------------------------------------------------------

    def _make_client(self, company_id: int | None) -> tuple[ProcoreClient, bool]:
        """The client of one Procore company (None: PROCORE_COMPANY_ID's), and whether this service
        made it (and closes it) rather than a factory its caller gave."""
        if company_id is None or company_id == self.settings.procore_company_id:
            if self._client_factory is not None:
                return self._client_factory(), False
            return ProcoreClient.from_settings(self.settings), True
        if self._company_client_factory is not None:
            return self._company_client_factory(company_id), False
        return ProcoreClient.from_settings(self.settings, company_id=company_id), True

    @contextmanager
    def _clients(self) -> Iterator[ProcoreClients]:
        """One client per Procore company this operation talks to, made when first needed; as a
        payments client it sends each call to the company of its project. While they are open,
        this thread's commits are durable (intents included: storage.db.durable_commits)."""
        owned: list[ProcoreClient] = []

        def make(company_id: int | None) -> ProcoreClient:
            client, ours = self._make_client(company_id)
            if ours:
                owned.append(client)
            return client

        def close(client: ProcoreClient) -> None:
            remember_rate_limit(client.rate_limit)
            if any(client is mine for mine in owned):
                client.close()

        clients = ProcoreClients(make, close)
        with durable_commits():
            try:
                yield clients
            finally:
                clients.close()

    # -- reading --------------------------------------------------------------------------------

    def refresh_from_procore(self) -> object:
        """Copy projects, vendors, commitments and subcontractor invoices from Procore: from each
        Procore company the active company files write to (companies.procore_imports). A company
        that fails does not stop the others; the first failure is raised once all were tried."""
        total = ImportSummary()
        failure: ProcoreError | None = None
        with self._clients() as clients:
            for wanted in procore_imports(self.settings):
                try:
                    summary = import_from_procore(
                        clients.company(wanted.company_id),
                        project_ids=wanted.project_ids,
                        company_id=wanted.company_id,
                        project_ids_from=wanted.project_ids_from,
                    )
                except ProcoreError as exc:
                    if wanted.company_id is None:
                        raise
                    message = f"Procore company {wanted.company_id}: {exc}"
                    ErrorEvent.create(where="procore", message=f"Refreshing from {message}")
                    failure = failure or ProcoreError(message)
                    continue
                total.add(summary)
        for warning in total.warnings:  # e.g. an invoice whose commitment this sign-in cannot see
            ErrorEvent.create(where="procore", message=warning)
        if failure is not None:
            raise failure
        return total

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
        cancel: SyncCancel | None = None,
    ) -> SyncSummary:
        """Bring Procore in line with what PaySync knows of QuickBooks (journaled; one SyncRun row).
        `retry_refused`: a person asked, so what Procore refused before is sent again.
        `prior_errors`: problems of this run before the push (a failed refresh); they fail the run.
        `cancel`: looked at before each planned action, never inside one; once requested the push
        stops there, and the run is kept with status "cancelled" (who, how many were written)."""
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
            self._push_with_lease(summary, lease, progress, retry_refused, cancel)
            if summary.cancelled:
                run.status = "cancelled"
                audit(
                    summary.cancelled_by or self.actor,
                    "sync.cancelled",
                    trigger,
                    {"written": summary.written, "left_for_next_sync": summary.left_for_next_sync},
                )
            else:
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
            said = [note for note in [summary.cancel_note()] if note] + summary.errors[:3]
            run.message = "; ".join(said)[:2000] if said else None
            run.save()
        return summary

    def _push_with_lease(
        self,
        summary: SyncSummary,
        lease: PushLease,
        progress: Callable[[int, int, str], None] | None,
        retry_refused: bool = False,
        cancel: SyncCancel | None = None,
    ) -> None:
        with self._clients() as client:
            listings = ContractListings(client)
            # Rule 4: open intents first, before anything could be written twice.
            resolution = resolve_open_intents(listings, actor=self.actor)
            summary.errors.extend(resolution.errors)
            actions = compute_plan(retry_refused=retry_refused)
            prepare_links(actions)
            # The journal answers "already created?"; only creates with an earlier attempt on
            # record (or on a commitment never listed) read Procore first (listings.py).
            attempted = origins_with_writes(a.origin_id for a in actions if a.action == "create")
            pusher = PaymentPusher(
                client,
                listings,
                actor=self.actor,
                blocked_links=resolution.still_open,
                attempted_origins=attempted,
            )
            total = len(actions)
            outage: str | None = None
            for number, action in enumerate(actions, 1):
                if cancel is not None and cancel.requested:
                    # Between two actions: the one before is written and journaled; the rest waits.
                    summary.cancelled_by = cancel.by or "someone"
                    summary.left_for_next_sync = sum(
                        1 for rest in actions[number - 1 :] if rest.writes_to_procore
                    )
                    break
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
        cancel: SyncCancel | None = None,
    ) -> SyncSummary:
        """Refresh our copy of Procore (so new invoices can match), then push. What the automatic
        runs do (after a Web Connector session, on the schedule); no permission check, since they
        act as the configured Procore app, not as a person. Cancelled before the push starts, the
        refresh is left out and the push stops before its first write."""
        imported: object | None = None
        import_error: str | None = None
        cutoff: datetime | None = None
        if cancel is None or not cancel.requested:
            try:
                imported = self.refresh_from_procore()
            except ProcoreError as exc:
                import_error = (
                    f"Refreshing from Procore failed: {exc} (pushed with what PaySync already knew)"
                )
                ErrorEvent.create(where="procore", message=import_error)
            else:
                cutoff = self._record_cutoff(trigger)  # Procore answered: a real run has started
        summary = self.push(
            trigger=trigger,
            progress=progress,
            retry_refused=retry_refused,
            prior_errors=[import_error] if import_error else None,
            cancel=cancel,
        )
        summary.imported = imported
        self._note_cutoff(summary, cutoff)
        return summary

    def _record_cutoff(self, trigger: str) -> datetime | None:
        """Record the cutoff if this is PaySync's first real run (sync.quickbooks.cutoff); never
        fails the run."""
        try:
            return record_cutoffs_at_first_run(self.settings, self.actor, trigger)
        except Exception:
            log.exception("could not record the cutoff")
            return None

    @staticmethod
    def _note_cutoff(summary: SyncSummary, cutoff: datetime | None) -> None:
        if cutoff is None:
            return
        summary.cutoff_recorded = cutoff
        summary.notices.insert(0, recorded_message(cutoff))

    def sync_now(
        self,
        *,
        trigger: str,
        progress: Callable[[int, int, str], None] | None = None,
        cancel: SyncCancel | None = None,
    ) -> SyncSummary:
        """On-demand sync: check permission, refresh from Procore, push, queue QuickBooks queries.

        A sync that cannot start (configuration, permission, Procore unreachable) raises, and is
        kept first as a failed run with its reason (sync.engine.runs). A cancelled one (`cancel`)
        stops between two writes and queues nothing: the rest waits for the next sync."""
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
        summary = self.refresh_and_push(trigger=trigger, progress=progress, retry_refused=True, cancel=cancel)
        self._note_cutoff(summary, cutoff)
        if summary.cancelled:
            return summary
        for file_key in active_file_keys(self.settings):  # every company file PaySync serves
            queued = queue_quickbooks_refresh(file_key, requested_by=self.actor)
            shown = "" if file_key == self.settings.qbwc_file_key else f" ({file_key})"
            summary.queued_quickbooks.extend(f"{item.kind}{shown}" for item in queued)
        audit(self.actor, "sync.on_demand", trigger, {"queued_quickbooks": summary.queued_quickbooks})
        return summary

    # -- permissions ------------------------------------------------------------------------------

    def check_can_sync(self) -> None:
        """On-demand sync needs Admin on the ERP Integrations tool of every synced project, or the
        user must be a designated accounting approver (DESIGN rule 6); else PermissionDenied."""
        with self._clients() as clients:
            for company_id in procore_companies(self.settings):
                check_can_sync(clients.company(company_id), self.settings, company_id=company_id)

    # -- edits a person may make ---------------------------------------------------------------

    def _link(self, link_id: int) -> PaymentLink:
        link = PaymentLink.get_or_none(PaymentLink.id == link_id)
        if link is None:
            raise ValueError(
                f"There is no payment with link id {link_id}; refresh the list and pick it again."
            )
        return link

    def _contract_of(self, link: PaymentLink) -> tuple[int, int] | None:
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
        if link.erp_status == ErpStatus.DELETED_IN_QUICKBOOKS:
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
            with self._clients() as client:
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
            status = ErpStatus.NEEDS_ATTENTION if isinstance(exc, ProcoreRequestError) else ErpStatus.FAILED
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
        size = check_attachment(path)
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
        mime_type = content_type(path)
        attachment = PaymentAttachment.create(link=link_id, filename=path.name, size=size, status="waiting")
        payment_id = int(link.procore_payment_id)
        ctx = WriteContext(link_id, link.origin_id, contract[0], contract[1], self.actor)
        detail = {"procore_payment_id": payment_id, "filename": path.name, "size": size}
        try:
            with self._clients() as client:
                result = journaled_procore_call(
                    ctx,
                    "attach",
                    lambda: client.attach_files_to_contract_payment(
                        payment_id, ctx.project_id, ctx.contract_id, [(path.name, content, mime_type)]
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
        if link.erp_status != ErpStatus.DELETED_IN_QUICKBOOKS or link.procore_payment_id is None:
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
            with self._clients() as client:
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

    # -- reconciliation ---------------------------------------------------------------------------

    def reconcile(
        self, project_id: int | None = None, progress: Callable[[int, int], None] | None = None
    ) -> Reconciliation:
        """Each commitment PaySync has placed bills on (of one project, with `project_id`): what
        QuickBooks says was paid against its Payments Issued, listed fresh from Procore (one list per
        commitment; `progress(done, total)`). Reads only (engine/reconcile.py); a ProcoreError stops it."""
        with self._clients() as clients:
            return reconcile_commitments(clients, project_id=project_id, progress=progress)

    def resend_missing(self, origin_ids: Sequence[str], *, actor: str) -> int:
        """Mark PaySync payments that were in Procore and are no longer there (deleted in Procore by
        someone else: `missing_in_procore` with a Procore id) so that the next normal preview and
        push create them again. Writes nothing to Procore itself.

        Each is first checked against a fresh listing of its commitment: one that Procore in fact
        holds (by its Procore id or its origin id) is left alone. For the others the link forgets its
        Procore payment (id, what it held, the lock) and says Waiting, and the commitment's listing
        record is forgotten, so the push lists the commitment before creating (listings.py) and
        adopts the payment if it has come back meanwhile: never a second one. Payments deleted in
        QuickBooks, never in Procore, or unknown are left out. Audited (`payment.resend`, by
        `actor`). Returns how many were marked."""
        wanted = sorted({str(origin) for origin in origin_ids})
        if not wanted:
            return 0
        links = [
            link
            for link in PaymentLink.select().where(PaymentLink.origin_id.in_(wanted))
            if link.procore_payment_id is not None and link.erp_status != ErpStatus.DELETED_IN_QUICKBOOKS
        ]
        if not links:
            return 0
        lease = PushLease(f"{actor} (send again)")
        if not lease.acquire(wait_seconds=30.0):
            raise ValueError(
                f"Nothing was marked: {lease.describe_holder()}. Try again when it has finished."
            )
        try:
            by_contract: dict[tuple[int, int], list[PaymentLink]] = {}
            for link in links:
                contract = self._contract_of(link)
                if contract is not None:
                    by_contract.setdefault(contract, []).append(link)
            marked: list[tuple[PaymentLink, int, int]] = []
            with self._clients() as client:
                for (project_id, contract_id), contract_links in sorted(by_contract.items()):
                    listed = client.list_contract_payments(project_id, contract_id)
                    ids = {int(p["id"]) for p in listed if p.get("id") is not None}
                    origins = {str(p["origin_id"]) for p in listed if p.get("origin_id")}
                    for link in contract_links:
                        old_id = link.procore_payment_id
                        if old_id is None or int(old_id) in ids or link.origin_id in origins:
                            continue  # Procore holds it: nothing to send
                        marked.append((link, int(old_id), contract_id))
            with write_transaction():
                for link, old_id, contract_id in marked:
                    PaymentLink.update(
                        procore_payment_id=None,
                        pushed_fingerprint=None,
                        pushed_amount=None,
                        pushed_edit_sequence=None,
                        locked=False,
                        awaiting_unlink=False,
                        held_key=None,
                        erp_status=ErpStatus.WAITING,
                        status_reason=(
                            f"deleted in Procore (was payment {old_id}); marked by {actor} to be sent again "
                            "at the next push"
                        ),
                        updated_at=utc_now(),
                    ).where(PaymentLink.id == link.id).execute()
                    delete_setting(procore_payments_listed(contract_id))
                    audit(
                        actor,
                        "payment.resend",
                        link.origin_id,
                        {"link_id": link.id, "was_procore_payment_id": old_id, "contract_id": contract_id},
                    )
        finally:
            lease.release()
        return len(marked)
