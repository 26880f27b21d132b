"""`hygge history FLOW`: a flow, a flow file's flows, and a hint for a name the journal does not know."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

Make = Callable[..., Path]
Hygge = Callable[..., subprocess.CompletedProcess[str]]


def test_history_takes_a_flow_a_file_or_suggests_one(project: Make, hygge: Hygge) -> None:
    root = project(
        {
            "flows/orders.yml": "{}\n",
            "flows/shop.yml": "entities: [customers]\n",
        }
    )
    assert hygge("run", "--all", cwd=root).returncode == 0
    for asked in ("shop", "flows/shop.yml", "shop.yml"):
        shown = hygge("history", asked, cwd=root).stdout
        assert "shop.customers" in shown and "orders" not in shown, asked
    assert "No runs recorded for sho_." in hygge("history", "sho_", cwd=root).stdout  # '_' is no wildcard
    typo = hygge("history", "ordrs", cwd=root)
    assert typo.returncode == 0
    assert "No runs recorded for ordrs. Did you mean 'orders'?" in " ".join(typo.stdout.split())


def test_a_killed_run_shows_its_flow_died_not_running_forever(project: Make, hygge: Hygge) -> None:
    root = project({"flows/orders.yml": "{}\n"})
    killed = hygge("run", "orders", cwd=root, env={"HYGGE_KILL_AT": "write.before_commit"})
    assert killed.returncode == -9
    assert not (root / "data/lake/orders.parquet").exists()
    shown = " ".join(hygge("history", "orders", cwd=root).stdout.split())
    assert "died" in shown and "running" not in shown
    assert "its process ended before the flow finished" in shown
    entry = json.loads(hygge("history", "orders", "--json", cwd=root).stdout)
    assert entry[0]["outcome"] == "died"
