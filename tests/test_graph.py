"""The flow DAG: order, ancestry, cycles and dbt-style selection."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable

import pytest

from hygge.errors import ProjectError, UsageError
from hygge.graph import CycleError, FlowGraph, Node


def node(
    name: str,
    *,
    depends_on: Iterable[str] = (),
    tags: Iterable[str] = (),
    home: str = "",
    store: str = "",
) -> Node:
    group = name.split(".", 1)[0]
    return Node(
        name=name,
        group=group,
        tags=frozenset(tags),
        home=home,
        store=store,
        depends_on=frozenset(depends_on),
    )


def chain(*names: str) -> list[Node]:
    """Nodes where each one depends on the one before it."""
    return [node(name, depends_on=[names[i - 1]] if i else []) for i, name in enumerate(names)]


# customers -> orders -> revenue -> revenue_daily; shop.products -> revenue; shop.products -> shop.stock;
# audit stands alone.
SHOP = [
    node("customers", tags=["nightly"], home="shop_db", store="lake"),
    node("orders", depends_on=["customers"], tags=["nightly", "hourly"], home="shop_db", store="lake"),
    node("shop.products", tags=["nightly"], home="shop_db", store="lake"),
    node("shop.stock", depends_on=["shop.products"], home="drops", store="lake"),
    node("revenue", depends_on=["orders", "shop.products"], tags=["daily"], home="lake", store="warehouse"),
    node("revenue_daily", depends_on=["revenue"], tags=["daily"], home="warehouse", store="warehouse"),
    node("audit", home="drops", store="archive"),
]
ALL = ["audit", "customers", "orders", "shop.products", "revenue", "revenue_daily", "shop.stock"]


@pytest.fixture(scope="module")
def shop() -> FlowGraph:
    return FlowGraph(SHOP)


def ranks(order: list[str]) -> dict[str, int]:
    return {name: index for index, name in enumerate(order)}


def assert_topological(graph: FlowGraph, order: list[str]) -> None:
    rank = ranks(order)
    for name in order:
        for parent in graph.parents(name):
            if parent in rank:
                assert rank[parent] < rank[name], (parent, name)


# -- structure ---------------------------------------------------------------------------------------------


def test_order_is_topological_with_ties_broken_by_name(shop: FlowGraph) -> None:
    assert shop.order() == ALL
    assert_topological(shop, shop.order())


def test_order_does_not_depend_on_input_order() -> None:
    shuffled = list(SHOP)
    for seed in range(5):
        random.Random(seed).shuffle(shuffled)
        assert FlowGraph(shuffled).order() == ALL


def test_order_of_a_subset_keeps_the_whole_graphs_order(shop: FlowGraph) -> None:
    assert shop.order(["revenue_daily", "customers", "audit"]) == ["audit", "customers", "revenue_daily"]
    assert shop.order([]) == []


def test_order_of_an_unknown_name_is_a_key_error(shop: FlowGraph) -> None:
    with pytest.raises(KeyError):
        shop.order(["nope"])


def test_diamond() -> None:
    graph = FlowGraph(
        [
            node("top"),
            node("left", depends_on=["top"]),
            node("right", depends_on=["top"]),
            node("bottom", depends_on=["left", "right"]),
        ]
    )
    assert graph.order() == ["top", "left", "right", "bottom"]
    assert graph.upstream("bottom") == {"top", "left", "right"}
    assert graph.downstream("top") == {"left", "right", "bottom"}
    assert graph.upstream("bottom", depth=1) == {"left", "right"}
    assert graph.select(["left+"]) == ["left", "bottom"]
    assert graph.select(["+bottom"]) == ["top", "left", "right", "bottom"]
    assert graph.select(["@left"]) == ["top", "left", "right", "bottom"]


def test_parents_and_children(shop: FlowGraph) -> None:
    assert shop.parents("revenue") == {"orders", "shop.products"}
    assert shop.children("shop.products") == {"revenue", "shop.stock"}
    assert shop.parents("audit") == set()
    assert shop.children("audit") == set()
    # callers get copies, not the graph's own sets
    shop.parents("revenue").add("audit")
    assert shop.parents("revenue") == {"orders", "shop.products"}


def test_upstream_and_downstream_with_depth(shop: FlowGraph) -> None:
    assert shop.upstream("revenue_daily") == {"revenue", "orders", "customers", "shop.products"}
    assert shop.upstream("revenue_daily", depth=1) == {"revenue"}
    assert shop.upstream("revenue_daily", depth=2) == {"revenue", "orders", "shop.products"}
    assert shop.upstream("revenue_daily", depth=0) == set()
    assert shop.downstream("customers") == {"orders", "revenue", "revenue_daily"}
    assert shop.downstream("customers", depth=1) == {"orders"}
    assert shop.downstream("revenue_daily") == set()


def test_an_empty_graph() -> None:
    graph = FlowGraph([])
    assert graph.order() == []
    assert graph.select() == []


# -- construction errors ----------------------------------------------------------------------------------


def test_unknown_depends_on_names_the_flow_and_suggests() -> None:
    with pytest.raises(ProjectError) as caught:
        FlowGraph([node("customers"), node("orders", depends_on=["custmers"])])
    error = caught.value
    assert error.message == "depends_on names unknown flow 'custmers'."
    assert error.where == "flow orders"
    assert error.hint == "Did you mean 'customers'? Flows: customers, orders"
    assert not isinstance(error, CycleError)


def test_two_nodes_with_one_name() -> None:
    with pytest.raises(ProjectError, match="two flows are named 'orders'"):
        FlowGraph([node("orders"), node("orders")])


def test_three_cycle_prints_the_cycle_in_data_order() -> None:
    # a feeds b, b feeds c, c feeds a
    nodes = [node("a", depends_on=["c"]), node("b", depends_on=["a"]), node("c", depends_on=["b"])]
    with pytest.raises(CycleError) as caught:
        FlowGraph([*nodes, node("z", depends_on=["c"]), node("free")])
    error = caught.value
    assert error.message == "dependency cycle: a -> b -> c -> a"
    assert error.cycle == ["a", "b", "c", "a"]
    assert error.where == "flow a"
    assert isinstance(error, ProjectError)
    assert str(error).startswith("flow a  dependency cycle: a -> b -> c -> a. ")


def test_cycle_starts_at_its_smallest_name_whatever_the_input_order() -> None:
    nodes = [node("m", depends_on=["y"]), node("x", depends_on=["m"]), node("y", depends_on=["x"])]
    # downstream of the cycle, sorting first: it must not be reported as part of the cycle
    nodes.append(node("a", depends_on=["x"]))
    for seed in range(4):
        random.Random(seed).shuffle(nodes)
        with pytest.raises(CycleError) as caught:
            FlowGraph(nodes)
        assert caught.value.message == "dependency cycle: m -> x -> y -> m"


def test_self_cycle() -> None:
    with pytest.raises(CycleError) as caught:
        FlowGraph([node("ok"), node("loop", depends_on=["loop"])])
    assert caught.value.message == "dependency cycle: loop -> loop"


def test_two_cycle() -> None:
    with pytest.raises(CycleError) as caught:
        FlowGraph([node("a", depends_on=["b"]), node("b", depends_on=["a"])])
    assert caught.value.message == "dependency cycle: a -> b -> a"


# -- selection ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("select", "expected"),
    [
        pytest.param([], ALL, id="nothing-means-all"),
        pytest.param(["orders"], ["orders"], id="name"),
        pytest.param(["shop.products"], ["shop.products"], id="entity"),
        pytest.param(["shop"], ["shop.products", "shop.stock"], id="group"),
        pytest.param(["shop.*"], ["shop.products", "shop.stock"], id="glob-entities"),
        pytest.param(["*_daily"], ["revenue_daily"], id="glob-suffix"),
        pytest.param(["revenue*"], ["revenue", "revenue_daily"], id="glob-prefix"),
        pytest.param(["s?op"], ["shop.products", "shop.stock"], id="glob-matches-a-group"),
        pytest.param(["[ac]*"], ["audit", "customers"], id="glob-class"),
        pytest.param(["tag:nightly"], ["customers", "orders", "shop.products"], id="tag"),
        pytest.param(["tag:*ly"], ["customers", "orders", "shop.products", "revenue", "revenue_daily"], id="tag-glob"),
        pytest.param(["home:drops"], ["audit", "shop.stock"], id="home"),
        pytest.param(["home:lake"], ["revenue"], id="home-is-a-store"),
        pytest.param(["store:warehouse"], ["revenue", "revenue_daily"], id="store"),
        pytest.param(["store:a*"], ["audit"], id="store-glob"),
        pytest.param(["orders+"], ["orders", "revenue", "revenue_daily"], id="downstream"),
        pytest.param(["+revenue"], ["customers", "orders", "shop.products", "revenue"], id="upstream"),
        pytest.param(["+revenue+"], ["customers", "orders", "shop.products", "revenue", "revenue_daily"], id="both"),
        pytest.param(["customers+1"], ["customers", "orders"], id="downstream-depth"),
        pytest.param(["customers+2"], ["customers", "orders", "revenue"], id="downstream-depth-2"),
        pytest.param(["1+revenue"], ["orders", "shop.products", "revenue"], id="upstream-depth"),
        pytest.param(["1+revenue+1"], ["orders", "shop.products", "revenue", "revenue_daily"], id="both-depth"),
        pytest.param(["customers+0"], ["customers"], id="depth-zero"),
        pytest.param(["+tag:daily"], ["customers", "orders", "shop.products", "revenue", "revenue_daily"]),
        pytest.param(["shop+"], ["shop.products", "revenue", "revenue_daily", "shop.stock"], id="group-down"),
        pytest.param(["@orders"], ["customers", "orders", "shop.products", "revenue", "revenue_daily"], id="at"),
        pytest.param(["@shop.stock"], ["shop.products", "shop.stock"], id="at-leaf"),
        pytest.param(["orders audit"], ["audit", "orders"], id="union-in-one-expression"),
        pytest.param(["orders", "audit"], ["audit", "orders"], id="union-of-expressions"),
        pytest.param(["  orders \t audit  "], ["audit", "orders"], id="extra-whitespace"),
        pytest.param(["orders", "orders+"], ["orders", "revenue", "revenue_daily"], id="union-overlaps"),
        pytest.param(["tag:nightly,home:shop_db"], ["customers", "orders", "shop.products"], id="and"),
        pytest.param(["tag:nightly,shop.*"], ["shop.products"], id="and-glob"),
        pytest.param(["tag:nightly,tag:hourly"], ["orders"], id="and-tags"),
        pytest.param(["+revenue,tag:nightly"], ["customers", "orders", "shop.products"], id="and-graph"),
        pytest.param(["tag:daily,store:warehouse audit"], ["audit", "revenue", "revenue_daily"], id="and-or"),
    ],
)
def test_select(shop: FlowGraph, select: list[str], expected: list[str]) -> None:
    assert shop.select(select) == expected


@pytest.mark.parametrize(
    ("select", "exclude", "expected"),
    [
        pytest.param([], ["shop"], ["audit", "customers", "orders", "revenue", "revenue_daily"], id="group"),
        pytest.param(["+revenue"], ["tag:nightly"], ["revenue"], id="tag"),
        pytest.param(["customers+"], ["revenue+"], ["customers", "orders"], id="graph"),
        pytest.param([], ["tag:nightly home:drops"], ["revenue", "revenue_daily"], id="union"),
        pytest.param([], ["tag:nightly,home:shop_db"], ["audit", "revenue", "revenue_daily", "shop.stock"]),
        pytest.param(["orders"], ["orders"], [], id="everything"),
        pytest.param(["orders"], ["audit"], ["orders"], id="outside-selection"),
    ],
)
def test_exclude(shop: FlowGraph, select: list[str], exclude: list[str], expected: list[str]) -> None:
    assert shop.select(select, exclude) == expected


def test_a_lone_string_is_one_expression(shop: FlowGraph) -> None:
    assert shop.select("orders audit", "audit") == ["orders"]


def test_a_plain_flow_named_like_a_group_entity_is_distinct() -> None:
    graph = FlowGraph([node("shop"), node("shop.orders")])
    assert graph.select(["shop"]) == ["shop", "shop.orders"]
    assert graph.select(["shop.orders"]) == ["shop.orders"]


def test_names_are_matched_case_sensitively(shop: FlowGraph) -> None:
    with pytest.raises(UsageError):
        shop.select(["Orders"])
    with pytest.raises(UsageError):
        shop.select(["ORD*"])


def test_a_flow_name_starting_with_digits() -> None:
    graph = FlowGraph([node("2"), node("2024_orders", depends_on=["2"])])
    assert graph.select(["2+"]) == ["2", "2024_orders"]
    assert graph.select(["+2024_orders"]) == ["2", "2024_orders"]
    assert graph.select(["1+2024_orders"]) == ["2", "2024_orders"]


# -- selection errors ----------------------------------------------------------------------------------------


def usage_error(graph: FlowGraph, select: list[str], exclude: list[str] | None = None) -> UsageError:
    with pytest.raises(UsageError) as caught:
        graph.select(select, exclude or [])
    return caught.value


def test_unmatched_name_lists_flows(shop: FlowGraph) -> None:
    error = usage_error(shop, ["ordrs"])
    assert error.message == "selector 'ordrs' matches no flow."
    assert error.where == "--select"
    assert error.hint == (
        "Did you mean 'orders'? Flows: audit, customers, orders, revenue, revenue_daily, shop, "
        "shop.products, shop.stock"
    )
    assert str(error).startswith("--select  selector 'ordrs' matches no flow. Did you mean 'orders'?")


def test_unmatched_selector_with_graph_operators_quotes_it_whole(shop: FlowGraph) -> None:
    error = usage_error(shop, ["orders", "+ordrs+2"])
    assert error.message == "selector '+ordrs+2' matches no flow."
    assert error.hint is not None and error.hint.startswith("Did you mean 'orders'?")


def test_unmatched_glob(shop: FlowGraph) -> None:
    error = usage_error(shop, ["nope.*"])
    assert error.message == "selector 'nope.*' matches no flow."


@pytest.mark.parametrize(
    ("selector", "hint"),
    [
        ("tag:nightli", "Did you mean 'nightly'? Tags: daily, hourly, nightly"),
        ("home:shopdb", "Did you mean 'shop_db'? Homes: drops, lake, shop_db, warehouse"),
        ("store:lakes", "Did you mean 'lake'? Stores: archive, lake, warehouse"),
    ],
)
def test_unmatched_method_lists_its_values(shop: FlowGraph, selector: str, hint: str) -> None:
    error = usage_error(shop, [selector])
    assert error.message == f"selector '{selector}' matches no flow."
    assert error.hint == hint


def test_unmatched_part_of_an_intersection_is_named(shop: FlowGraph) -> None:
    error = usage_error(shop, ["tag:nightly,home:nowhere"])
    assert error.message == "selector 'home:nowhere' matches no flow."


def test_empty_intersection(shop: FlowGraph) -> None:
    error = usage_error(shop, ["tag:daily,home:drops"])
    assert error.message == "selector 'tag:daily,home:drops' matches no flow."
    assert error.hint == "Each part matches flows, but no flow matches all of them."


def test_unmatched_exclude_is_an_error_too(shop: FlowGraph) -> None:
    error = usage_error(shop, [], ["tag:nighty"])
    assert error.message == "selector 'tag:nighty' matches no flow."
    assert error.where == "--exclude"


def test_unknown_method(shop: FlowGraph) -> None:
    error = usage_error(shop, ["tga:nightly"])
    assert error.message == "unknown selector method 'tga' in 'tga:nightly'."
    assert error.hint == "Did you mean 'tag'? Methods: home, store, tag"


def test_tags_with_no_tags_anywhere() -> None:
    error = usage_error(FlowGraph([node("orders")]), ["tag:x"])
    assert error.hint == "There are no tags."


@pytest.mark.parametrize(
    ("select", "message"),
    [
        ([""], "a selector is empty."),
        (["  "], "a selector is empty."),
        (["+"], "cannot read selector '+'."),
        (["@"], "cannot read selector '@'."),
        (["a+b"], "cannot read selector 'a+b'."),
        (["orders+x"], "cannot read selector 'orders+x'."),
        (["tag:"], "selector 'tag:' has no value after ':'."),
        (["tag:nightly,"], "selector 'tag:nightly,' has an empty part."),
        ([",orders"], "selector ',orders' has an empty part."),
        (["@orders+"], "selector '@orders+' combines '@' with '+'."),
        (["+@orders"], "cannot read selector '+@orders'."),
    ],
)
def test_unreadable_selectors(shop: FlowGraph, select: list[str], message: str) -> None:
    error = usage_error(shop, select)
    assert error.message == message
    assert error.where == "--select"


# -- scale ---------------------------------------------------------------------------------------------------


def random_dag(size: int, seed: int) -> list[Node]:
    rng = random.Random(seed)
    names = [f"flow_{i:05d}" for i in range(size)]
    rng.shuffle(names)  # so that the topological order is not simply the name order
    nodes = []
    for index, name in enumerate(names):
        parents = rng.sample(names[:index], k=min(index, rng.randint(0, 3)))
        tags = ["even"] if index % 2 == 0 else []
        nodes.append(node(name, depends_on=parents, tags=tags, home=f"home_{index % 7}", store="lake"))
    return nodes


@pytest.mark.parametrize("seed", range(5))
def test_random_graphs_agree_with_the_definitions(seed: int) -> None:
    graph = FlowGraph(random_dag(60, seed))
    order = graph.order()
    assert sorted(order) == sorted(graph.nodes)
    assert_topological(graph, order)
    for name in graph.nodes:
        up, down = graph.upstream(name), graph.downstream(name)
        assert not up & down
        assert graph.select([f"+{name}"]) == graph.order(up | {name})
        assert graph.select([f"{name}+"]) == graph.order(down | {name})
        assert graph.upstream(name, depth=1) == graph.parents(name)
        for child in graph.children(name):
            assert name in graph.upstream(child)
        at = down | {name}
        for descendant in list(at):
            at |= graph.upstream(descendant)
        assert graph.select([f"@{name}"]) == graph.order(at)


def test_a_200_flow_selection_is_instant() -> None:
    nodes = random_dag(200, seed=1)
    started = time.perf_counter()
    graph = FlowGraph(nodes)
    for name in list(graph.nodes)[:50]:
        graph.select([f"+{name}+ tag:even,home:home_3 flow_001*"], ["home:home_1"])
    assert time.perf_counter() - started < 0.5


def test_a_10k_chain_needs_no_recursion() -> None:
    names = [f"n{i:05d}" for i in range(10_000)]
    graph = FlowGraph(chain(*names))
    assert graph.order() == names
    assert len(graph.select([f"+{names[-1]}"])) == 10_000
    assert graph.select([f"{names[0]}+2"]) == names[:3]
    assert len(graph.select([f"@{names[5000]}"])) == 10_000


def test_a_10k_cycle_is_found_without_recursion() -> None:
    names = [f"n{i:05d}" for i in range(10_000)]
    nodes = chain(*names)
    nodes[0] = node(names[0], depends_on=[names[-1]])
    with pytest.raises(CycleError) as caught:
        FlowGraph(nodes)
    assert caught.value.cycle == [*names, names[0]]
