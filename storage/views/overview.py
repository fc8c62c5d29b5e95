"""What the console's top bar and `paysync status` show: the company files, the payments per ERP
status, the schedule, the last sync, Procore's rate limit and how many errors there were."""

from __future__ import annotations

from datetime import datetime

from storage.models import CompanyFile, ErrorEvent, SyncRun
from storage.queries import payment_status_counts
from storage.settings_store import PROCORE_RATE_LIMIT, SCHEDULE_CUTOFF, SCHEDULE_EXPRESSION, get_setting
from storage.views.rows import CompanyFileInfo, LastSync, Overview, RateLimit
from storage.vocabulary import StatusCounts


def status_counts() -> StatusCounts:
    """Payments (applications) per ERP status, counted in SQL."""
    return StatusCounts(**payment_status_counts())


def _rate_limit() -> RateLimit | None:
    limit, remaining, reset = (get_setting(key) for key in PROCORE_RATE_LIMIT)
    if not limit or not remaining:
        return None
    try:
        reset_at = datetime.fromisoformat(reset) if reset else None
        return RateLimit(limit=int(limit), remaining=int(remaining), reset_at=reset_at)
    except ValueError:
        return None


def overview(*, errors_since: datetime | None = None) -> Overview:
    files = tuple(
        CompanyFileInfo(
            file_key=cf.file_key,
            company_name=cf.company_name,
            country=cf.country,
            last_contact_at=cf.last_contact_at,
            last_error=cf.last_error,
            last_error_at=cf.last_error_at,
            label=cf.label,
            active=cf.removed_at is None,
        )
        for cf in CompanyFile.select().order_by(CompanyFile.file_key)
    )
    run = SyncRun.select().order_by(SyncRun.started_at.desc(), SyncRun.id.desc()).first()
    last_sync = (
        LastSync(
            trigger=run.trigger,
            started_at=run.started_at,
            finished_at=run.finished_at,
            status=run.status,
            created=run.created,
            updated=run.updated,
            voided=run.voided,
            flagged=run.flagged,
            skipped=run.skipped,
            errors=run.errors,
            message=run.message,
        )
        if run is not None
        else None
    )
    errors = ErrorEvent.select()
    if errors_since is not None:
        errors = errors.where(ErrorEvent.at >= errors_since)
    return Overview(
        company_files=files,
        counts=status_counts(),
        schedule_expression=get_setting(SCHEDULE_EXPRESSION),
        schedule_cutoff=get_setting(SCHEDULE_CUTOFF),
        last_sync=last_sync,
        rate_limit=_rate_limit(),
        recent_errors=int(errors.count()),
    )
