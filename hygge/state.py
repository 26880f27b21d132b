"""`.hygge/state.db`: the run journal and the watermarks, in SQLite."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hygge.redact import redact

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    target TEXT,
    command TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    outcome TEXT,
    pid INTEGER,
    host TEXT
);
CREATE TABLE IF NOT EXISTS flow_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    flow TEXT NOT NULL,
    target TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    rows INTEGER,
    seconds REAL,
    outcome TEXT NOT NULL,
    error TEXT,
    window_from TEXT,
    window_to TEXT
);
CREATE INDEX IF NOT EXISTS flow_runs_flow ON flow_runs(flow, started_at);
-- A mirror for humans: the watermark itself is read from each target at the start of a run.
CREATE TABLE IF NOT EXISTS watermarks (
    flow TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    cursor TEXT NOT NULL,
    value TEXT,
    value_type TEXT,
    updated_at TEXT NOT NULL,
    reset_requested INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (flow, target)
);
"""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class FlowRunRecord:
    run_id: str
    flow: str
    target: str | None
    started_at: str
    ended_at: str | None
    rows: int | None
    seconds: float | None
    outcome: str
    error: str | None
    window_from: str | None
    window_to: str | None


class StateStore:
    """One connection per thread; every write is its own short transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        # executescript commits on its own, so it cannot run inside _tx's BEGIN ... COMMIT.
        self._conn().executescript(SCHEMA)
        have = {row[1] for row in self._conn().execute("PRAGMA table_info(runs)")}
        for column, declared in (("pid", "INTEGER"), ("host", "TEXT")):  # journals of earlier versions
            if column not in have:
                with contextlib.suppress(sqlite3.OperationalError):  # another process just added it
                    self._conn().execute(f"ALTER TABLE runs ADD COLUMN {column} {declared}")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # --- the journal -------------------------------------------------------------------------

    def start_run(self, target: str | None, command: str) -> str:
        run_id = uuid.uuid4().hex[:12]
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO runs (run_id, target, command, started_at, pid, host) VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, target, redact(command), now(), os.getpid(), socket.gethostname()),
            )
        return run_id

    def finish_run(self, run_id: str, outcome: str) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE runs SET ended_at = ?, outcome = ? WHERE run_id = ?", (now(), outcome, run_id))

    def start_flow(self, run_id: str, flow: str, target: str | None) -> int:
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO flow_runs (run_id, flow, target, started_at, outcome) VALUES (?, ?, ?, ?, 'running')",
                (run_id, flow, target, now()),
            )
            return int(cur.lastrowid or 0)

    def finish_flow(
        self,
        entry: int,
        *,
        outcome: str,
        rows: int | None,
        seconds: float | None,
        error: str | None = None,
        window: tuple[str | None, str | None] = (None, None),
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE flow_runs SET ended_at = ?, rows = ?, seconds = ?, outcome = ?, error = ?,"
                " window_from = ?, window_to = ? WHERE id = ?",
                (now(), rows, seconds, outcome, redact(error) if error else None, *window, entry),
            )

    def record_skipped(self, run_id: str, flow: str, target: str | None, reason: str) -> None:
        stamp = now()
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO flow_runs (run_id, flow, target, started_at, ended_at, outcome, error)"
                " VALUES (?, ?, ?, ?, ?, 'skipped', ?)",
                (run_id, flow, target, stamp, stamp, redact(reason)),
            )

    # --- watermarks -----------------------------------------------------------------------------

    def record_watermark(self, flow: str, target: str, cursor: str, value: object) -> None:
        """Mirror the watermark a run ended with; a pending reset is done once a run succeeds."""
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO watermarks (flow, target, cursor, value, value_type, updated_at, reset_requested)"
                " VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT (flow, target) DO UPDATE SET cursor = excluded.cursor,"
                " value = excluded.value, value_type = excluded.value_type, updated_at = excluded.updated_at,"
                " reset_requested = 0",
                (flow, target, cursor, None if value is None else str(value), type(value).__name__, now()),
            )

    def request_reset(self, flow: str, target: str, cursor: str) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO watermarks (flow, target, cursor, updated_at, reset_requested) VALUES (?, ?, ?, ?, 1)"
                " ON CONFLICT (flow, target) DO UPDATE SET reset_requested = 1, updated_at = excluded.updated_at",
                (flow, target, cursor, now()),
            )

    def reset_requested(self, flow: str, target: str) -> bool:
        row = (
            self._conn()
            .execute("SELECT reset_requested FROM watermarks WHERE flow = ? AND target = ?", (flow, target))
            .fetchone()
        )
        return bool(row and row[0])

    def watermarks(self, flow: str | None = None) -> list[dict[str, object]]:
        sql = "SELECT flow, target, cursor, value, value_type, updated_at, reset_requested FROM watermarks"
        params: tuple[object, ...] = ()
        if flow is not None:
            sql += " WHERE flow = ? OR substr(flow, 1, ?) = ?"
            params = (flow, len(flow) + 1, f"{flow}.")
        rows = self._conn().execute(sql + " ORDER BY flow", params).fetchall()
        keys = ("flow", "target", "cursor", "value", "type", "updated_at", "reset_requested")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def flows(self) -> list[str]:
        """Every flow the journal has a run of."""
        return [row[0] for row in self._conn().execute("SELECT DISTINCT flow FROM flow_runs ORDER BY flow")]

    def history(self, flow: str | None = None, limit: int = 20) -> list[FlowRunRecord]:
        sql = (
            "SELECT f.run_id, f.flow, f.target, f.started_at, f.ended_at, f.rows, f.seconds, f.outcome, f.error,"
            " f.window_from, f.window_to, r.pid, r.host FROM flow_runs AS f LEFT JOIN runs AS r USING (run_id)"
        )
        params: tuple[object, ...] = ()
        if flow is not None:
            sql += " WHERE f.flow = ? OR substr(f.flow, 1, ?) = ?"  # not LIKE: '_' in a name is no wildcard
            params = (flow, len(flow) + 1, f"{flow}.")
        sql += " ORDER BY f.id DESC LIMIT ?"
        rows = self._conn().execute(sql, (*params, limit)).fetchall()
        return [_died(FlowRunRecord(*row[:-2]), *row[-2:]) for row in rows]


def _died(record: FlowRunRecord, pid: int | None, host: str | None) -> FlowRunRecord:
    """A flow still 'running' whose process is gone (killed, a power cut) died: say so rather than 'running'
    forever. Only known for runs on this machine; writes are atomic, so its target holds all of it or none."""
    if record.outcome != "running" or pid is None or host != socket.gethostname() or _alive(pid):
        return record
    return dataclasses.replace(
        record,
        outcome="died",
        error="its process ended before the flow finished (killed or crashed); the target holds all of this "
        "run's rows or none",
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process of that number
        return True
    return True
