"""Copy what matching needs from Procore into storage: projects, vendors, commitments
(subcontracts and purchase orders) and subcontractor invoices (requisitions).

Incremental: per project, the time an import of commitments (or invoices) started is kept in a
`Setting` ("procore_import:{project_id}:commitments" / ":invoices"); the next import asks Procore
only for items updated since then, minus a ten-minute overlap (items written while we paged, and
small clock differences). If our clock runs ahead of Procore's (measured from the `Date` header of
its answers), the start time is moved back by the difference, so a fast local clock cannot open a
gap; a slow one only makes the overlap larger.

HTTP never happens inside a database transaction: items are pulled from the client a batch at a
time, then the batch is upserted in its own transaction. (A token refresh during a listing must
commit the new refresh token on its own; see DatabaseTokenStore.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, TypeVar

from storage.fields import utc_now
from storage.models import Commitment, Invoice, ProcoreProject, ProcoreVendor
from storage.settings_store import get_setting, procore_import_watermark, set_setting
from sync.procore.client import ProcoreClient

log = logging.getLogger("paysync.procore.import")

WATERMARK_OVERLAP = timedelta(minutes=10)
CLOCK_TOLERANCE_SECONDS = 2.0  # the Date header has whole seconds
BATCH_SIZE = 100
CENT = Decimal("0.01")

_T = TypeVar("_T")


@dataclass
class ImportSummary:
    """How many rows each import wrote (inserted or updated), and what it had to leave out."""

    projects: int = 0
    vendors: int = 0
    commitments: int = 0
    invoices: int = 0
    duration_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def add(self, other: ImportSummary) -> None:
        """Count another import in (one per Procore company)."""
        self.projects += other.projects
        self.vendors += other.vendors
        self.commitments += other.commitments
        self.invoices += other.invoices
        self.duration_seconds += other.duration_seconds
        self.warnings.extend(other.warnings)


def watermark_key(project_id: int, what: str) -> str:
    return procore_import_watermark(project_id, what)


def import_from_procore(
    client: ProcoreClient,
    *,
    project_ids: Sequence[int] = (),
    now: datetime | None = None,
    full: bool = False,
    company_id: int | None = None,
    project_ids_from: str = "PROCORE_PROJECT_IDS",
) -> ImportSummary:
    """Import projects (all the sign-in can see, or only `project_ids`), vendors, and each
    project's commitments and invoices. `company_id` is recorded on the projects and vendors: the
    client's Procore company when it is not PROCORE_COMPANY_ID's (None: that one); a warning about
    a missing project names `project_ids_from`. `now` stamps the rows' `imported_at` (default: now);
    the watermarks follow the client's clock. `full=True` ignores the watermarks and re-reads
    everything. Procore errors propagate (ProcoreError); rows already upserted stay, and the
    watermark of the step that failed is left as it was, so the next import repeats it."""
    started = time.monotonic()
    now = now or utc_now()
    summary = ImportSummary()

    imported_projects = _import_projects(client, set(project_ids), now, summary, company_id, project_ids_from)
    _import_vendors(client, summary, company_id)
    for project_id in imported_projects:
        _import_commitments(client, project_id, now, summary, full=full)
        _import_invoices(client, project_id, now, summary, full=full)

    summary.duration_seconds = time.monotonic() - started
    log.info(
        "Procore import: %d projects, %d vendors, %d commitments, %d invoices in %.1f s",
        summary.projects,
        summary.vendors,
        summary.commitments,
        summary.invoices,
        summary.duration_seconds,
    )
    return summary


# --------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------


class UnreadableItem(ValueError):
    """A Procore item PaySync cannot read; it is skipped with this reason (DESIGN rule 11)."""


def _readable_rows(
    items: Iterable[dict[str, Any]],
    build: Callable[[dict[str, Any]], dict[str, Any] | None],
    what: str,
    summary: ImportSummary,
) -> list[dict[str, Any]]:
    """`build(item)` for each item; an item it cannot read is left out, with a warning that says
    which one and why, and the others are imported."""
    rows: list[dict[str, Any]] = []
    for item in items:
        try:
            row = build(item)
        except (UnreadableItem, KeyError, TypeError, ValueError) as exc:
            problem = str(exc) if isinstance(exc, UnreadableItem) else f"{type(exc).__name__}: {exc}"
            summary.warnings.append(
                f"Procore sent {what} {_shown_id(item)} that PaySync cannot read ({problem}); it was skipped "
                "and the others were imported. Check it in Procore."
            )
            continue
        if row is not None:
            rows.append(row)
    return rows


def _shown_id(item: object) -> str:
    if isinstance(item, dict) and item.get("id") is not None:
        return f"id {str(item.get('id'))[:40]}"
    return "without an id"


def _required_id(item: dict[str, Any], key: str = "id") -> int:
    value = _int(item.get(key))
    if value is None or value <= 0:
        raise UnreadableItem(f"{key} {item.get(key)!r} is not a Procore id")
    return value


def _import_projects(
    client: ProcoreClient,
    wanted: set[int],
    now: datetime,
    summary: ImportSummary,
    company_id: int | None,
    wanted_from: str,
) -> list[int]:
    seen: list[int] = []

    def row(item: dict[str, Any]) -> dict[str, Any] | None:
        project_id = _required_id(item)
        if wanted and project_id not in wanted:
            return None
        return {
            "id": project_id,
            "name": str(item.get("name") or item.get("display_name") or f"Project {project_id}"),
            "company_id": company_id,
            "updated_at": parse_time(item.get("updated_at")),
            "imported_at": now,
        }

    for batch in _batches(client.list_projects()):
        rows = _readable_rows(batch, row, "a project", summary)
        _upsert(ProcoreProject, rows)
        seen.extend(int(row["id"]) for row in rows)
        summary.projects += len(rows)
    for missing in sorted(wanted - set(seen)):
        summary.warnings.append(
            f"Project {missing} (in {wanted_from}) is not visible to this Procore sign-in: check the id, "
            "or add the app's service account (or your user) to that project."
        )
    return seen


def _import_vendors(client: ProcoreClient, summary: ImportSummary, company_id: int | None) -> None:
    def row(item: dict[str, Any]) -> dict[str, Any]:
        vendor_id = _required_id(item)
        return {
            "id": vendor_id,
            "name": str(item.get("name") or item.get("company") or f"Vendor {vendor_id}"),
            "origin_id": _text(item.get("origin_id")),
            "company_id": company_id,
        }

    for batch in _batches(client.list_vendors()):
        rows = _readable_rows(batch, row, "a vendor", summary)
        _upsert(ProcoreVendor, rows)
        summary.vendors += len(rows)


def _import_commitments(
    client: ProcoreClient,
    project_id: int,
    now: datetime,
    summary: ImportSummary,
    *,
    full: bool,
) -> None:
    key, started, since = _import_window(client, project_id, "commitments", full=full)
    _write_commitments(client.list_commitments(project_id, updated_since=since), project_id, now, summary)
    _save_watermark(key, started)


def _write_commitments(
    items: Iterable[dict[str, Any]], project_id: int, now: datetime, summary: ImportSummary
) -> None:
    for batch in _batches(items):
        rows = _readable_rows(
            batch, lambda item: _commitment_row(item, project_id, now), "a commitment", summary
        )
        _upsert(Commitment, rows)
        summary.commitments += len(rows)


def _import_invoices(
    client: ProcoreClient,
    project_id: int,
    now: datetime,
    summary: ImportSummary,
    *,
    full: bool,
) -> None:
    key, started, since = _import_window(client, project_id, "invoices", full=full)
    known = _commitment_vendors(project_id)
    waiting: list[dict[str, Any]] = []  # invoices whose commitment is not in storage yet
    for batch in _batches(client.list_requisitions(project_id, updated_since=since)):
        ready: list[dict[str, Any]] = []
        for item in batch:
            (
                ready if isinstance(item, dict) and _int(item.get("commitment_id")) in known else waiting
            ).append(item)
        _write_invoices(ready, project_id, known, now, summary)
    missing: list[dict[str, Any]] = []
    if waiting:
        # The commitment was created after our commitment listing, or is older than its
        # watermark but was never seen: re-read the project's commitments in full, once.
        _write_commitments(client.list_commitments(project_id), project_id, now, summary)
        known = _commitment_vendors(project_id)
        missing = [
            item
            for item in waiting
            if isinstance(item, dict) and _int(item.get("commitment_id")) not in known
        ]
        _write_invoices(
            [item for item in waiting if _int(item.get("commitment_id")) in known],
            project_id,
            known,
            now,
            summary,
        )
    for item in missing:
        summary.warnings.append(
            f"Subcontractor invoice #{item.get('number')} ({item.get('invoice_number') or 'no invoice number'}, "
            f"id {item.get('id')}) in project {project_id} belongs to commitment {item.get('commitment_id')}, "
            "which Procore does not list to this sign-in; it was not imported. Give the sign-in access to "
            "that commitment (private commitments need explicit access)."
        )
    if not missing:
        # With invoices left out the watermark stays put, so they are read again next time (and
        # imported once access is granted) instead of slipping behind it.
        _save_watermark(key, started)


def _import_window(
    client: ProcoreClient, project_id: int, what: str, *, full: bool
) -> tuple[str, datetime, datetime | None]:
    """The watermark key, this import's start (saved as the next watermark once it succeeds),
    and the `updated_since` to ask for: the last watermark minus the overlap, or None for all."""
    key = watermark_key(project_id, what)
    started = _procore_now(client)
    previous = None if full else _load_watermark(key)
    return key, started, previous - WATERMARK_OVERLAP if previous else None


def _procore_now(client: ProcoreClient) -> datetime:
    """Now, by our clock moved back if it runs ahead of Procore's (never forward: a watermark
    that is too early only re-reads a little more)."""
    now = client.now()
    offset = client.server_clock_offset
    if offset is not None and offset < -CLOCK_TOLERANCE_SECONDS:
        return now + timedelta(seconds=offset)
    return now


def _write_invoices(
    items: list[dict[str, Any]],
    project_id: int,
    commitment_vendors: dict[int, int | None],
    now: datetime,
    summary: ImportSummary,
) -> None:
    for batch in _batches(items):
        rows = _readable_rows(
            batch,
            lambda item: _invoice_row(item, project_id, commitment_vendors, now),
            "a subcontractor invoice",
            summary,
        )
        _upsert(Invoice, rows)
        summary.invoices += len(rows)


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------


def _commitment_row(item: dict[str, Any], project_id: int, now: datetime) -> dict[str, Any]:
    vendor = item.get("vendor") if isinstance(item.get("vendor"), dict) else {}
    assert isinstance(vendor, dict)
    kind = item.get("kind")
    if kind not in ("subcontract", "purchase_order"):
        kind = "purchase_order" if item.get("type") == "PurchaseOrderContract" else "subcontract"
    currency, base_currency, rate = _currency_configuration(item)
    return {
        "id": _required_id(item),
        "project": project_id,
        "kind": kind,
        "number": _text(item.get("number")),
        "title": _text(item.get("title")),
        "status": _text(item.get("status")),
        "vendor_id": _int(vendor.get("id")),
        "vendor_name": _text(vendor.get("company") or vendor.get("name")),
        "origin_id": _text(item.get("origin_id")),
        "currency": currency,
        "base_currency": base_currency,
        "exchange_rate": rate,
        "updated_at": parse_time(item.get("updated_at")),
        "imported_at": now,
    }


def _currency_configuration(item: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(currency_iso_code, base_currency_iso_code, currency_exchange_rate) of a commitment; all
    None when it has no currency_configuration (it is then in the company's currency). A currency
    that is not a three-letter code makes the commitment unreadable: posting money to it could be
    posting it in the wrong currency."""
    config = item.get("currency_configuration")
    if config is None:
        return None, None, None
    if not isinstance(config, dict):
        raise UnreadableItem(f"currency_configuration {str(config)[:60]!r} is not an object")
    codes: list[str | None] = []
    for key in ("currency_iso_code", "base_currency_iso_code"):
        raw = config.get(key)
        if raw in (None, ""):
            codes.append(None)
            continue
        code = str(raw).strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise UnreadableItem(f"{key} {str(raw)[:20]!r} is not an ISO currency code")
        codes.append(code)
    rate = config.get("currency_exchange_rate")
    return codes[0], codes[1], None if rate is None else str(rate)[:32]


