"""csv, ndjson and parquet homes and stores on S3, against a real S3-compatible server on loopback (moto)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import polars as pl
import pytest
from conftest import build_project, run_hygge
from polars.testing import assert_frame_equal
from s3server import SECRET_KEY, Bucket

from hygge.connectors import get_connector
from hygge.connectors.base import Home, Incremental, ReadRequest, Store, WriteRequest
from hygge.connectors.folder import glob_match
from hygge.errors import FlowError

FORMATS = ["csv", "ndjson", "parquet"]
FIRST = pl.DataFrame({"id": [1, 2, 3], "name": ["ada", "bo", "cy"], "amount": [10.5, 20.0, 7.25]})
SECOND = pl.DataFrame({"id": [4, 5], "name": ["di", "ed"], "amount": [1.5, 2.5]})


def settings(fmt: str, bucket: Bucket, prefix: str = "lake") -> object:
    connector = get_connector(fmt)
    return connector.settings_model.model_validate({"type": fmt, "path": bucket.url(prefix), "s3": bucket.options})


def store(fmt: str, bucket: Bucket, prefix: str = "lake") -> Store:
    return get_connector(fmt).store("lake", settings(fmt, bucket, prefix), Path.cwd())  # type: ignore[arg-type]


def home(fmt: str, bucket: Bucket, prefix: str = "lake") -> Home:
    return get_connector(fmt).home("lake", settings(fmt, bucket, prefix), Path.cwd())  # type: ignore[arg-type]


def write(fmt: str, bucket: Bucket, frame: pl.DataFrame | pl.LazyFrame, mode: str = "replace", **kw: object) -> int:
    request = WriteRequest(flow="orders", target=str(kw.pop("target", "orders")), mode=mode, **kw)  # type: ignore[arg-type]
    return store(fmt, bucket).write(frame.lazy(), request).rows


def read(fmt: str, bucket: Bucket, source: str = "orders") -> pl.DataFrame:
    return home(fmt, bucket).read(ReadRequest(flow="check", source=source)).collect().sort("id")


def hidden(bucket: Bucket) -> list[str]:
    return [key for key in bucket.keys() if any(part.startswith(".") for part in key.split("/"))]


@pytest.mark.parametrize("fmt", FORMATS)
def test_replace_append_and_merge_on_s3(fmt: str, bucket: Bucket) -> None:
    assert write(fmt, bucket, FIRST) == 3
    assert bucket.keys() == [f"lake/orders.{fmt}"]
    assert_frame_equal(read(fmt, bucket), FIRST)

    assert write(fmt, bucket, SECOND, "append") == 2  # the single file becomes the first part
    assert [key.rsplit("/", 1)[0] for key in bucket.keys()] == ["lake/orders", "lake/orders"]
    assert_frame_equal(read(fmt, bucket), pl.concat([FIRST, SECOND]))

    changed = pl.DataFrame({"id": [2, 6], "name": ["BO", "fy"], "amount": [0.5, 6.0]})
    assert write(fmt, bucket, changed, "merge", key=("id",)) == 2
    merged = read(fmt, bucket)
    assert merged["id"].to_list() == [1, 2, 3, 4, 5, 6]
    assert merged.filter(pl.col("id") == 2)["name"].item() == "BO"
    assert bucket.keys() == [f"lake/orders.{fmt}"]  # the parts were replaced by the merged file

    assert write(fmt, bucket, SECOND, "append") == 2
    assert write(fmt, bucket, FIRST) == 3  # a replace of parts goes through a commit record
    assert bucket.keys() == [f"lake/orders.{fmt}"]
    assert_frame_equal(read(fmt, bucket), FIRST)
    assert hidden(bucket) == []


def test_a_failed_write_leaves_the_target_as_it_was(bucket: Bucket) -> None:
    write("parquet", bucket, FIRST)
    before = bucket.get("lake/orders.parquet")
    bad = pl.LazyFrame({"id": ["1", "x"], "name": ["a", "b"], "amount": [1.0, 2.0]}).with_columns(
        pl.col("id").cast(pl.Int64, strict=True)  # fails while the sink runs, after its upload began
    )
    for mode in ("replace", "append"):
        with pytest.raises(pl.exceptions.PolarsError):
            write("parquet", bucket, bad, mode)
        assert bucket.keys() == ["lake/orders.parquet"]  # the staged object Polars completed is removed
        assert bucket.get("lake/orders.parquet") == before


def test_replacing_with_no_rows_needs_allow_empty(bucket: Bucket) -> None:
    write("parquet", bucket, FIRST)
    with pytest.raises(FlowError, match="refusing to replace"):
        write("parquet", bucket, FIRST.clear())
    assert_frame_equal(read("parquet", bucket), FIRST)
    assert write("parquet", bucket, FIRST.clear(), allow_empty=True) == 0
    assert read("parquet", bucket).height == 0


def test_an_incremental_target_on_s3_gives_its_watermark(bucket: Bucket) -> None:
    write("parquet", bucket, FIRST, "append")
    write("parquet", bucket, SECOND, "append")
    assert store("parquet", bucket).max_value("orders", "id") == 5
    only = home("parquet", bucket).read(
        ReadRequest(flow="f", source="orders", incremental=Incremental(cursor="id", after=3))
    )
    assert only.collect()["id"].to_list() == [4, 5]


def test_objects_are_not_cut_into_pieces(bucket: Bucket) -> None:
    write("parquet", bucket, FIRST)
    frame, pieces = home("parquet", bucket).read_with_pieces(ReadRequest(flow="f", source="orders"))
    assert pieces is None  # a database store streams Polars' batches of it instead (bounded memory)
    assert frame.collect().height == 3


def test_globs_read_matching_objects_and_skip_hidden_ones(bucket: Bucket) -> None:
    for key in ("lake/drops/2024/a.csv", "lake/drops/2025/b.csv", "lake/drops/_tmp/c.csv", "lake/drops/d.txt"):
        bucket.put(key, b"id,name,amount\n1,x,1.0\n")
    files = home("csv", bucket).read(ReadRequest(flow="f", source="drops/*/*.csv")).collect()
    assert files.height == 2
    everything = home("csv", bucket).read(ReadRequest(flow="f", source="drops/**/*.csv")).collect()
    assert everything.height == 2  # `_tmp` is hidden, `.txt` is another format
    with pytest.raises(FlowError, match=r"no \.csv file matches") as caught:
        home("csv", bucket).read(ReadRequest(flow="f", source="drops/*/*.nope.csv"))
    assert f"{bucket.url('lake')}/ (path: of home 'lake')" in str(caught.value)


def test_glob_match_reads_patterns_as_path_glob_does() -> None:
    assert glob_match("*.csv", "a.csv") and not glob_match("*.csv", "x/a.csv")
    assert glob_match("**/*.csv", "a.csv") and glob_match("**/*.csv", "x/y/a.csv")
    assert glob_match("20[0-9][0-9]/*.csv", "2024/a.csv") and not glob_match("20[0-9][0-9]/*.csv", "20x4/a.csv")
    assert glob_match("?.csv", "a.csv") and not glob_match("?.csv", "ab.csv")


def test_a_missing_source_names_what_the_prefix_holds(bucket: Bucket) -> None:
    write("parquet", bucket, FIRST, target="customers")
    with pytest.raises(FlowError, match="file does not exist") as caught:
        read("parquet", bucket)
    message = str(caught.value)
    assert f"could not read {bucket.url('lake/orders.parquet')}" in message
    assert "Sources there: customers." in message


def test_a_target_outside_the_prefix_is_refused(bucket: Bucket) -> None:
    with pytest.raises(FlowError, match="outside store lake's folder"):
        write("parquet", bucket, FIRST, target="../escape")
    assert bucket.keys() == []


def test_a_missing_bucket_and_an_unreachable_server_are_clear_errors(bucket: Bucket) -> None:
    gone = Bucket("no-such-bucket-here", bucket.endpoint, bucket.client)
    with pytest.raises(FlowError, match="the bucket does not exist"):
        store("parquet", gone).check()
    closed = Bucket(bucket.name, "http://127.0.0.1:9", bucket.client)  # the discard port: nothing listens
    with pytest.raises(FlowError, match="the server does not answer"):
        home("parquet", closed).check()


# --- the commit record: a write stopped midway ------------------------------------------------------------------


@pytest.mark.parametrize("step", ["write.s3.recorded", "write.s3.copied"])
def test_a_write_stopped_after_its_commit_record_is_seen_and_finished(
    bucket: Bucket, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write("parquet", bucket, FIRST, "append")
    write("parquet", bucket, SECOND, "append")
    monkeypatch.setenv("HYGGE_FAULT", step)
    with pytest.raises(FlowError, match="injected fault"):
        write("parquet", bucket, SECOND)  # a replace of two parts: committed by its record
    monkeypatch.delenv("HYGGE_FAULT")
    assert_frame_equal(read("parquet", bucket), SECOND)  # readers follow the record
    write("parquet", bucket, FIRST, "append")  # finishes the record first, then appends
    assert_frame_equal(read("parquet", bucket), pl.concat([FIRST, SECOND]).sort("id"))
    assert hidden(bucket) == []

    write("parquet", bucket, SECOND)
    monkeypatch.setenv("HYGGE_FAULT", step)
    with pytest.raises(FlowError, match="injected fault"):
        write("parquet", bucket, FIRST, "append")  # the single file moves in as the first part: a record
    monkeypatch.delenv("HYGGE_FAULT")
    assert_frame_equal(read("parquet", bucket), pl.concat([FIRST, SECOND]).sort("id"))
    write("parquet", bucket, FIRST.clear(), "append")
    assert_frame_equal(read("parquet", bucket), pl.concat([FIRST, SECOND]).sort("id"))
    assert hidden(bucket) == []


# The same, as a power cut would do it: the process killed at each step (slow: several hygge processes each).


def s3_project(tmp_path: Path, bucket: Bucket, mode: str) -> Path:
    return build_project(
        tmp_path / "proj",
        {
            "hygge.yml": "name: s3_test\n",
            "homes/drops.yml": "type: csv\npath: data\n",
            "homes/lake_files.yml": f"type: parquet\npath: {bucket.url('lake')}\n",
            "stores/lake.yml": f"type: parquet\npath: {bucket.url('lake')}\n",
            "stores/out.yml": f"type: parquet\npath: {bucket.url('out')}\n",
            "flows/orders.yml": f"home: drops\nstore: lake\nmode: {mode}\n",
            "flows/copy.yml": "home: lake_files\nstore: out\nsource: orders\n",  # reads what orders wrote
            "data/orders.csv": "id,amount\n1,1.5\n2,2.5\n",
        },
    )


def copied_ids(bucket: Bucket, root: Path) -> list[int]:
    result = run_hygge("run", "copy", cwd=root, env=bucket.env)
    assert result.returncode == 0, result.stdout + result.stderr
    return sorted(pl.read_parquet(bucket.get("out/copy.parquet"))["id"].to_list())


@pytest.mark.slow
@pytest.mark.parametrize("step", ["write.s3.recorded", "write.s3.copied"])
def test_a_replace_of_parts_killed_after_its_commit_shows_only_the_new_rows(
    tmp_path: Path, bucket: Bucket, step: str
) -> None:
    root = s3_project(tmp_path, bucket, "append")
    for _ in range(2):
        assert run_hygge("run", "orders", cwd=root, env=bucket.env).returncode == 0
    assert len(bucket.keys("lake/orders/")) == 2
    (root / "flows/orders.yml").write_text("home: drops\nstore: lake\nmode: replace\n")
    (root / "data/orders.csv").write_text("id,amount\n7,7.5\n")

    killed = run_hygge("run", "orders", cwd=root, env={**bucket.env, "HYGGE_KILL_AT": step})
    assert killed.returncode != 0
    assert [key for key in hidden(bucket) if "/commit-" in key]  # the record: the write has committed
    assert copied_ids(bucket, root) == [7]  # a reader follows the record

    assert run_hygge("run", "orders", cwd=root, env=bucket.env).returncode == 0  # finishes, then replaces again
    assert bucket.keys("lake/") == ["lake/orders.parquet"]
    assert hidden(bucket) == []
    assert copied_ids(bucket, root) == [7]


@pytest.mark.slow
def test_an_append_to_a_single_file_killed_after_its_commit_keeps_every_row_once(
    tmp_path: Path, bucket: Bucket
) -> None:
    root = s3_project(tmp_path, bucket, "replace")
    assert run_hygge("run", "orders", cwd=root, env=bucket.env).returncode == 0
    (root / "flows/orders.yml").write_text("home: drops\nstore: lake\nmode: append\n")
    (root / "data/orders.csv").write_text("id,amount\n3,3.5\n")

    killed = run_hygge("run", "orders", cwd=root, env={**bucket.env, "HYGGE_KILL_AT": "write.s3.recorded"})
    assert killed.returncode != 0
    assert copied_ids(bucket, root) == [1, 2, 3]

    (root / "data/orders.csv").write_text("id,amount\n4,4.5\n")
    assert run_hygge("run", "orders", cwd=root, env=bucket.env).returncode == 0
    assert bucket.keys("lake/orders.parquet") == []  # moved in as the first part
    assert len(bucket.keys("lake/orders/")) == 3
    assert copied_ids(bucket, root) == [1, 2, 3, 4]


@pytest.mark.slow
def test_a_run_killed_before_its_commit_leaves_the_target_unchanged(tmp_path: Path, bucket: Bucket) -> None:
    root = s3_project(tmp_path, bucket, "append")
    assert run_hygge("run", "orders", cwd=root, env=bucket.env).returncode == 0
    before = {key: bucket.get(key) for key in bucket.keys("lake/orders/")}
    killed = run_hygge("run", "orders", cwd=root, env={**bucket.env, "HYGGE_KILL_AT": "write.before_commit"})
    assert killed.returncode != 0
    assert {key: bucket.get(key) for key in bucket.keys("lake/orders/")} == before
    assert copied_ids(bucket, root) == [1, 2]


# --- a project on S3, as users run it ---------------------------------------------------------------------------


def test_a_project_reaches_s3_through_a_target_and_the_aws_environment(tmp_path: Path, bucket: Bucket) -> None:
    root = build_project(
        tmp_path / "proj",
        {
            "hygge.yml": f"""
                name: shop
                defaults: {{home: drops, store: lake}}
                targets:
                  dev: {{vars: {{LAKE_ROOT: data/lake}}}}
                  prod: {{vars: {{LAKE_ROOT: {bucket.url("lake")}}}}}
                default_target: dev
            """,
            "homes/drops.yml": "type: csv\npath: data/drops\n",
            "stores/lake.yml": "type: parquet\npath: ${LAKE_ROOT}\n",
            "homes/lake.yml": "type: parquet\npath: ${LAKE_ROOT}\n",
            "flows/orders.yml": "incremental: {cursor: id}\n",
            "flows/report.yml": "home: lake\nstore: reports\nsource: orders\n",
            "stores/reports.yml": "type: csv\npath: data/reports\n",
            "flows/shop.yml": "home: lake\nstore: shop_db\nsource: orders\ntarget: orders\n",
            "stores/shop_db.yml": "type: sqlite\npath: data/shop.sqlite\n",  # a database store takes S3 objects
            "data/drops/orders.csv": "id,amount\n1,1.5\n2,2.5\n",
        },
    )
    listed = run_hygge("ls", "--json", "--target", "prod", cwd=root, env=bucket.env)
    assert listed.returncode == 0, listed.stderr
    report = next(flow for flow in json.loads(listed.stdout) if flow["name"] == "report")
    assert report["depends_on"] == ["orders"]  # inferred: it reads the S3 object orders writes

    for new_rows in ("", "3,3.5\n"):
        (root / "data/drops/orders.csv").write_text("id,amount\n1,1.5\n2,2.5\n" + new_rows)
        result = run_hygge("run", "--all", "--target", "prod", cwd=root, env=bucket.env)
        assert result.returncode == 0, result.stdout + result.stderr
    lake = pl.concat(pl.read_parquet(bucket.get(key)) for key in bucket.keys("lake/orders/"))
    assert sorted(lake["id"].to_list()) == [1, 2, 3]  # the watermark came from the S3 target: no row twice
    assert pl.read_csv(root / "data/reports/report.csv")["id"].sort().to_list() == [1, 2, 3]
    with sqlite3.connect(root / "data/shop.sqlite") as db:
        assert db.execute("SELECT count(*), sum(id) FROM orders").fetchone() == (3, 6)
    assert not (root / "data/lake").exists()

    checked = run_hygge("check", "--connect", "--target", "prod", cwd=root, env=bucket.env)
    assert checked.returncode == 0, checked.stdout
    assert "ok     store lake" in checked.stdout


def test_s3_errors_name_the_place_and_never_show_the_secret(tmp_path: Path, bucket: Bucket) -> None:
    root = build_project(
        tmp_path / "proj",
        {
            "hygge.yml": "name: shop\n",
            "homes/drops.yml": "type: csv\npath: data\n",
            "stores/lake.yml": f"""
                type: parquet
                path: s3://no-such-bucket-here/lake
                s3:
                  endpoint_url: {bucket.endpoint}
                  access_key_id: key
                  secret_access_key: ${{LAKE_SECRET}}
            """,
            "flows/orders.yml": "home: drops\nstore: lake\n",
            "data/orders.csv": "id\n1\n",
        },
    )
    env = {"LAKE_SECRET": SECRET_KEY}
    result = run_hygge("run", "--all", cwd=root, env=env)
    assert result.returncode == 1
    assert "s3://no-such-bucket-here/lake/" in result.stdout and "the bucket does not exist" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    checked = run_hygge("check", "--connect", cwd=root, env=env)
    assert "failed store lake: could not open s3://no-such-bucket-here/lake" in checked.stdout
    log = next((root / ".hygge/logs").glob("*.log")).read_text()
    for text in (result.stdout, result.stderr, checked.stdout, log):
        assert SECRET_KEY not in text

    typo = run_hygge(
        "check",
        cwd=build_project(
            tmp_path / "typo",
            {
                "hygge.yml": "name: shop\n",
                "stores/lake.yml": "type: parquet\npath: s3://b/lake\ns3:\n  endpoint: http://x\n",
            },
        ),
    )
    assert typo.returncode == 2
    assert "stores/lake.yml:4:3" in typo.stdout + typo.stderr
