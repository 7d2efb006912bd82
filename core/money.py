"""Money is Decimal yuan with 2 places inside the domain; integer fen only at WeChat Pay."""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def money(value) -> Decimal:
    """Quantize to 2 places, rounding half up (how a cashier rounds)."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def to_fen(amount: Decimal) -> int:
    quantized = money(amount)
    if quantized != amount:
        raise ValueError(f"{amount!r} has more than 2 decimal places")
    return int(quantized * 100)


def from_fen(fen: int) -> Decimal:
    if not isinstance(fen, int) or isinstance(fen, bool):
        raise TypeError("fen must be an int")
    return (Decimal(fen) / 100).quantize(CENT)
