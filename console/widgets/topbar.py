"""The top bar (Dolphie's TopBar): Web Connector contact, company file, Procore budget,
schedule and next run, the last sync (in red with its reason when it failed), and how many
payments are in each ERP status. With several company files the first line names the company
filter and gives each active file's last contact, marked ▲ when its last poll failed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from console.widgets.status import palette, status_text
from console.widgets.timefmt import ago, clock, until
from storage.views import ERP_STATUSES, CompanyFileInfo, LastSync, Overview

REASON_LIMIT = 60  # characters of a failed sync's reason shown in the bar; the log (l) has it all


def separator() -> tuple[str, str]:
    return (" │ ", palette().grey)


def shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def failed_sync_reason(last: LastSync) -> str:
    if last.message:
        return shorten(last.message, REASON_LIMIT)
    if last.errors:
        return f"{last.errors} payment{'s' if last.errors != 1 else ''} need attention or failed"
    return "see the log (l)"


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
    schedule_holder: str | None = None  # "paysync serve (process 1234 on host X)" when it runs the schedule
    company_filter: str | None = None  # "East Builders LLC" / "All companies"; None with one company file


def _contact_style(last: datetime, now: datetime) -> str:
    colours = palette()
    return colours.green if (now - last).total_seconds() / 60 < 90 else colours.yellow


def several_files_line(state: BarState, files: tuple[CompanyFileInfo, ...]) -> Text:
    """Several company files: the filter, then each file's key and last contact, on one line."""
    line = Text(no_wrap=True, overflow="ellipsis")
    colours = palette()
    line.append(" PaySync ", style="bold reverse")
    if state.mode_label:
        line.append(f" {state.mode_label} ", style=f"bold reverse {colours.yellow}")
    line.append("  Company: ", style="bold")
    filtered = state.company_filter not in (None, "All companies")
    line.append(state.company_filter or "All companies", style=f"bold {colours.yellow}" if filtered else "")
    line.append(*separator())
    line.append("Web Connector", style="bold")
    if state.web_connector_note:
        line.append(f" ({state.web_connector_note})", style="italic")
    for index, cf in enumerate(files):
        line.append(" · " if index else " ", style=colours.grey if index else "")
        line.append(cf.file_key, style="bold")
        if cf.country and cf.country != "US":
            line.append(f" ({cf.country})", style=f"bold {colours.red}")
        if cf.last_contact_at is None:
            line.append(" ○ never", style=colours.grey)
        else:
            line.append(
                f" ● {ago(cf.last_contact_at, state.now)}",
                style=_contact_style(cf.last_contact_at, state.now),
            )
        if cf.last_error:
            line.append(" ▲", style=f"bold {colours.yellow}")
    if any(cf.last_error for cf in files):
        line.append("  ▲ last poll failed: see the log (l)", style=f"bold {colours.yellow}")
    if state.endpoint_url:
        line.append(f"  · endpoint {state.endpoint_url}", style=colours.grey)
    return line


def identity_line(state: BarState) -> Text:
    overview = state.overview
    several = overview.active_company_files if overview else ()
    if len(several) > 1:
        return several_files_line(state, several)
    line = Text(no_wrap=True, overflow="ellipsis")
    colours = palette()
    line.append(" PaySync ", style="bold reverse")
    if state.mode_label:
        line.append(f" {state.mode_label} ", style=f"bold reverse {colours.yellow}")
    if overview and overview.company_files:
        cf = (several or overview.company_files)[0]  # the active file, when one was removed
        line.append(f"  {cf.company_name or cf.file_key}", style="bold")
        if cf.country:
            line.append(f" ({cf.country})", style=f"bold {colours.red}" if cf.country != "US" else "")
    else:
        line.append("  no QuickBooks company file yet", style=colours.grey)
    line.append(*separator())
    line.append("Web Connector ", style="bold")
    last = overview.last_contact_at if overview else None
    if last is None:
        line.append("○ never polled", style=colours.grey)
    else:
        minutes = (state.now - last).total_seconds() / 60
        line.append(
            f"● last contact {ago(last, state.now)}", style=colours.green if minutes < 90 else colours.yellow
        )
    if state.web_connector_note:
        line.append(f" ({state.web_connector_note})", style="italic")
    if overview and overview.company_files and (several or overview.company_files)[0].last_error:
        line.append("  ▲ last poll failed: see the log (l)", style=f"bold {colours.yellow}")
    if state.endpoint_url:
        line.append(f"  · endpoint {state.endpoint_url}", style=colours.grey)
    return line