def _invoice_row(
    item: dict[str, Any], project_id: int, commitment_vendors: dict[int, int | None], now: datetime
) -> dict[str, Any]:
    commitment_id = _required_id(item, "commitment_id")
    summary = item.get("summary") if isinstance(item.get("summary"), dict) else {}
    assert isinstance(summary, dict)
    amount = parse_money(item.get("total_claimed_amount"))
    if amount is None:
        amount = parse_money(summary.get("current_payment_due"))
    vendor_id = _int(item.get("vendor_id"))
    return {
        "id": _required_id(item),
        "project": project_id,
        "commitment": commitment_id,
        "number": _int(item.get("number")),
        "invoice_number": _text(item.get("invoice_number")),
        "vendor_id": vendor_id if vendor_id is not None else commitment_vendors.get(commitment_id),
        "status": _text(item.get("status")),
        "erp_status": _text(item.get("erp_status")),
        "origin_id": _text(item.get("origin_id")),
        "amount": amount,
        "billing_date": parse_date(item.get("billing_date")),
        "updated_at": parse_time(item.get("updated_at")),
        "imported_at": now,
    }


# --------------------------------------------------------------------------------------------
# Storage helpers
# --------------------------------------------------------------------------------------------


def _upsert(model: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = [name for name in rows[0] if name != "id"]
    preserve = [model._meta.fields[name] for name in columns]
    with model._meta.database.atomic():
        model.insert_many(rows).on_conflict(conflict_target=[model.id], preserve=preserve).execute()


def _commitment_vendors(project_id: int) -> dict[int, int | None]:
    query = Commitment.select(Commitment.id, Commitment.vendor_id).where(Commitment.project == project_id)
    return {int(row.id): row.vendor_id for row in query}


def _load_watermark(key: str) -> datetime | None:
    value = get_setting(key)
    return parse_time(value) if value is not None else None


def _save_watermark(key: str, value: datetime | None) -> None:
    if value is None:
        return
    set_setting(key, value.astimezone(UTC).isoformat())


def _batches(items: Iterable[_T], size: int = BATCH_SIZE) -> Iterator[list[_T]]:
    batch: list[_T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# --------------------------------------------------------------------------------------------
# Parsing Procore values
# --------------------------------------------------------------------------------------------


def parse_time(value: object) -> datetime | None:
    """Procore timestamps ("2025-03-01T12:00:00Z") as aware UTC datetimes."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_date(value: object) -> date | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def parse_money(value: object) -> Decimal | None:
    """Procore amounts, as decimal strings ("1250.0") or JSON numbers (read as Decimal by the
    client, never through float); a float would already have lost cents, so it is refused."""
    if value is None or isinstance(value, bool | float):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not amount.is_finite() or abs(amount) >= Decimal("1e13"):
        return None
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
