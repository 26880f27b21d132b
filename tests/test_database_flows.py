"""Files through every database and back to files, by the real `hygge` command."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import CompletedProcess

import polars as pl
import pytest
from conftest import build_project
from databases import POSTGRES_URL, Db, require_postgres
from polars.testing import assert_frame_equal

Hygge = Callable[..., CompletedProcess[str]]

ORDERS_CSV = (
    "id,customer,amount,ordered_at,paid\n"
    "1,Åse Berg,29.50,2025-11-01 08:26:00,true\n"
    '2,"Dahl, Eva",158.00,2025-11-01 09:17:00,false\n'
    "3,,30.00,2025-11-02 10:16:00,\n"
    '4,Hans "Hasse" Ås,-1.25,2025-11-03 11:32:00,true\n'
)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    require_postgres()
    schema = f"hygge_flows_{uuid.uuid4().hex[:12]}"
    db = Db("postgres", Path(), {"url": POSTGRES_URL}, schema=schema)
    try:
        yield schema
    finally:
        db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_csv_to_sqlite_to_duckdb_to_postgres_to_parquet(tmp_path: Path, hygge: Hygge, pg_schema: str) -> None:
    root = build_project(
        tmp_path / "proj",
        {
            "hygge.yml": "name: chain\n",
            "homes/drops.yml": "type: csv\npath: data/drops\n",
            "stores/shop.yml": "type: sqlite\npath: data/shop.sqlite\n",
            "stores/warehouse.yml": "type: duckdb\npath: data/warehouse.duckdb\n",
            "stores/pg.yml": "type: postgres\nurl: ${PG_URL}\n",
            "stores/lake.yml": "type: parquet\npath: data/lake\n",
            "flows/orders.yml": "home: drops\nstore: shop\n",
            "flows/to_duck.yml": "home: shop\nstore: warehouse\nsource: orders\ntarget: orders\nmode: merge\n"
            "key: [id]\n",
            "flows/to_pg.yml": (
                f"home: warehouse\nstore: pg\nsource: orders\ntarget: {pg_schema}.orders\nmode: merge\nkey: [id]\n"
            ),
            "flows/back.yml": f"home: pg\nstore: lake\nsource: {pg_schema}.orders\ntarget: orders\n",
            "data/drops/orders.csv": ORDERS_CSV,
        },
    )
    env = {"PG_URL": POSTGRES_URL}
    listed = hygge("ls", "--json", cwd=root, env=env)
    assert listed.returncode == 0, listed.stderr
    depends = {row["name"]: row["depends_on"] for row in json.loads(listed.stdout)}
    assert depends == {"orders": [], "to_duck": ["orders"], "to_pg": ["to_duck"], "back": ["to_pg"]}

    for _ in range(2):  # a rerun gives the same result
        result = hygge("run", "--all", cwd=root, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
    expected = pl.read_csv(root / "data/drops/orders.csv")
    assert_frame_equal(pl.read_parquet(root / "data/lake/orders.parquet").sort("id"), expected)

    checked = hygge("check", "--connect", cwd=root, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("ok ") >= 5


def test_a_failing_database_flow_is_told_without_a_traceback(project: Callable[..., Path], hygge: Hygge) -> None:
    root = project(
        {
            "stores/shop.yml": "type: sqlite\npath: data/shop.sqlite\n",
            "flows/orders.yml": "store: shop\nmode: append\n",
            "flows/merged.yml": "home: drops\nsource: orders\nstore: shop\ntarget: orders\nmode: merge\nkey: [id]\n"
            "depends_on: [orders]\n",
        }
    )
    result = hygge("run", "--all", cwd=root)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "has no primary key or unique index on (id)" in output
    assert 'CREATE UNIQUE INDEX "main"."orders_id_key" ON "orders" ("id")' in output
    assert "Traceback" not in output


def test_check_connect_reports_an_unreachable_database_without_its_password(
    project: Callable[..., Path], hygge: Hygge
) -> None:
    root = project(
        {
            "stores/pg.yml": "type: postgres\nhost: 127.0.0.1\nport: 1\nuser: me\npassword: ${PG_PASSWORD}\n"
            "database: shop\n",
            "homes/missing.yml": "type: duckdb\npath: data/nothing.duckdb\n",
        }
    )
    result = hygge("check", "--connect", cwd=root, env={"PG_PASSWORD": "s3cr3t-horse"})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "s3cr3t-horse" not in output
    assert "data/nothing.duckdb does not exist" in output
    assert "postgres://127.0.0.1:1/shop" in output


# Slow: a twin, end to end, of cases the fast suite has apart: rows past the watermark moved by `hygge run` into
# SQLite and DuckDB targets (test_sqlite_watermarks.py), a database home reading only those rows
# (test_database_incremental.py::test_rows_past_the_watermark_for_every_cursor_type), a DuckDB merge by key
# (test_databases.py::test_merge_upserts_by_key_and_the_last_duplicate_wins).
@pytest.mark.slow
def test_incremental_flows_between_databases_read_only_new_rows(
    tmp_path: Path, hygge: Hygge, sqlite_db: Db, duckdb_db: Db
) -> None:
    sqlite_db.root = duckdb_db.root = tmp_path / "proj"
    root = build_project(
        tmp_path / "proj",
        {
            "hygge.yml": "name: incremental\n",
            "homes/app.yml": sqlite_db.yaml(),
            "stores/warehouse.yml": duckdb_db.yaml(),
            "flows/events.yml": "home: app\nstore: warehouse\nincremental: {cursor: at}\nkey: [id]\n",
        },
    )
    first = pl.DataFrame({"id": [1, 2], "at": [dt.datetime(2025, 1, 1), dt.datetime(2025, 1, 2)], "v": ["a", "b"]})
    sqlite_db.write(first, "events")
    assert hygge("run", "--all", cwd=root).returncode == 0
    later = pl.DataFrame({"id": [2, 3], "at": [dt.datetime(2025, 1, 3), dt.datetime(2025, 1, 4)], "v": ["b2", "c"]})
    sqlite_db.write(later, "events", mode="append")
    result = hygge("run", "--all", cwd=root)
    assert result.returncode == 0, result.stdout
    assert "2 rows" in result.stdout  # only the rows past the watermark were read
    assert duckdb_db.read("events", sort="id")["v"].to_list() == ["a", "b2", "c"]


def test_a_full_refresh_of_a_merge_keeps_the_last_row_per_key(tmp_path: Path, hygge: Hygge, pg_schema: str) -> None:
    # An incremental merge's source may hold several rows per key (a change log); rebuilt with --full-refresh it must
    # give what merging it into an empty target gives, in every store, not refuse the duplicates.
    stores = {"shop": "type: sqlite\npath: data/shop.sqlite\n", "warehouse": "type: duckdb\npath: data/w.duckdb\n"}
    stores |= {"pg": "type: postgres\nurl: ${PG_URL}\n", "lake": "type: parquet\npath: data/lake\n"}
    flows = {
        f"flows/to_{name}.yml": f"home: drops\nstore: {name}\nsource: changes\n"
        f"target: {pg_schema + '.' if name == 'pg' else ''}changes\nkey: [id]\nincremental: {{cursor: seq}}\n"
        for name in stores
    }
    root = build_project(
        tmp_path / "proj",
        {
            "hygge.yml": "name: changes\n",
            "homes/drops.yml": "type: csv\npath: data/drops\n",
            **{f"stores/{name}.yml": text for name, text in stores.items()},
            **flows,
            "data/drops/changes.csv": "seq,id,status\n1,1,new\n2,2,new\n3,1,paid\n4,1,shipped\n",
        },
    )
    env = {"PG_URL": POSTGRES_URL}
    want = [(2, 2, "new"), (4, 1, "shipped")]
    for args in (("run", "--all"), ("run", "--all", "--full-refresh")):
        run = hygge(*args, cwd=root, env=env)
        assert run.returncode == 0, run.stdout + run.stderr
        assert sorted(pl.read_parquet(root / "data/lake/changes.parquet").iter_rows()) == want
        for kind, path in (("sqlite", "data/shop.sqlite"), ("duckdb", "data/w.duckdb")):
            assert sorted(Db(kind, root, {"path": path}).read("changes").iter_rows()) == want, (args, kind)
        pg = Db("postgres", Path(), {"url": POSTGRES_URL}, schema=pg_schema)
        assert sorted(pg.read("changes").iter_rows()) == want, args


# Slow: fault injection (the run is killed mid-query), then seconds of waiting for the server to notice. The fast
# suite runs PostgreSQL queries by the command in test_csv_to_sqlite_to_duckdb_to_postgres_to_parquet.
@pytest.mark.slow
def test_a_killed_run_leaves_no_statement_running_on_postgres(tmp_path: Path) -> None:
    # The server would run a killed client's statement to its end (a long INSERT keeps its locks and the next
    # run waits); hygge has it check for the client while it runs. The query sleeps for a minute.
    import os
    import signal
    import subprocess
    import time

    from conftest import BIN

    require_postgres()
    marker = f"hygge_kill_{uuid.uuid4().hex[:8]}"
    root = build_project(
        tmp_path / "proj",
        {
            "hygge.yml": "name: kill\n",
            "homes/pg.yml": f"type: postgres\nurl: {POSTGRES_URL}\n",
            "stores/lake.yml": "type: parquet\npath: data/lake\n",
            "flows/slow.yml": f"home: pg\nstore: lake\nquery: SELECT pg_sleep(60)::text AS {marker}\n",
        },
    )
    watcher = Db("postgres", Path(), {"url": POSTGRES_URL})
    running = f"SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%{marker}%' AND pid <> pg_backend_pid()"
    process = subprocess.Popen([str(BIN), "run", "--all"], cwd=root, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while watcher.rows(running) == [(0,)]:
            assert time.monotonic() < deadline, "the query never started"
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 10
    while watcher.rows(running) != [(0,)]:
        assert time.monotonic() < deadline, "the killed run's query is still running on the server"
        time.sleep(0.2)