def _last_sync_part(line: Text, state: BarState, last: LastSync | None) -> None:
    colours = palette()
    if state.busy:
        line.append(state.busy, style=f"bold {colours.yellow}")
    elif last is None:
        line.append("No sync yet", style=colours.grey)
    elif last.status == "failed":
        when = clock(last.finished_at or last.started_at, state.tz, now=state.now)
        line.append(f"✖ Last sync failed {when}: {failed_sync_reason(last)}", style=f"bold {colours.red}")
    elif last.status == "cancelled":
        when = clock(last.finished_at or last.started_at, state.tz, now=state.now)
        said = shorten(last.message, REASON_LIMIT + 20) if last.message else "cancelled"
        line.append(f"⊘ Last sync {when}: {said}", style=f"bold {colours.yellow}")
    else:
        line.append("Last sync ", style="bold")
        line.append(f"{ago(last.finished_at or last.started_at, state.now)}: ")
        line.append(f"{last.created} created · {last.updated} updated · {last.voided} voided")
        if last.errors:
            line.append(
                f" · {last.errors} problem{'s' if last.errors != 1 else ''}", style=f"bold {colours.red}"
            )


def activity_line(state: BarState) -> Text:
    """The last sync first (so a narrow terminal never cuts a failure off), the schedule, the budget."""
    colours = palette()
    line = Text(" ", no_wrap=True, overflow="ellipsis")
    last = state.overview.last_sync if state.overview else None
    _last_sync_part(line, state, last)
    line.append(*separator())
    line.append("Schedule ", style="bold")
    line.append(state.schedule_expression)
    if state.schedule_holder is not None:
        line.append(f" · runs in {state.schedule_holder}", style=colours.grey)
    elif state.next_run is not None:
        line.append(
            f" · next {clock(state.next_run, state.tz, now=state.now)} ({until(state.next_run, state.now)})"
        )
    elif state.schedule_expression == "never":
        line.append(" · on demand only", style=colours.grey)
    line.append(*separator())
    line.append("Procore budget ", style="bold")
    rate = state.overview.rate_limit if state.overview else None
    if rate is None:
        line.append("unknown", style=colours.grey)
    else:
        line.append(
            f"{rate.remaining:,}/{rate.limit:,}",
            style=colours.green if rate.remaining > rate.limit // 10 else colours.yellow,
        )
    return line


def counts_line(state: BarState, width: int = 0) -> Text:
    """How many payments are in each status; on a narrow bar the words get short, then zeros go."""
    overview = state.overview
    if overview is None:
        return Text(" Loading…", style="italic")
    counts = overview.counts.as_dict()
    for short, gap, label, zeros in (
        (False, "   ", "Payments ", True),
        (True, "  ", "", True),
        (True, "  ", "", False),
    ):
        line = Text(" ", no_wrap=True, overflow="ellipsis")
        if label:
            line.append(label, style="bold")
        shown = [status for status in ERP_STATUSES if zeros or counts[status]]
        for i, status in enumerate(shown):
            if i:
                line.append(gap)
            line.append_text(status_text(status, count=counts[status], short=short))
        if not width or line.cell_len <= width:
            return line
    return line


class TopBar(Static):
    plain = ""  # what the bar says, without styles (for tests and screen readers' logs)
    _state: BarState | None = None

    def show(self, state: BarState) -> None:
        self._state = state
        width = self.size.width
        lines = (identity_line(state), activity_line(state), counts_line(state, width))
        self.plain = "\n".join(line.plain for line in lines)
        self.update(Group(*lines))

    def on_resize(self) -> None:
        if self._state is not None:
            self.show(self._state)
