"""Estimated cost of a call: a small list-price table per model, 0 for models it does not know.

Prices are US dollars per million tokens (input, output), list prices as published by the
providers when this table was written; they are estimates for budgeting, not invoices. The
longest matching model-name prefix wins, so dated snapshots ("gpt-4o-2024-08-06") price as their
family. Local models (openai-compatible servers) cost 0.
"""

from __future__ import annotations

PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    # OpenAI
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5": (1.25, 10.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    # Anthropic
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-haiku": (0.25, 1.25),
    "claude-haiku-4": (1.00, 5.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-opus-4": (15.00, 75.00),
}


def price_for(model: str, provider: str = "openai") -> tuple[float, float]:
    """(input, output) dollars per million tokens for `model`; (0, 0) when unknown or local."""
    if provider in ("openai-compatible", "import"):
        return (0.0, 0.0)
    name = model.lower()
    best = ""
    for prefix in PRICES_PER_MTOK:
        if name.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return PRICES_PER_MTOK[best] if best else (0.0, 0.0)


def estimate_cost(model: str, tokens_in: int | None, tokens_out: int | None, provider: str = "openai") -> float:
    """Dollars for one call."""
    p_in, p_out = price_for(model, provider)
    return ((tokens_in or 0) * p_in + (tokens_out or 0) * p_out) / 1e6


def is_priced(model: str, provider: str = "openai") -> bool:
    """Whether the table knows a list price for `model` (a cost of 0 for one it does not is no price)."""
    return price_for(model, provider) != (0.0, 0.0)


def cost_or_none(usd: float, model: str, provider: str = "openai") -> float | None:
    """`usd` rounded to a millionth of a dollar, or None when `model` has no list price here."""
    return round(float(usd), 6) if is_priced(model, provider) else None


def cost_text(usd: float | None, model: str) -> str:
    """"$0.0123", or, for a model with no list price (None), a sentence saying so instead of "$0.0000"."""
    return f"no price data for {model}" if usd is None else f"${usd:,.4f}"
