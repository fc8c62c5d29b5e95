"""The top bar (Dolphie's TopBar): Web Connector contact, company file, Procore budget,
schedule and next run, and how many payments are in each ERP status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from console.widgets.status import GREEN, GREY, RED, YELLOW, status_text
from console.widgets.timefmt import ago, clock, until
from storage.views import ERP_STATUSES, Overview

SEPARATOR = (" │ ", GREY)


@dataclass(frozen=True)
class BarState:
    overview: Overview | None
    now: datetime
    tz: tzinfo | None
    schedule_expression: str
    next_run: datetime | None
    mode_label: str | None = None  # e.g. "DEMO"
    web_connector_note: str | None = None  # e.g. "simulated"
    endpoint_url: str | None = None
    busy: str | None = None  # e.g. "Syncing…"


def identity_line(state: BarState) -> Text:
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(" PaySync ", style="bold reverse")
    if state.mode_label:
        line.append(f" {state.mode_label} ", style=f"bold reverse {YELLOW}")
    overview = state.overview
    if overview and overview.company_files:
        cf = overview.company_files[0]
        line.append(f"  {cf.company_name or cf.file_key}", style="bold")
        if cf.country:
            line.append(f" ({cf.country})", style=f"bold {RED}" if cf.country != "US" else "")
    else:
        line.append("  no QuickBooks company file yet", style=GREY)
    line.append(*SEPARATOR)
    line.append("Web Connector ", style="bold")
    last = overview.last_contact_at if overview else None
    if last is None:
        line.append("○ never polled", style=GREY)
    else:
        minutes = (state.now - last).total_seconds() / 60
        line.append(f"● last contact {ago(last, state.now)}", style=GREEN if minutes < 90 else YELLOW)
    if state.web_connector_note:
        line.append(f" ({state.web_connector_note})", style="italic")
    if overview and overview.company_files and overview.company_files[0].last_error:
        line.append("  ▲ last poll failed: see the log (l)", style=f"bold {YELLOW}")
    if state.endpoint_url:
        line.append(f"  · endpoint {state.endpoint_url}", style=GREY)
    return line


def activity_line(state: BarState) -> Text:
    line = Text(" ", no_wrap=True, overflow="ellipsis")
    line.append("Procore budget ", style="bold")
    rate = state.overview.rate_limit if state.overview else None
    if rate is None:
        line.append("unknown", style=GREY)
    else:
        line.append(
            f"{rate.remaining:,}/{rate.limit:,}", style=GREEN if rate.remaining > rate.limit // 10 else YELLOW
        )
    line.append(*SEPARATOR)
    line.append("Schedule ", style="bold")
    line.append(state.schedule_expression)
    if state.next_run is not None:
        line.append(f" · next {clock(state.next_run, state.tz)} ({until(state.next_run, state.now)})")
    elif state.schedule_expression == "never":
        line.append(" · on demand only", style=GREY)
    line.append(*SEPARATOR)
    last = state.overview.last_sync if state.overview else None
    if state.busy:
        line.append(state.busy, style=f"bold {YELLOW}")
    elif last is None:
        line.append("No sync yet", style=GREY)
    else:
        line.append("Last sync ", style="bold")
        line.append(f"{ago(last.finished_at or last.started_at, state.now)}: ")
        line.append(f"{last.created} created · {last.updated} updated · {last.voided} voided")
        if last.errors:
            line.append(f" · {last.errors} problem{'s' if last.errors != 1 else ''}", style=f"bold {RED}")
    return line


def counts_line(state: BarState) -> Text:
    line = Text(" ", no_wrap=True, overflow="ellipsis")
    overview = state.overview
    if overview is None:
        line.append("Loading…", style="italic")
        return line
    counts = overview.counts.as_dict()
    line.append("Payments ", style="bold")
    for i, status in enumerate(ERP_STATUSES):
        if i:
            line.append("   ")
        line.append_text(status_text(status, count=counts[status]))
    return line


class TopBar(Static):
    plain = ""  # what the bar says, without styles (for tests and screen readers' logs)

    def show(self, state: BarState) -> None:
        lines = (identity_line(state), activity_line(state), counts_line(state))
        self.plain = "\n".join(line.plain for line in lines)
        self.update(Group(*lines))
