"""Results store: SQLite (WAL) in the run folder; CSVs and tables are views of it.

One ``results`` row per cell (task x arch x profile x scheme x attack x setting x seed)
and one ``curves`` row per step of that cell, both written in ONE transaction, so an
interrupted grid (Ctrl-C, kill -9) leaves either the whole cell or nothing, and a
rerun resumes. Two processes may write the same folder: SQLite's file locks plus a
busy timeout serialise writers, and ``INSERT OR REPLACE`` on the cell id means a
cell computed twice is stored once.

The JSON columns (``metrics``, ``recipe``, curve and claim payloads) hold strict JSON: a
non-finite number (a NaN mark accuracy of a watermark-free model) is written as ``null``,
so SQLite's ``json_extract`` and other languages' parsers read every row.
"""
from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

DB_NAME = "results.sqlite"

# Columns of `results` (besides cell_id). Documented in README ("Leaderboard columns").
ID_COLUMNS = ["task", "arch", "profile", "scheme", "attack", "setting", "seed"]
METRIC_COLUMNS = [
    "nc_acc_clean", "nc_acc_before", "wm_acc_before", "verified_before", "p_value_before",
    "nc_acc_after", "wm_acc_after", "verified_after", "p_value_after",
    "pirate_wm_acc", "pirate_verified", "attack_seconds", "train_seconds",
]
META_COLUMNS = ["metrics", "recipe", "device", "command", "code_version", "created"]
COLUMNS = ID_COLUMNS + METRIC_COLUMNS + META_COLUMNS

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS results (
  cell_id TEXT PRIMARY KEY,
  {", ".join(f"{c} {'INTEGER' if c == 'seed' else 'REAL' if c in METRIC_COLUMNS else 'TEXT'}" for c in COLUMNS)}
);
CREATE TABLE IF NOT EXISTS curves (
  cell_id TEXT NOT NULL, step INTEGER NOT NULL, payload TEXT NOT NULL,
  PRIMARY KEY (cell_id, step)
);
CREATE TABLE IF NOT EXISTS claims (
  task TEXT, profile TEXT, scheme TEXT, seed INTEGER, keys INTEGER, payload TEXT NOT NULL,
  PRIMARY KEY (task, profile, scheme, seed, keys)
);
CREATE TABLE IF NOT EXISTS runs (
  run_id INTEGER PRIMARY KEY AUTOINCREMENT, command TEXT, device TEXT, code_version TEXT,
  started REAL, finished REAL, cells INTEGER
);
"""


def _scheme_version(metrics: str | None) -> str:
    return str(json.loads(metrics or "{}").get("scheme_version", "1"))


def _clean(v: Any) -> Any:
    if isinstance(v, bool):
        return float(v)
    return _finite(v) if isinstance(v, float) else v


def _when_unlocked(step, seconds: float = 60.0) -> None:
    """Run ``step``, retrying while another process holds the lock it needs.

    Switching a new file to WAL needs an exclusive lock, and SQLite answers "database is locked"
    at once instead of waiting (the busy timeout does not cover it), so two grids that start on the
    same new ``--out`` together would see one of them fail.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Store:
    """Thin wrapper over one SQLite file; open one per process (connections are not shared)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / DB_NAME
        try:
            self.conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            self.conn.execute("PRAGMA busy_timeout=60000")
            _when_unlocked(lambda: self.conn.execute("PRAGMA journal_mode=WAL"))
            self.conn.execute("PRAGMA synchronous=NORMAL")
            with self.transaction():
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        self.conn.execute(stmt)
        except sqlite3.DatabaseError as exc:
            from harness.errors import BadInput

            raise BadInput(f"{self.path}: not a usable results store ({exc}); move it away and rerun") from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def done_cells(self, scheme_versions: dict[str, str] | None = None) -> set[str]:
        """Stored cell ids; with ``scheme_versions``, only cells whose scheme is at that version.

        A row made by an older version of its scheme (a changed loss, a fixed bug) is stale: the
        model cache already retrains it (the version is in the cache key), and leaving out its
        cell here makes ``bench run`` rerun and replace the row instead of keeping the old number.
        Rows from before versions were recorded count as version "1".
        """
        rows = self.conn.execute("SELECT cell_id, scheme, metrics FROM results").fetchall()
        if scheme_versions is None:
            return {r[0] for r in rows}
        return {cell_id for cell_id, scheme, metrics in rows
                if scheme not in scheme_versions or _scheme_version(metrics) == scheme_versions[scheme]}

    def params_of(self) -> dict[str, dict[str, Any]]:
        """The attack parameters (``--param``) each stored cell was run with (``{}`` when none)."""
        return {cell_id: (json.loads(metrics or "{}").get("params") or {})
                for cell_id, metrics in self.conn.execute("SELECT cell_id, metrics FROM results")}

    def has(self, cell_id: str, scheme_version: str | None = None) -> bool:
        row = self.conn.execute("SELECT metrics FROM results WHERE cell_id=?", (cell_id,)).fetchone()
        return row is not None and (scheme_version is None or _scheme_version(row[0]) == scheme_version)

    def write_cell(self, cell_id: str, row: dict[str, Any], curve: list[dict[str, Any]]) -> None:
        """The cell's summary and every curve step, atomically."""
        values = [cell_id] + [_clean(row.get(c)) for c in COLUMNS]
        for c in ("metrics", "recipe"):
            i = 1 + COLUMNS.index(c)
            if not isinstance(values[i], str) and values[i] is not None:
                values[i] = to_json(values[i])
        with self.transaction() as conn:
            conn.execute(f"INSERT OR REPLACE INTO results (cell_id, {', '.join(COLUMNS)}) VALUES ({', '.join('?' * (len(COLUMNS) + 1))})", values)
            conn.execute("DELETE FROM curves WHERE cell_id=?", (cell_id,))
            conn.executemany("INSERT INTO curves (cell_id, step, payload) VALUES (?, ?, ?)",
                             [(cell_id, i, to_json(p)) for i, p in enumerate(curve)])
        # Copy the cell from the WAL into the main file now: a process killed later (a deadline, a
        # lost lease) otherwise leaves its rows only in results.sqlite-wal, and a copy of
        # results.sqlite alone (cp, rsync, a device's file transfer) came back empty.
        self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def start_run(self, command: str, device: str, code_version: str) -> int:
        with self.transaction() as conn:
            cur = conn.execute("INSERT INTO runs (command, device, code_version, started) VALUES (?, ?, ?, ?)",
                               (command, device, code_version, time.time()))
            return int(cur.lastrowid)

    def finish_run(self, run_id: int, cells: int) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE runs SET finished=?, cells=? WHERE run_id=?", (time.time(), cells, run_id))

    def results(self) -> pd.DataFrame:
        df = pd.read_sql_query("SELECT * FROM results ORDER BY task, scheme, attack, setting, seed", self.conn)
        return df

    def curves(self) -> pd.DataFrame:
        """Long table: one row per (cell, step) with the cell's ids and the step's payload columns."""
        rows = self.conn.execute(
            "SELECT r.task, r.arch, r.profile, r.scheme, r.attack, r.setting, r.seed, c.step, c.payload "
            "FROM curves c JOIN results r USING (cell_id) ORDER BY c.cell_id, c.step").fetchall()
        out = [dict(zip(ID_COLUMNS + ["step"], r[:8]), **json.loads(r[8])) for r in rows]
        return pd.DataFrame(out)

    def runs(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM runs ORDER BY run_id", self.conn)

    def write_claims(self, task: str, profile: str, scheme: str, seed: int, payload: dict[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?)",
                         (task, profile, scheme, seed, payload["keys"], to_json(payload)))

    def has_claims(self, task: str, profile: str, scheme: str, seed: int, keys: int, scheme_version: str = "1") -> bool:
        rows = self.conn.execute("SELECT payload FROM claims WHERE task=? AND profile=? AND scheme=? AND seed=? AND keys>=?",
                                 (task, profile, scheme, seed, keys)).fetchall()
        return any(_scheme_version(r[0]) == scheme_version for r in rows)

    def claims(self) -> pd.DataFrame:
        rows = self.conn.execute("SELECT task, profile, scheme, seed, payload FROM claims ORDER BY task, scheme, seed").fetchall()
        return pd.DataFrame([dict(task=r[0], profile=r[1], scheme=r[2], seed=r[3], **json.loads(r[4])) for r in rows])

    def merge_from(self, other: "Store", replace: bool = False) -> dict[str, int]:
        """Copy another store's rows in one transaction: cells and claims this store lacks, and their runs.

        Cells are keyed by ``cell_id`` (task, arch, profile, scheme, attack, setting, seed), so the same
        cell run in two folders is kept once: from this store, unless the other store's row was made by
        a newer version of its scheme (the older row is stale, as in ``done_cells``) or ``replace``
        (a deliberate rerun, e.g. with more pirate keys: ``--param`` values are not in the cell id);
        claims alike. Returns the number of rows added (or replaced) per table.
        """
        src = other.conn
        added = {"results": 0, "curves": 0, "claims": 0, "runs": 0}
        have = {r[0]: _scheme_version(r[1]) for r in self.conn.execute("SELECT cell_id, metrics FROM results")}
        cols = ["cell_id", *COLUMNS]
        metrics_at = cols.index("metrics")
        with self.transaction() as conn:
            for row in src.execute(f"SELECT {', '.join(cols)} FROM results"):
                if row[0] in have and not replace and not _newer(_scheme_version(row[metrics_at]), have[row[0]]):
                    continue
                row = tuple(strict_json(v) if cols[i] in ("metrics", "recipe") else v for i, v in enumerate(row))
                conn.execute(f"INSERT OR REPLACE INTO results ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", row)
                conn.execute("DELETE FROM curves WHERE cell_id=?", (row[0],))
                curve = [(c, step, strict_json(payload)) for c, step, payload in
                         src.execute("SELECT cell_id, step, payload FROM curves WHERE cell_id=?", (row[0],))]
                conn.executemany("INSERT INTO curves (cell_id, step, payload) VALUES (?, ?, ?)", curve)
                added["results"] += 1
                added["curves"] += len(curve)
            for row in src.execute("SELECT task, profile, scheme, seed, keys, payload FROM claims"):
                mine = conn.execute("SELECT payload FROM claims WHERE task=? AND profile=? AND scheme=? AND seed=? "
                                    "AND keys=?", row[:5]).fetchone()
                if mine is None or replace or _newer(_scheme_version(row[5]), _scheme_version(mine[0])):
                    conn.execute("INSERT OR REPLACE INTO claims (task, profile, scheme, seed, keys, payload) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", (*row[:5], strict_json(row[5])))
                    added["claims"] += 1
            known = {tuple(r) for r in conn.execute("SELECT command, started FROM runs")}
            for row in src.execute("SELECT command, device, code_version, started, finished, cells FROM runs"):
                if (row[0], row[3]) not in known:
                    conn.execute("INSERT INTO runs (command, device, code_version, started, finished, cells) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", row)
                    added["runs"] += 1
        return added

    def integrity_ok(self) -> bool:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def close(self) -> None:
        self.conn.close()


def _newer(a: str, b: str) -> bool:
    """Scheme version ``a`` is later than ``b`` (numeric when both are numbers, else by string)."""
    return int(a) > int(b) if a.isdigit() and b.isdigit() else a > b


def _finite(o: Any) -> Any:
    """``o`` with every non-finite float (NaN, inf) replaced by None, recursively."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o


def to_json(obj: Any) -> str:
    """Strict JSON for a stored column: sorted keys, NaN / inf as null, numpy / torch scalars as numbers."""
    return json.dumps(_finite(obj), sort_keys=True, default=json_default, allow_nan=False)


def strict_json(text: str | None) -> str | None:
    """A stored JSON text re-encoded strictly (rows written before NaN became null held ``NaN``)."""
    if text is None or ("NaN" not in text and "Infinity" not in text):
        return text
    return to_json(json.loads(text))


def json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return _finite(o.item())
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


def open_existing(folder: str | os.PathLike) -> Store:
    """A store that must already exist (reports never create an empty one by accident)."""
    from harness.errors import BadInput

    if not (Path(folder) / DB_NAME).is_file():
        raise BadInput(f"{folder}: no {DB_NAME} here; run `bench run --out {folder}` first")
    return Store(folder)
