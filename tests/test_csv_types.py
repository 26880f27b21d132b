"""A csv home's `types:` names column types instead of guessing them, so '00123' stays '00123'."""

from __future__ import annotations

import datetime as dt
import decimal
import subprocess
from collections.abc import Callable
from pathlib import Path

import polars as pl

Make = Callable[..., Path]
Hygge = Callable[..., subprocess.CompletedProcess[str]]

DROPS = "type: csv\npath: data/drops\n"


def test_named_types_are_read_as_written(project: Make, hygge: Hygge) -> None:
    root = project(
        {
            "homes/drops.yml": DROPS + "types:\n  zip: text\n  amount: Decimal(10, 2)\n  at: timestamptz\n",
            "data/drops/orders.csv": "id,zip,amount,at\n1,00123,1.50,2024-01-01 10:00:00+02:00\n2,,0.1,\n",
            "flows/orders.yml": "{}\n",
        }
    )
    run = hygge("run", "--all", cwd=root)
    assert run.returncode == 0, run.stdout + run.stderr
    got = pl.read_parquet(root / "data/lake/orders.parquet")
    assert got.schema == pl.Schema(
        {"id": pl.Int64, "zip": pl.String, "amount": pl.Decimal(10, 2), "at": pl.Datetime("us", "UTC")}
    )
    assert got.row(0) == (1, "00123", decimal.Decimal("1.50"), dt.datetime(2024, 1, 1, 8, tzinfo=dt.UTC))
    assert got.row(1)[1:] == (None, decimal.Decimal("0.10"), None)


def test_an_unknown_type_is_an_error_at_its_line(project: Make, hygge: Hygge) -> None:
    root = project({"homes/drops.yml": DROPS + "types:\n  zip: txt\n", "flows/orders.yml": "{}\n"})
    checked = hygge("check", cwd=root)
    assert checked.returncode == 2
    assert "homes/drops.yml:4:3" in checked.stderr and "unknown type 'txt'. Did you mean 'text'?" in checked.stderr


def test_a_type_for_a_column_the_file_lacks_fails_the_flow(project: Make, hygge: Hygge) -> None:
    # Polars would ignore it, and the typo would change nothing without a word.
    root = project({"homes/drops.yml": DROPS + "types:\n  amout: text\n", "flows/orders.yml": "{}\n"})
    run = hygge("run", "--all", cwd=root)
    assert run.returncode == 1
    message = " ".join(run.stdout.split())
    assert "types: names column 'amout', which orders.csv does not have. Did you mean 'amount'?" in message


def test_a_column_name_with_a_quote_keeps_its_name_through_csv(project: Make, hygge: Hygge) -> None:
    # Written quoted with the quote doubled; Polars reads it back doubled, which renamed the column downstream.
    root = project(
        {
            "homes/drops.yml": DROPS + "types:\n  'say \"hi\"': text\n",
            "stores/out.yml": "type: csv\npath: data/out\n",
            "data/drops/orders.csv": 'id,"say ""hi""",plain\n1,007,x\n',
            "flows/orders.yml": "store: out\n",
            "flows/again.yml": "home: out\nsource: orders\nstore: lake\ntarget: orders\n",
        }
    )
    run = hygge("run", "--all", cwd=root)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (root / "data/out/orders.csv").read_text() == 'id,"say ""hi""",plain\n1,007,x\n'  # as text: types
    # read back by the store's own settings, without types: the name survives, the value is guessed
    assert pl.read_parquet(root / "data/lake/orders.parquet").to_dicts() == [{"id": 1, 'say "hi"': 7, "plain": "x"}]


def test_a_decimal_with_more_digits_than_its_type_keeps_fails_the_flow(project: Make, hygge: Hygge) -> None:
    # Polars' own parse rounds 1.005 to 1.00 without a word; the target must stay as it was.
    root = project(
        {
            "homes/drops.yml": DROPS + "types:\n  amount: decimal(12,2)\n",
            "data/drops/orders.csv": "id,amount\n1,1.50\n2,1.0050\n3,2.100\n",
            "flows/orders.yml": "{}\n",
        }
    )
    run = hygge("run", "--all", cwd=root)
    assert run.returncode == 1
    message = " ".join(run.stdout.split())
    said = "orders.csv: column 'amount' holds 1.0050, which Decimal(12, 2) cannot hold exactly (it keeps 2 digits"
    assert said + " after the point). Set types: amount: decimal(13,3) to keep every digit, or round" in message, (
        message
    )
    assert "The target is unchanged. flow" in message  # not Polars' note on the expression it failed in
    assert "Traceback" not in run.stdout + run.stderr
    assert not (root / "data/lake/orders.parquet").exists()

    (root / "data/drops/orders.csv").write_text("id,amount\n1,1.50\n2,1.0000\n3,-2.1\n4,\n")
    run = hygge("run", "--all", cwd=root)
    assert run.returncode == 0, run.stdout + run.stderr
    got = pl.read_parquet(root / "data/lake/orders.parquet")
    assert got["amount"].to_list() == [decimal.Decimal(v) for v in ("1.50", "1.00", "-2.10")] + [None]


def test_a_csv_store_reads_back_what_it_wrote_as_text_as_text(project: Make, hygge: Hygge) -> None:
    # The store has no types: of its own; its guess would read '00123' back as 123, which neither fits the
    # incoming text nor keeps the zeros when a merge rewrites the file. A merge and an append, one flow each,
    # share the runs.
    root = project(
        {
            "homes/drops.yml": DROPS + "types:\n  zip: text\n",
            "stores/out.yml": "type: csv\npath: data/out\n",
            "data/drops/orders.csv": "id,zip\n1,00123\n2,04567\n",
            "flows/merged.yml": "source: orders\nstore: out\nmode: merge\nkey: [id]\n",
            "flows/appended.yml": "source: orders\nstore: out\nmode: append\n",
        }
    )
    for _ in range(2):
        run = hygge("run", "--all", cwd=root)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "OK    merged" in run.stdout and "OK    appended" in run.stdout, run.stdout
    assert (root / "data/out/merged.csv").read_text() == "id,zip\n1,00123\n2,04567\n"
    parts = sorted((root / "data/out/appended").glob("*.csv"))
    assert [p.read_text() for p in parts] == ["id,zip\n1,00123\n2,04567\n"] * 2


def test_text_rows_for_a_csv_store_column_of_numbers_are_a_type_change(project: Make, hygge: Hygge) -> None:
    # Read back as text only where the guess loses the text ('00123'); '1.5' is a number, and 'n/a' changes it.
    root = project(
        {
            "stores/out.yml": "type: csv\npath: data/out\n",
            "data/drops/orders.csv": "id,amount\n1,1.5\n2,2.5\n",
            "flows/orders.yml": "store: out\nmode: merge\nkey: [id]\non_schema_change: fail\n",
        }
    )
    assert hygge("run", "--all", cwd=root).returncode == 0
    (root / "data/drops/orders.csv").write_text("id,amount\n2,n/a\n")
    run = hygge("run", "--all", cwd=root)
    assert run.returncode == 1
    assert "Float64 cannot hold String" in run.stdout
    assert (root / "data/out/orders.csv").read_text() == "id,amount\n1,1.5\n2,2.5\n"
