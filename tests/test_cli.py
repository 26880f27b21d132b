"""The real `hygge` command on real project folders: runs, exit codes, output, journal, safety."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

Make = Callable[..., Path]
Hygge = Callable[..., subprocess.CompletedProcess[str]]

ORDERS = pl.DataFrame({"id": [1, 2, 3], "amount": [10.5, 20.0, 7.25]})


def lake(root: Path, name: str) -> pl.DataFrame:
    folder = root / "data" / "lake"
    file = folder / f"{name}.parquet"
    if file.exists():
        return pl.read_parquet(file)
    return pl.read_parquet(folder / name / "*.parquet")


def snapshot(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_run_all_moves_data_and_rerun_is_identical(project: Make, hygge: Hygge) -> None:
    root = project({"flows/orders.yml": "{}\n", "flows/customers.yml": "{}\n"})
    first = hygge("run", "--all", cwd=root)
    assert first.returncode == 0, first.stderr
    assert "START orders" in first.stdout and "OK    orders  3 rows in" in first.stdout
    assert "rows/s" in first.stdout and "Done: 2 ok" in first.stdout
    assert_frame_equal(lake(root, "orders"), ORDERS)
    second = hygge("run", "--all", cwd=root)
    assert second.returncode == 0, second.stderr
    assert_frame_equal(lake(root, "orders"), ORDERS)
    assert_frame_equal(lake(root, "customers"), pl.DataFrame({"id": [1, 2], "name": ["Ada", "Bo"]}))


# Slow: a twin of test_file_store_types.py::test_a_text_store_takes_decimal_and_uint64_columns_again[csv], whose
# append flow runs three times by the command and holds exactly three copies; a Parquet append twice in-process:
# test_file_connectors.py::test_append_twice_holds_both_runs.
@pytest.mark.slow
def test_append_rerun_adds_exactly_one_copy_per_run(project: Make, hygge: Hygge) -> None:
    root = project({"flows/orders.yml": "mode: append\n"})
    for _ in range(3):
        assert hygge("run", "orders", cwd=root).returncode == 0
    got = lake(root, "orders").sort("id")
    assert_frame_equal(got, pl.concat([ORDERS] * 3).sort("id"))


def test_bare_run_exits_2_and_says_how_to_choose(project: Make, hygge: Hygge) -> None:
    root = project({"flows/orders.yml": "{}\n"})
    result = hygge("run", cwd=root)
    assert result.returncode == 2
    assert "hygge run --all" in result.stderr
    assert not (root / ".hygge").exists()


def test_project_error_exits_2_without_traceback(project: Make, hygge: Hygge) -> None:
    root = project({"flows/orders.yml": "home: drop\n"})
    result = hygge("run", "--all", cwd=root)
    assert result.returncode == 2
    assert "flows/orders.yml:1:7  unknown home 'drop'. Did you mean 'drops'?" in result.stderr
    assert "Traceback" not in result.stderr
    debug = hygge("run", "--all", "--debug", cwd=root)
    assert "Traceback" in debug.stderr


def test_failure_skips_downstream_but_not_siblings(project: Make, hygge: Hygge) -> None:
    root = project(
        {
            "flows/orders.yml": "source: missing_file\n",
            "flows/report.yml": "home: lake\nsource: orders\ntarget: report\n",
            "flows/customers.yml": "{}\n",
        }
    )
    result = hygge("run", "--all", cwd=root)
    assert result.returncode == 1
    assert "FAIL  orders" in result.stdout
    assert "could not read data/drops/missing_file" in result.stdout
    assert "SKIP  report  skipped: upstream orders did not succeed" in result.stdout
    assert "OK    customers" in result.stdout
    log_line = next(line for line in result.stdout.splitlines() if line.startswith("Log: "))
    log_file = Path(log_line[len("Log: ") :].strip())
    assert log_file.is_file() and "missing_file" in log_file.read_text()
    assert_frame_equal(lake(root, "customers"), pl.DataFrame({"id": [1, 2], "name": ["Ada", "Bo"]}))


def test_fail_fast_stops_at_first_failure(project: Make, hygge: Hygge) -> None:
    root = project(
        {
            "flows/a_bad.yml": "source: missing_file\n",
            "flows/b_ok.yml": "source: orders\n",
            "flows/c_ok.yml": "source: customers\n",
        }
    )
    result = hygge("run", "--all", "--fail-fast", "--threads", "1", cwd=root)
    assert result.returncode == 1
    assert "FAIL  a_bad" in result.stdout
    assert "SKIP  b_ok  skipped: the run was stopped" in result.stdout
    assert not (root / "data" / "lake" / "b_ok.parquet").exists()


def test_dry_run_writes_nothing_at_all(project: Make, hygge: Hygge) -> None:
    root = project({"flows/orders.yml": "{}\n", "flows/report.yml": "home: lake\nsource: orders\n"})
    before = snapshot(root)
    result = hygge("run", "--all", "--dry-run", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "orders  drops:orders -> lake:orders (replace)" in result.stdout
    assert result.stdout.index("  orders") < result.stdout.index("  report")
    assert snapshot(root) == before
    assert not (root / ".hygge").exists()


# Slow: fault injection, a twin of test_file_connectors.py::test_injected_fault_leaves_the_target_byte_for_byte
# (the same fault in the same store's replace, target and folder checked); how the command reports a failed flow
# (exit 1, its error) is checked fast by test_failure_skips_downstream_but_not_siblings and others.
@pytest.mark.slow
def test_failed_replace_leaves_old_target_intact(project: Make, hygge: Hygge) -> None:
    root = project({"flows/orders.yml": "{}\n"})
    assert hygge("run", "orders", cwd=root).returncode == 0
    target = root / "data" / "lake" / "orders.parquet"
    old = target.read_bytes()
    (root / "data" / "drops" / "orders.csv").write_text("id,amount\n9,1.0\n")
    result = hygge("run", "orders", cwd=root, env={"HYGGE_FAULT": "write.before_commit"})
    assert result.returncode == 1
    assert "injected fault" in result.stdout
    assert target.read_bytes() == old
    assert sorted(p.name for p in target.parent.iterdir()) == ["orders.parquet"]


def test_replacing_with_zero_rows_needs_allow_empty(project: Make, hygge: Hygge) -> None:
    root = project({"flows/orders.yml": "{}\n"})
    assert hygge("run", "orders", cwd=root).returncode == 0
    (root / "data" / "drops" / "orders.csv").write_text("id,amount\n")
    refused = hygge("run", "orders", cwd=root)
    assert refused.returncode == 1 and "--allow-empty" in refused.stdout
    assert lake(root, "orders").height == 3
    assert hygge("run", "orders", "--allow-empty", cwd=root).returncode == 0
    assert lake(root, "orders").height == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # The graph tests cover every form; these check the command line passes them through.
        (["orders+"], {"orders", "report"}),
        (["--select", "tag:daily", "--select", "+report"], {"customers", "orders", "report"}),
        (["--select", "store:lake", "--exclude", "report"], {"orders", "customers"}),
    ],
)
def test_selection_forms(project: Make, hygge: Hygge, args: list[str], expected: set[str]) -> None:
    root = project(
        {
            "flows/orders.yml": "{}\n",
            "flows/customers.yml": "tags: [daily]\n",
            "flows/report.yml": "home: lake\nsource: orders\n",
        }
    )
    result = hygge("run", "--dry-run", *args, cwd=root)
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines()[1:] if line.startswith("  ")}
    assert listed == expected


def test_unknown_selector_exits_2(project: Make, hygge: Hygge) -> None:
    root = project({"flows/orders.yml": "{}\n"})
    result = hygge("run", "ordrs", cwd=root)
    assert result.returncode == 2
    assert "selector 'ordrs' matches no flow. Did you mean 'orders'?" in result.stderr


def test_var_beats_environment_through_the_cli(project: Make, hygge: Hygge) -> None:
    root = project({"stores/lake.yml": "type: parquet\npath: ${LAKE}\n", "flows/orders.yml": "{}\n"})
    result = hygge("run", "orders", "--var", "LAKE=data/from_var", cwd=root, env={"LAKE": "data/from_env"})
    assert result.returncode == 0, result.stderr
    assert (root / "data" / "from_var" / "orders.parquet").exists()
    assert not (root / "data" / "from_env").exists()


def test_journal_and_history(project: Make, hygge: Hygge) -> None:
    root = project({"flows/orders.yml": "{}\n", "flows/broken.yml": "source: nothing_here\n"})
    hygge("run", "--all", cwd=root)
    with sqlite3.connect(root / ".hygge" / "state.db") as db:
        rows = dict(db.execute("SELECT flow, outcome FROM flow_runs").fetchall())
        ok_rows = db.execute("SELECT rows, started_at, ended_at FROM flow_runs WHERE flow='orders'").fetchone()
    assert rows == {"orders": "ok", "broken": "failed"}
    assert ok_rows[0] == 3 and ok_rows[1] <= ok_rows[2]
    shown = hygge("history", cwd=root)
    assert shown.returncode == 0 and "orders" in shown.stdout and "failed" in shown.stdout
    as_json = json.loads(hygge("history", "orders", "--json", cwd=root).stdout)
    assert [r["flow"] for r in as_json] == ["orders"] and as_json[0]["rows"] == 3


def test_ls_and_graph_json(project: Make, hygge: Hygge) -> None:
    root = project({"flows/orders.yml": "{}\n", "flows/report.yml": "home: lake\nsource: orders\n"})
    rows = json.loads(hygge("ls", "--json", cwd=root).stdout)
    assert [r["name"] for r in rows] == ["orders", "report"]
    assert rows[1]["depends_on"] == ["orders"] and rows[1]["home"] == "lake"
    graph = json.loads(hygge("graph", "--json", cwd=root).stdout)
    assert graph["edges"] == [{"from": "orders", "to": "report"}]
    tree = hygge("graph", cwd=root).stdout
    assert tree.index("orders") < tree.index("report")


def test_check_reports_ok_and_errors(project: Make, hygge: Hygge) -> None:
    root = project({"flows/orders.yml": "{}\n"})
    ok = hygge("check", cwd=root)
    assert ok.returncode == 0 and "1 flows" in ok.stdout
    (root / "flows" / "bad.yml").write_text("home: drops\nmode: upsert\n")
    bad = hygge("check", cwd=root)
    assert bad.returncode == 2 and "flows/bad.yml:2:7" in bad.stderr


def test_json_log_format(project: Make, hygge: Hygge) -> None:
    root = project({"flows/orders.yml": "{}\n"})
    result = hygge("run", "--all", "--log-format", "json", cwd=root)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in events] == ["run_started", "flow_started", "flow_finished", "run_finished"]
    assert events[2]["rows"] == 3 and events[3]["exit_code"] == 0


def test_secrets_are_redacted_in_output_log_and_journal(project: Make, hygge: Hygge) -> None:
    root = project({"homes/drops.yml": "type: csv\npath: data/${API_TOKEN}\n", "flows/orders.yml": "{}\n"})
    result = hygge("run", "--all", cwd=root, env={"API_TOKEN": "tops3cret-value"})
    assert result.returncode == 1
    assert "tops3cret-value" not in result.stdout + result.stderr
    assert "***" in result.stdout
    for log in (root / ".hygge" / "logs").iterdir():
        assert "tops3cret-value" not in log.read_text()
    with sqlite3.connect(root / ".hygge" / "state.db") as db:
        errors = [r[0] for r in db.execute("SELECT error FROM flow_runs")]
    assert errors and all("tops3cret-value" not in (e or "") for e in errors)


def test_project_flag_from_elsewhere(project: Make, hygge: Hygge, tmp_path: Path) -> None:
    root = project({"flows/orders.yml": "{}\n"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = hygge("run", "--all", "--project", str(root), cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert (root / "data" / "lake" / "orders.parquet").exists()


def test_state_show_and_clear(project: Make, hygge: Hygge) -> None:
    root = project({"flows/orders.yml": "incremental: {cursor: id}\n", "flows/customers.yml": "{}\n"})
    assert hygge("run", "--all", cwd=root).returncode == 0
    shown = json.loads(hygge("state", "show", "--json", cwd=root).stdout)
    assert [(s["flow"], s["cursor"], s["watermark"]) for s in shown] == [("orders", "id", "3")]
    unconfirmed = hygge("state", "clear", "orders", cwd=root)
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    not_incremental = hygge("state", "clear", "customers", "--yes", cwd=root)
    assert not_incremental.returncode == 2 and "not an incremental flow" in not_incremental.stderr
    cleared = hygge("state", "clear", "orders", "--yes", cwd=root)
    assert cleared.returncode == 0, cleared.stderr
    assert "reset_requested" in hygge("state", "show", "--json", cwd=root).stdout
    history = json.loads(hygge("history", "orders", "--json", cwd=root).stdout)
    assert (history[0]["window_from"], history[0]["window_to"]) == (None, "3")


def test_bad_var_and_target_are_command_line_errors(project: Make, hygge: Hygge) -> None:
    root = project({"flows/orders.yml": "{}\n"})
    bad_var = hygge("run", "--all", "--var", "NOVALUE", cwd=root)
    assert bad_var.returncode == 2 and "--var 'NOVALUE' is not KEY=VALUE" in bad_var.stderr
    bad_target = hygge("run", "--all", "--target", "prod", cwd=root)
    assert bad_target.returncode == 2 and "unknown target 'prod'" in bad_target.stderr


_IMPORTS_AFTER = """
import sys, types
sys.argv = ["hygge", *sys.argv[1:]]
from hygge.cli import main
try:
    main()
