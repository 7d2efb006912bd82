from decimal import Decimal

import pytest

from core.money import from_fen, money, to_fen


def test_to_fen_and_back_round_trip():
    assert to_fen(Decimal("12.34")) == 1234
    assert from_fen(1234) == Decimal("12.34")
    assert to_fen(Decimal("0.01")) == 1


def test_to_fen_refuses_sub_fen_amounts():
    with pytest.raises(ValueError):
        to_fen(Decimal("1.005"))


def test_money_rounds_half_up():
    assert money(Decimal("2.675")) == Decimal("2.68")
    assert money("0.005") == Decimal("0.01")


def test_from_fen_refuses_non_integers():
    with pytest.raises(TypeError):
        from_fen(12.5)
