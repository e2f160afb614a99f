"""Money, USD: exact amounts for APIs and readable ones for people.

Amounts are kept as Decimal to the hundredth of a micro-dollar (8 places, the usage records'
precision). APIs return them as decimal strings with those 8 places (`usd_amount`), never as
floats. People see `usd_text`: thousands separators and cents from $1, three significant digits
below $1 (down to micro-dollars and beyond: `$0.000697`), `$0.00` for nothing.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

USD_PLACES = Decimal("1e-8")
MAX_PLACES = 8


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def usd_decimal(value) -> Decimal:
    """An amount as a Decimal with exactly 8 places (None and "" are 0)."""
    amount = _decimal(value) or Decimal(0)
    return amount.quantize(USD_PLACES, rounding=ROUND_HALF_UP)


def usd_amount(value) -> str:
    """An amount for JSON: a decimal string with exactly 8 places, e.g. "0.00069688"."""
    return f"{usd_decimal(value):f}"


def usd_text(value, *, empty: str = "-") -> str:
    """An amount for people: "$12,345.68", "$1.50", "$0.0165", "$0.000697", "$0.00"; `empty` for
    None. Negative amounts get a leading minus ("-$0.50")."""
    amount = _decimal(value)
    if amount is None:
        return empty
    amount = amount.quantize(USD_PLACES, rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if amount == 0:
        return "$0.00"
    if amount >= 1:
        return f"{sign}${amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f}"
    # Below a dollar: three significant digits, at least cents, at most the records' 8 places.
    places = min(MAX_PLACES, max(2, 2 - amount.adjusted()))
    text = f"{amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):.{places}f}"
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(2, "0")
    return f"{sign}${whole}.{fraction}"


def usd_axis(value: float) -> str:
    """A chart axis label: like `usd_text`, from a float."""
    return usd_text(Decimal(repr(float(value))))
