"""The conventions of DESIGN §3, one test each, plus dependency inference and graph errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hygge.errors import ProjectError
from hygge.graph import CycleError
from hygge.project import load_project
from hygge.resolver import Plan, resolve

Make = Callable[..., Path]


def plan_of(root: Path) -> Plan:
    return resolve(load_project(root, environ={}))


def test_home_and_store_named_like_the_flow_win_over_defaults(project: Make) -> None:
    root = project(
        {
            "homes/orders.yml": "type: csv\npath: data/orders_home\n",
            "stores/orders.yml": "type: ndjson\npath: data/orders_store\n",
            "flows/orders.yml": "{}\n",
            "flows/customers.yml": "{}\n",
        }
    )
    plan = plan_of(root)
    assert (plan.flows["orders"].home_name, plan.flows["orders"].store_name) == ("orders", "orders")
    assert (plan.flows["customers"].home_name, plan.flows["customers"].store_name) == ("drops", "lake")


def test_no_home_anywhere_lists_what_exists(project: Make) -> None:
    root = project({"hygge.yml": "name: t\n", "flows/orders.yml": "store: lake\n"})
    with pytest.raises(ProjectError) as info:
        plan_of(root)
    assert "flow 'orders' names no home" in str(info.value)
    assert "Homes: drops" in str(info.value)


def test_unknown_home_points_at_the_line_and_suggests(project: Make) -> None:
    root = project({"flows/orders.yml": "store: lake\nhome: drop\n"})
    with pytest.raises(ProjectError) as info:
        plan_of(root)
    assert str(info.value).startswith("flows/orders.yml:2:7  unknown home 'drop'. Did you mean 'drops'?")


def test_unknown_store_suggests(project: Make) -> None:
    root = project({"flows/orders.yml": "store: lakes\n"})
    with pytest.raises(ProjectError, match=r"flows/orders.yml:1:8  unknown store 'lakes'. Did you mean 'lake'\?"):
        plan_of(root)


def test_source_and_target_default_to_the_flow_name(project: Make) -> None:
    root = project({"flows/orders.yml": "{}\n", "flows/renamed.yml": "source: orders\ntarget: orders_copy\n"})
    plan = plan_of(root)
    assert (plan.flows["orders"].source, plan.flows["orders"].target) == ("orders", "orders")
    assert (plan.flows["renamed"].source, plan.flows["renamed"].target) == ("orders", "orders_copy")


def test_entities_expand_with_overrides(project: Make) -> None:
    root = project(
        {
            "flows/shop.yml": """
                tags: [shop]
                entities:
                  orders: {mode: merge, key: [id]}
                  customers:
            """,
        }
    )
    plan = plan_of(root)
    assert set(plan.flows) == {"shop.orders", "shop.customers"}
    orders = plan.flows["shop.orders"]
    assert (orders.source, orders.target, orders.mode, orders.key) == ("orders", "orders", "merge", ("id",))
    assert plan.flows["shop.customers"].mode == "replace"
    assert plan.flows["shop.customers"].tags == {"shop"}


def test_entity_override_error_points_at_the_entity(project: Make) -> None:
    root = project({"flows/shop.yml": "entities:\n  orders: {mode: merge}\n"})
    with pytest.raises(ProjectError, match=r"flows/shop.yml:2:18  flow shop.orders uses mode merge but sets no key"):
        plan_of(root)


def test_store_as_home_infers_dependency(project: Make) -> None:
    root = project(
        {
            "flows/orders.yml": "{}\n",
            "flows/export.yml": "home: lake\nsource: orders\nstore: lake\ntarget: orders_export\n",
        }
    )
    plan = plan_of(root)
    assert plan.flows["export"].upstream == {"orders"}
    assert plan.graph.order() == ["orders", "export"]


def test_separate_home_on_same_folder_infers_dependency(project: Make) -> None:
    root = project(
        {
            "homes/lake_in.yml": "type: parquet\npath: ./data/../data/lake\n",
            "flows/orders.yml": "{}\n",
            "flows/second.yml": "home: lake_in\nsource: orders\ntarget: second\n",
        }
    )
    assert plan_of(root).flows["second"].upstream == {"orders"}


def test_glob_source_infers_dependency(project: Make) -> None:
    root = project(
        {
            "flows/orders.yml": "{}\n",
            "flows/all.yml": "home: lake\nsource: 'ord*'\nstore: lake\ntarget: everything\n",
        }
    )
    assert plan_of(root).flows["all"].upstream == {"orders"}


def test_glob_over_the_parts_an_append_writes_infers_dependency(project: Make) -> None:
    root = project(
        {
            "flows/orders.yml": "mode: append\n",
            "flows/parts.yml": "home: lake\nsource: 'orders/*.parquet'\ntarget: all_parts\n",
            "flows/elsewhere.yml": "home: lake\nsource: 'customers/*.parquet'\ntarget: others\n",
        }
    )
    plan = plan_of(root)
    assert plan.flows["parts"].upstream == {"orders"}
    assert plan.flows["elsewhere"].upstream == set()


def test_two_flows_writing_one_target_must_be_ordered(project: Make) -> None:
    # Which replace finished last would decide the target's rows: an error naming both, until depends_on orders
    # them; appends alone add up the same in any order.
    root = project({"flows/orders.yml": "{}\n", "flows/again.yml": "source: customers\ntarget: orders\n"})
    with pytest.raises(ProjectError) as info:
        plan_of(root)
    message = str(info.value)
    assert "flows again (flows/again.yml:1:1, replace) and orders (replace) both write lake:orders" in message
    assert message.startswith("flows/orders.yml") and "Add depends_on: [again] to flow orders" in message
    (root / "flows/again.yml").write_text("source: customers\ntarget: orders\ndepends_on: [orders]\n")
    assert plan_of(root).flows["again"].upstream == {"orders"}
    (root / "flows/again.yml").write_text("source: customers\ntarget: orders\nmode: append\n")
    with pytest.raises(ProjectError, match="both write lake:orders"):
        plan_of(root)
    (root / "flows/orders.yml").write_text("mode: append\n")
    assert plan_of(root).flows["again"].upstream == set()
    # an incremental append takes its watermark from the target, which the other flow's rows would move
    (root / "flows/orders.yml").write_text("incremental: {cursor: id}\n")
    with pytest.raises(ProjectError, match="both write lake:orders"):
        plan_of(root)


def test_different_format_is_not_a_dependency(project: Make) -> None:
    root = project(
        {
            "homes/lake_csv.yml": "type: csv\npath: data/lake\n",
            "flows/orders.yml": "{}\n",
            "flows/other.yml": "home: lake_csv\nsource: orders\ntarget: other\n",
        }
    )
    assert plan_of(root).flows["other"].upstream == set()


@pytest.mark.parametrize(
    ("flow", "mode"),
    [
        ("{}\n", "replace"),
        ("incremental: {cursor: id}\n", "append"),
        ("incremental: {cursor: id}\nkey: [id]\n", "merge"),
        ("mode: append\n", "append"),
    ],
)
def test_mode_defaults(project: Make, flow: str, mode: str) -> None:
    assert plan_of(project({"flows/orders.yml": flow})).flows["orders"].mode == mode


def test_defaults_mode_from_hygge_yml(project: Make) -> None:
    root = project(
        {
            "hygge.yml": "name: t\ndefaults: {home: drops, store: lake, mode: append}\n",
            "flows/orders.yml": "{}\n",
        }
    )
    assert plan_of(root).flows["orders"].mode == "append"


def test_query_needs_a_sql_home(project: Make) -> None:
    root = project({"flows/orders.yml": "query: select 1\n"})
    with pytest.raises(ProjectError, match=r"flows/orders.yml:1:8  `query:` needs a SQL home"):
        plan_of(root)


def test_depends_on_a_flow_file_means_all_its_entities(project: Make) -> None:
    root = project(
        {
            "flows/shop.yml": "entities: [orders, customers]\n",
            "flows/report.yml": "depends_on: shop\nsource: orders\ntarget: report\n",
        }
    )
    assert plan_of(root).flows["report"].upstream == {"shop.orders", "shop.customers"}


def test_unknown_depends_on_suggests(project: Make) -> None:
    root = project({"flows/orders.yml": "{}\n", "flows/report.yml": "tags: [x]\ndepends_on: [ordres]\n"})
    with pytest.raises(ProjectError, match=r"depends_on names unknown flow 'ordres'. Did you mean 'orders'\?") as info:
        plan_of(root)
    assert str(info.value).startswith("flows/report.yml:2:13  ")  # the list, not the file's first line


def test_cycle_is_an_error_that_prints_the_cycle(project: Make) -> None:
    root = project(
        {
            "flows/a.yml": "depends_on: [c]\n",
            "flows/b.yml": "depends_on: [a]\n",
            "flows/c.yml": "depends_on: [b]\n",
        }
    )
    with pytest.raises(CycleError) as info:
        plan_of(root)
    assert "a -> b -> c -> a" in str(info.value)


def test_inferred_cycle_through_stores(project: Make) -> None:
    root = project(
        {
            "flows/ping.yml": "home: lake\nsource: pong\ntarget: ping\n",
            "flows/pong.yml": "home: lake\nsource: ping\ntarget: pong\n",
        }
    )
    with pytest.raises(CycleError, match=r"ping -> pong -> ping"):
        plan_of(root)


def test_a_flow_reading_its_own_target_is_not_a_cycle(project: Make) -> None:
    root = project({"flows/orders.yml": "home: lake\n"})
    assert plan_of(root).flows["orders"].upstream == set()


def test_many_errors_are_reported_together(project: Make) -> None:
    root = project({"flows/a.yml": "home: nope\n", "flows/b.yml": "store: nope\n"})
    with pytest.raises(ProjectError) as info:
        plan_of(root)
    assert "flows/a.yml" in str(info.value) and "flows/b.yml" in str(info.value)
