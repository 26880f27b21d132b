"""`hygge check --connect`: opens homes and stores, then the sources flows read that no flow writes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

Make = Callable[..., Path]
Hygge = Callable[..., subprocess.CompletedProcess[str]]


def test_check_connect_names_a_flow_whose_source_is_missing(project: Make, hygge: Hygge) -> None:
    # `second` reads what `orders` writes: it does not exist before the first run and is not a problem.
    root = project(
        {
            "flows/orders.yml": "{}\n",
            "flows/typo.yml": "source: ordres\n",
            "flows/second.yml": "home: lake\nsource: orders\ntarget: second\n",
        }
    )
    checked = hygge("check", "--connect", cwd=root)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    assert any("ok     source of flow orders" in line for line in lines)
    failed = [line for line in lines if "failed" in line]
    assert len(failed) == 1 and "source of flow typo: could not read data/drops/ordres.csv" in failed[0]
    assert "Sources there: customers, orders" in checked.stdout
    assert not any("flow second" in line for line in lines)
    (root / "flows/typo.yml").unlink()
    assert hygge("check", "--connect", cwd=root).returncode == 0


def test_a_database_home_whose_path_is_a_folder_says_so(project: Make, hygge: Hygge) -> None:
    root = project({"homes/shop.yml": "type: sqlite\npath: data\n", "flows/orders.yml": "{}\n"})
    checked = hygge("check", "--connect", cwd=root)
    assert checked.returncode == 1
    assert "failed home shop: data is a folder, not a database file. Set path:" in " ".join(checked.stdout.split())


def test_a_home_that_does_not_open_hides_only_its_own_flows_sources(project: Make, hygge: Hygge) -> None:
    root = project(
        {
            "homes/shop_db.yml": "type: sqlite\npath: data/missing.sqlite\n",
            "flows/orders.yml": "home: shop_db\n",
            "flows/returns.yml": "home: drops\n",
        }
    )
    checked = hygge("check", "--connect", cwd=root)
    assert checked.returncode == 1
    failed = [line for line in checked.stdout.splitlines() if "failed" in line]
    assert len(failed) == 2 and "home shop_db" in failed[0]
    assert "source of flow returns: could not read data/drops/returns.csv" in failed[1]
    assert "flow orders" not in checked.stdout  # its home's failure is its one line
