"""Several QuickBooks company files on the main screen (sync/companies.py): the company filter.

`F` steps through All companies → each active company file → All. The panes are read again in
their workers with the chosen file's key (storage/views take `file_key`), so the filter runs in
SQL and never blocks the screen; the top bar names it. With one company file the key says so and
does nothing, and neither the footer nor the help screen show it (the single-company console looks
as it always did).
"""

from __future__ import annotations

from console.screens.main_reconcile import MainReconciling
from storage.views import CompanyFileInfo

ALL_COMPANIES = "All companies"


class MainCompanies(MainReconciling):
    """The company filter (F) and what depends on how many company files there are."""

    _several_shown = False  # what the footer last showed: the F key or not

    @property
    def company_files(self) -> tuple[CompanyFileInfo, ...]:
        """The active company files (a removed one is left out), by key."""
        return self.overview.active_company_files if self.overview is not None else ()

    @property
    def several_company_files(self) -> bool:
        return len(self.company_files) > 1

    @property
    def footer_hidden_actions(self) -> frozenset[str]:
        return frozenset() if self.several_company_files else frozenset({"cycle_company"})

    def company_filter_label(self) -> str | None:
        if not self.several_company_files:
            return None
        if self.company_filter is None:
            return ALL_COMPANIES
        chosen = next((cf for cf in self.company_files if cf.file_key == self.company_filter), None)
        return chosen.display_name if chosen is not None else self.company_filter

    def companies_changed(self) -> None:
        keys = [cf.file_key for cf in self.company_files]
        if self.company_filter is not None and (len(keys) < 2 or self.company_filter not in keys):
            # The file was removed (or is the only one left) meanwhile: back to every payment.
            self.company_filter = None
            self.notify("The company file filtered on is no longer synced: showing all companies.", timeout=6)
            self.load_commitments(self.filter_text, self.sort.key, self.sort.descending)
        if self.several_company_files != self._several_shown:
            self._several_shown = self.several_company_files
            self.refresh_bindings()  # the footer shows F only with several files

    def action_cycle_company(self) -> None:
        keys = [cf.file_key for cf in self.company_files]
        if len(keys) < 2:
            self.notify(
                "Only one company file: there is nothing to filter by (`paysync company add` adds another).",
                timeout=4,
            )
            return
        if self.company_filter not in keys:
            chosen: str | None = keys[0]
        else:
            following = keys.index(str(self.company_filter)) + 1
            chosen = keys[following] if following < len(keys) else None
        self.company_filter = chosen
        self.render_topbar()
        self.notify(f"Company: {self.company_filter_label()}", timeout=2)
        self.load_commitments(self.filter_text, self.sort.key, self.sort.descending)
