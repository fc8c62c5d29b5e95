"""DESIGN rule 10: a payment is posted in its transaction currency only when that is the
commitment's currency. Nothing is ever converted; anything else needs a person.

- A QuickBooks transaction without a CurrencyRef is in the company file's home currency (USD for
  the U.S. edition); a vendor's currency stands in when a payment names none.
- A Procore commitment without `currency_configuration` is in the Procore company's currency
  (learned from any commitment's `base_currency_iso_code`, else USD).
"""

from __future__ import annotations

from sync.engine.snapshot import DEFAULT_CURRENCY, ApplicationRow, CommitmentRow, CurrencyContext


def home_currency(file_key: str, context: CurrencyContext) -> str:
    return context.home.get(file_key) or DEFAULT_CURRENCY


def application_currency(app: ApplicationRow, context: CurrencyContext) -> tuple[str | None, str]:
    """(the ISO code, or None when it cannot be told; the currency as a person recognises it)."""
    if app.currency:
        return app.currency, app.currency
    if app.currency_name:
        return None, app.currency_name
    if app.vendor_list_id:
        code, name = context.vendors.get((app.file_key, app.vendor_list_id), (None, None))
        if code:
            return code, code
        if name:
            return None, name
    home = home_currency(app.file_key, context)
    return home, home


def commitment_currency(commitment: CommitmentRow | None, context: CurrencyContext) -> str:
    if commitment is not None and commitment.currency:
        return commitment.currency
    return context.procore_company_currency


def currency_hold(
    app: ApplicationRow, commitment: CommitmentRow | None, context: CurrencyContext
) -> str | None:
    """Why this application cannot be posted to this commitment in its currency, or None."""
    code, shown = application_currency(app, context)
    if code is None:
        return (
            f"held: QuickBooks names this payment's currency “{shown}”, which PaySync cannot match to a "
            "currency code, so nothing was written to Procore. Give the currency its standard name in "
            "QuickBooks (Lists > Currency List), or let the Web Connector run once more so PaySync reads the "
            "currency list"
        )
    wanted = commitment_currency(commitment, context)
    if code == wanted:
        return None
    where = commitment.label if commitment is not None else "its commitment"
    return (
        f"held: the QuickBooks payment is in {code} but Procore commitment {where} is in {wanted}; PaySync "
        "never converts currencies, so nothing was written to Procore. Record this payment in Procore by "
        f"hand, or pay the bill in {wanted} in QuickBooks; if the commitment's currency is wrong, correct it "
        "in Procore and sync again"
    )