except SystemExit:
    pass
heavy = ("polars", "pyarrow", "duckdb", "adbc_driver_manager", "connectorx", "watchfiles", "copier")
print("LOADED", ",".join(m for m in heavy if m in sys.modules and type(sys.modules[m]) is types.ModuleType))
"""


@pytest.mark.parametrize("command", [["ls"], ["graph"], ["check"], ["run", "--all", "--dry-run"]])
def test_commands_that_move_no_data_import_no_data_library(command: list[str]) -> None:
    """`hygge ls` and friends stay fast: Polars and the drivers load only when a flow moves data."""
    sample = Path(__file__).resolve().parents[1] / "sample_project"
    args = [sys.executable, "-c", _IMPORTS_AFTER, *command, "--project", str(sample)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert "LOADED \n" in done.stdout, done.stdout + done.stderr


# home: (password, port, what its error says). One project holds them all: every command reports each home's error.
UNREADABLE_URLS = {
    "question": ("S3cretPW?x", "5999", "%3F for '?'"),
    "slash": ("1234/S3cretPW", "5999", "%2F for '/'"),
    "hash": ("S3cretPW#x", "5999", "%23 for '#'"),
    "at": ("S3c@retPW", "5432", "%40"),
    "port": ("S3cretPW", "abc", "port"),
}


def test_unreadable_postgres_url_is_an_error_that_never_shows_the_password(project: Make, hygge: Hygge) -> None:
    files: dict[str, str | bytes] = {}
    for home, (_, port, _) in UNREADABLE_URLS.items():
        variable = f"PW_{home.upper()}"
        files[f"homes/{home}.yml"] = (
            f'type: postgres\nurl: "postgresql://postgres:${{{variable}}}@127.0.0.1:{port}/test"\n'
        )
        files[f"flows/{home}.yml"] = f"home: {home}\n"
    root = project(files)
    env = {f"PW_{home.upper()}": password for home, (password, _, _) in UNREADABLE_URLS.items()}
    # Every command read the URL; the password that looks like a port was shown by `check --connect` and `run`.
    for command in (["ls"], ["check", "--connect"], ["run", "--all"]):
        result = hygge(*command, cwd=root, env=env)
        assert result.returncode == 2, result.stdout + result.stderr
        said = {block.split(":", 1)[0]: block for block in re.split(r"(?=homes/\w+\.yml:\d+:\d+)", result.stderr)[1:]}
        assert set(said) == {f"homes/{home}.yml" for home in UNREADABLE_URLS}, result.stderr
        for home, (_, _, expected) in UNREADABLE_URLS.items():
            assert said[f"homes/{home}.yml"].startswith(f"homes/{home}.yml:2:6"), result.stderr
            assert expected in said[f"homes/{home}.yml"], result.stderr
        assert "S3cretPW" not in result.stdout + result.stderr and "Traceback" not in result.stderr
    stored = [p.read_bytes() for p in root.joinpath(".hygge").rglob("*") if p.is_file()]
    assert all(b"S3cretPW" not in data for data in stored)


def test_bad_var_never_shows_what_follows_the_name(project: Make, hygge: Hygge) -> None:
    root = project({"flows/orders.yml": "{}\n"})
    result = hygge("check", "--var", "PG_PASSWORD S3cretPW", cwd=root)
    assert result.returncode == 2 and "--var 'PG_PASSWORD'... is not KEY=VALUE" in result.stderr
    assert "S3cretPW" not in result.stderr


def test_a_folder_named_like_a_flow_file_is_ignored(project: Make, hygge: Hygge) -> None:
    root = project({"flows/orders.yml": "{}\n", "flows/dir.yml/customers.csv": "id\n1\n"})
    result = hygge("check", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "1 flows" in result.stdout


def test_json_log_format_reports_project_errors_as_an_event(project: Make, hygge: Hygge) -> None:
    # A machine reading --log-format json gets the error as an event on stdout, not only text on stderr.
    root = project({"flows/orders.yml": "home: drop\n"})
    run = hygge("run", "--all", "--log-format", "json", cwd=root)
    assert run.returncode == 2
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert [e["event"] for e in events] == ["error"]
    assert events[0]["where"] == "flows/orders.yml:1:7" and "unknown home 'drop'" in events[0]["message"]
    assert events[0]["exit_code"] == 2 and "Did you mean 'drops'?" in events[0]["hint"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threads", "0", "--log-format", "json"], "Invalid value for '--threads'"),
        (["--log-format=json", "--bogus"], "No such option: --bogus"),
    ],
)
def test_json_log_format_reports_refused_options_as_an_event(
    project: Make, hygge: Hygge, args: list[str], message: str
) -> None:
    root = project({"flows/orders.yml": "{}\n"})
    run = hygge("run", "--all", *args, cwd=root)
    assert run.returncode == 2 and message in run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert [(e["event"], e["where"], e["exit_code"]) for e in events] == [("error", "hygge run", 2)]
    assert message in events[0]["message"]
    # without json, stdout stays empty
    assert hygge("run", "--all", *[a for a in args if "json" not in a and a != "--log-format"], cwd=root).stdout == ""


def test_an_error_raised_inside_polars_still_names_its_flow(project: Make, hygge: Hygge) -> None:
    # A per-batch check (here: a null merge key) comes back from Polars without its place.
    root = project(
        {
            "data/drops/orders.csv": "id,v\n1,a\n,b\n",
            "flows/orders.yml": "mode: merge\nkey: [id]\n",
        }
    )
    run = hygge("run", "--all", "--log-format", "json", cwd=root)
    assert run.returncode == 1
    failed = [json.loads(line) for line in run.stdout.splitlines() if '"outcome": "failed"' in line]
    assert failed and failed[0]["error"].startswith("flow orders  the key column 'id' is null"), run.stdout


def test_the_hint_for_a_missing_password_variable_shows_its_placeholder(project: Make, hygge: Hygge) -> None:
    # The hint's `--var PG_PASSWORD=VALUE` is no secret: masked, it read `--var PG_PASSWORD=***`.
    root = project({"homes/pg.yml": "type: postgres\nurl: postgresql://u:${QA_DB_PASSWORD}@h/db\n"})
    checked = hygge("check", cwd=root)
    assert checked.returncode == 2
    assert "pass --var QA_DB_PASSWORD=VALUE." in checked.stderr, checked.stderr
