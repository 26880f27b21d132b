"""What watch mode reruns for which change, without any file watching or timing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hygge.project import load_project
from hygge.resolver import Plan, resolve
from hygge.watch_plan import decide, ignored, store_outputs

Make = Callable[..., Path]

FLOWS = {
    "homes/events.yml": "type: ndjson\npath: data/events\n",
    "flows/orders.yml": "{}\n",
    "flows/customers.yml": "{}\n",
    "flows/report.yml": "home: lake\nsource: orders\ntarget: report\n",
    "flows/clicks.yml": "home: events\nsource: 'clicks/*.ndjson'\n",
}


def plan_of(root: Path) -> Plan:
    return resolve(load_project(root, environ={}))


def rerun(old: Plan | None, new: Plan, *changed: str, select: list[str] | None = None) -> list[str]:
    root = new.project.root
    names = new.select(select or [])
    return decide(old, new, names, {root / c: f"{c} modified" for c in changed}).flows


@pytest.fixture
def root(project: Make) -> Path:
    return project(FLOWS)


def test_changed_flow_file_reruns_it_and_downstream(root: Path) -> None:
    plan = plan_of(root)
    assert rerun(plan, plan, "flows/orders.yml") == ["orders", "report"]
    assert rerun(plan, plan, "flows/report.yml") == ["report"]


def test_changed_home_file_reruns_flows_using_it(root: Path) -> None:
    plan = plan_of(root)
    assert rerun(plan, plan, "homes/drops.yml") == ["customers", "orders", "report"]
    assert rerun(plan, plan, "homes/events.yml") == ["clicks"]


def test_changed_store_file_reruns_writers_and_readers(root: Path) -> None:
    plan = plan_of(root)
    assert set(rerun(plan, plan, "stores/lake.yml")) == {"orders", "customers", "report", "clicks"}


def test_hygge_yml_change_reruns_what_resolves_differently(root: Path) -> None:
    old = plan_of(root)
    (root / "hygge.yml").write_text("name: test_project\ndefaults: {home: drops, store: lake}\nthreads: 2\n")
    assert rerun(old, plan_of(root), "hygge.yml") == []
    (root / "stores" / "other.yml").write_text("type: csv\npath: data/other\n")
    (root / "hygge.yml").write_text("name: test_project\ndefaults: {home: drops, store: other}\n")
    # clicks and the orders/customers entities now land elsewhere; report lost its upstream
    assert rerun(old, plan_of(root), "hygge.yml") == ["clicks", "customers", "orders", "report"]


def test_dotenv_change_reruns_flows_whose_settings_change(project: Make) -> None:
    root = project({**FLOWS, "stores/lake.yml": "type: parquet\npath: ${LAKE:-data/lake}\n"})
    old = plan_of(root)
    (root / ".env").write_text("LAKE=data/lake2\n")
    assert set(rerun(old, plan_of(root), ".env")) == {"orders", "customers", "report", "clicks"}


def test_source_file_of_a_file_home_reruns_its_readers(root: Path) -> None:
    plan = plan_of(root)
    assert rerun(plan, plan, "data/drops/orders.csv") == ["orders", "report"]
    assert rerun(plan, plan, "data/drops/unrelated.csv") == []
    assert rerun(plan, plan, "data/events/clicks/2025-01-01.ndjson") == ["clicks"]


def test_new_flow_file_runs_the_new_flow(root: Path) -> None:
    old = plan_of(root)
    (root / "flows" / "extra.yml").write_text("source: orders\ntarget: extra\n")
    assert rerun(old, plan_of(root), "flows/extra.yml") == ["extra"]


def test_removed_flow_file_runs_nothing(root: Path) -> None:
    old = plan_of(root)
    (root / "flows" / "customers.yml").unlink()
    assert rerun(old, plan_of(root), "flows/customers.yml") == []


def test_only_the_selection_reruns(root: Path) -> None:
    plan = plan_of(root)
    assert rerun(plan, plan, "data/drops/orders.csv", select=["orders"]) == ["orders"]


def test_first_good_load_after_a_broken_start_runs_the_selection(root: Path) -> None:
    assert set(rerun(None, plan_of(root), "flows/orders.yml")) == set(plan_of(root).flows)


def test_hygges_own_outputs_never_count(root: Path) -> None:
    plan = plan_of(root)
    outputs = store_outputs(plan)
    for rel in (
        "data/lake/orders.parquet",
        "data/lake/orders/part-1.parquet",
        ".hygge/state.db",
        ".hygge/logs/run.log",
        "data/lake/.orders.parquet.0123.tmp/orders.parquet",
        "flows/.orders.yml.swp",
        "data/drops/orders.csv~",
    ):
        assert ignored(root / rel, root, outputs), rel
    for rel in ("data/drops/orders.csv", "flows/orders.yml", "hygge.yml", ".env"):
        assert not ignored(root / rel, root, outputs), rel
