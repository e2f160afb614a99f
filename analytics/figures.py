"""Figures every usage report shares: money as JSON, rates, the upstream-attempts block and a
grouped row's figures.

Money is Decimal throughout and leaves as a decimal string with 8 places (`usd`).
"""

from __future__ import annotations

from core.money import usd_amount

# The longest range (and metrics window) a report reads: two years and a day.
MAX_RANGE_DAYS = 731
# What the APIs say about their money fields.
MONEY_FORMAT = "Amounts (*_usd) are USD as decimal strings with 8 decimal places."


def usd(value) -> str:
    """Money for JSON: a decimal string with 8 places (the records' precision), never a float."""
    return usd_amount(value)


def rate(part: int, whole: int) -> float | None:
    """`part / whole` to four places; None when there is no whole."""
    return round(part / whole, 4) if whole else None


def attempt_figures(attempts: int, failed: int) -> dict:
    """The upstream attempts block: how many, how many failed, and the share that failed."""
    return {"attempts": attempts, "failed_attempts": failed, "attempt_error_rate": rate(failed, attempts)}


def row_figures(figures: dict) -> dict:
    """A grouped row's summed figures (`UsageSource.grouped`) as a report shows them."""
    return {
        "requests": figures["requests"],
        "errors": figures["errors"],
        "cache_hits": figures["cache_hits"],
        "failovers": figures["failovers"],
        "prompt_tokens": figures["prompt_tokens"],
        "completion_tokens": figures["completion_tokens"],
        "cached_tokens": figures["cached_tokens"],
        "cache_write_tokens": figures["cache_write_tokens"],
        "reasoning_tokens": figures["reasoning_tokens"],
        "cost_usd": usd(figures["cost_usd"]),
    }
