"""The operations screen: top bar, Commitments → Invoices → Payments, the payment detail, key hints.

It is built in layers, one job a module, each a subclass of the one before:

- console/screens/main_base.py: the state and the layout, the top bar;
- console/screens/main_reading.py: reading in thread workers and showing it, following the selection;
- console/screens/main_sorting.py: `o` and the column headers;
- console/screens/main_editing.py: filter, copy, export, payment number, attachment, retract;
- console/screens/main_sync.py: preview, sync, stopping a sync, the runtime's scheduled runs;
- console/screens/main_reconcile.py: reconciliation with Procore (R, i) and mapping suggestions (m);
- console/screens/main_companies.py: several company files: the company filter (F);
- console/screens/main_input.py: what is typed into the prompt bar, checked (plain functions).

The layout follows the terminal: below 36 rows the detail pane hides (enter still opens the full
view) and the invoices pane gets fewer rows, so the payments list is always on screen, down to
80×24; the tables give way column by column (console/widgets/tables.py), never cutting an amount.
"""

from __future__ import annotations

from console.bindings import COMPANY_BINDINGS, MAIN_BINDINGS
from console.screens.main_companies import MainCompanies
from console.widgets.detail import PaymentDetailPanel


class MainScreen(MainCompanies):
    BINDINGS = [*MAIN_BINDINGS, *COMPANY_BINDINGS]
    AUTO_FOCUS = "#commitments"
    # Classes on the screen by terminal height: the panes shrink and collapse in this order.
    VERTICAL_BREAKPOINTS = [(0, "-height-tiny"), (28, "-height-short"), (36, "-height-normal")]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    def on_mount(self) -> None:
        self.query_one(PaymentDetailPanel).show(None, tz=self.paysync.display_tz)
        self.render_topbar()
        self.reload_all()
