"""too_precise: whether a decimal's text has more digits after the point than a scale keeps, against Python's
Decimal on many forms of text (the check runs on every decimal SQLite and csv homes read)."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from hygge.decimaltext import too_precise

TEXTS = [
    "0",
    "7",
    "-7",
    "10",
    "1.5",
    "1.50",
    "1.500",
    "1.05",
    "1.005",
    "-0.001",
    "12.0100",
    "12.0101",
    "0.10",
    "-3.14",
    "100.000",
    "5.",
    ".5",
    ".055",
    "123456789.123",
    "1e3",
    "1.5e-2",
    "15e-1",
    "1.25E1",
    "-2.5e-3",
    "1.000e2",
    None,
]


@pytest.mark.parametrize("scale", [0, 1, 2, 3])
@pytest.mark.parametrize("with_exponents", [False, True])
def test_too_precise_agrees_with_decimal(scale: int, with_exponents: bool) -> None:
    texts = [t for t in TEXTS if with_exponents or t is None or "e" not in t.lower()]
    expected = [t is not None and Decimal(t).normalize().as_tuple().exponent < -scale for t in texts]
    found = too_precise(pl.Series(texts, dtype=pl.String), scale, exact=True).to_list()
    assert dict(zip(texts, found, strict=True)) == dict(zip(texts, expected, strict=True))
