"""The study's results store: one SQLite file, the only place study results are written.

Tables: ``runs`` (one row per experiment, keyed by the hash of its resolved config), ``cycles``
(one row per run and cycle, written in one transaction with everything a resume needs),
``shared`` (cycle-0 trainings shared by the strategies that start from the same initial set) and
``meta`` (the study's own config). Every write is one transaction, so a process killed at any
moment leaves either the whole cycle row or none of it. The database runs in WAL mode, which
needs every writer on one host; a store on shared storage for a multi-node cluster is opened with
``wal=False`` (rollback journal, which needs a file system with working POSIX locks).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from alseg.config import ExperimentConfig
from alseg.cycle import CycleResult, Evaluation
from alseg.errors import DataError

DB_NAME = "study.sqlite"
BUSY_TIMEOUT_S = 120.0
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    started REAL,
    finished REAL,
    error TEXT
);
CREATE TABLE IF NOT EXISTS cycles (
    run TEXT NOT NULL REFERENCES runs(key),
    cycle INTEGER NOT NULL,
    labeled TEXT NOT NULL,
    added TEXT NOT NULL,
    acquired TEXT NOT NULL,
    metrics TEXT NOT NULL,
    checkpoint TEXT,
    committed REAL NOT NULL,
    PRIMARY KEY (run, cycle)
);
CREATE TABLE IF NOT EXISTS shared (
    key TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    labeled TEXT NOT NULL,
    metrics TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    embeddings TEXT,
    committed REAL NOT NULL
);
"""


@dataclass(frozen=True)
class CycleRow:
    """One finished cycle: the labeled set it trained on, its result (which names the images
    that joined in it and those it acquired for the next cycle) and, where a resume needs the
    trained model, the checkpoint path relative to the store's folder."""

    labeled: list[int]
    result: CycleResult
    checkpoint: str | None = None

    @property
    def cycle(self) -> int:
        return self.result.cycle

    @property
    def added(self) -> list[int]:
        return self.result.added

    @property
    def acquired(self) -> list[int]:
        return self.result.acquired


@dataclass(frozen=True)
class SharedRow:
    """A cycle-0 training reused by every strategy with the same initial set."""

    key: str
    config: dict[str, Any]
    labeled: list[int]
    evaluation: Evaluation
    checkpoint: str
    embeddings: str | None = None


@dataclass(frozen=True)
class RunRow:
    key: str
    config: ExperimentConfig
    status: str
    started: float | None
    finished: float | None
    error: str | None


class Store:
    """Results store in ``directory`` (created if needed). Cheap to pickle: holds only paths."""

    def __init__(self, directory: str | Path, wal: bool = True) -> None:
        self.directory = Path(directory)
        self.path = self.directory / DB_NAME
        self.wal = wal
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(f"PRAGMA journal_mode = {'WAL' if wal else 'DELETE'}")
            db.executescript(SCHEMA)

    @staticmethod
    def exists(directory: str | Path) -> bool:
        return (Path(directory) / DB_NAME).is_file()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as error:
            raise DataError(f"results store {self.path}: {error}") from None
        try:
            db.execute("PRAGMA foreign_keys = ON")
            yield db
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.IntegrityError | sqlite3.OperationalError):
                raise
            raise DataError(f"results store {self.path} is damaged: {error}") from None
        finally:
            db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (taken at once, so concurrent writers queue instead of failing)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # --- the study ---------------------------------------------------------------------------

    def save_meta(self, name: str, value: Any) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, json.dumps(value))
            )

    def meta(self, name: str) -> Any:
        with self._connect() as db:
            row = db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    # --- runs --------------------------------------------------------------------------------

    def register(self, configs: Iterable[ExperimentConfig]) -> None:
        """Add runs that are not in the store yet (known runs keep their state)."""
        rows = [(c.key(), json.dumps(c.model_dump(mode="json"), sort_keys=True)) for c in configs]
        with self._transaction() as db:
            db.executemany("INSERT OR IGNORE INTO runs (key, config) VALUES (?, ?)", rows)

    def mark_started(self, key: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET status = 'running', started = COALESCE(started, ?), error = NULL"
                " WHERE key = ? AND status != 'done'",
                (time.time(), key),
            )

    def mark_failed(self, key: str, error: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET status = 'failed', error = ? WHERE key = ? AND status != 'done'",
                (error, key),
            )

    def runs(self) -> list[RunRow]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT key, config, status, started, finished, error FROM runs ORDER BY rowid"
            ).fetchall()
        return [
            RunRow(key, ExperimentConfig(**json.loads(config)), status, started, finished, error)
            for key, config, status, started, finished, error in rows
        ]

    def statuses(self) -> dict[str, str]:
        with self._connect() as db:
            return dict(db.execute("SELECT key, status FROM runs").fetchall())

    # --- cycles ------------------------------------------------------------------------------

    def cycles(self, key: str) -> list[CycleRow]:
        """The run's finished cycles in order (0, 1, ... without gaps)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT cycle, labeled, added, acquired, metrics, checkpoint FROM cycles"
                " WHERE run = ? ORDER BY cycle",
                (key,),
            ).fetchall()
        if [row[0] for row in rows] != list(range(len(rows))):
            raise DataError(f"results store {self.path}: run {key} has a gap in its cycles")
        return [
            CycleRow(json.loads(labeled), self._parse(CycleResult, metrics), checkpoint)
            for _, labeled, _, _, metrics, checkpoint in rows
        ]

    def commit_cycle(self, key: str, row: CycleRow, final: bool) -> None:
        """Write one cycle (and, for the last one, the run's completion) in one transaction."""
        now = time.time()
        with self._transaction() as db:
            (count,) = db.execute("SELECT COUNT(*) FROM cycles WHERE run = ?", (key,)).fetchone()
            if row.cycle != count:
                raise RuntimeError(
                    f"run {key}: cycle {row.cycle} written out of turn ({count} cycles stored);"
                    " is another process running the same study?"
                )
            db.execute(
                "INSERT INTO cycles (run, cycle, labeled, added, acquired, metrics, checkpoint,"
                " committed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    row.cycle,
                    json.dumps(row.labeled),
                    json.dumps(row.added),
                    json.dumps(row.acquired),
                    row.result.model_dump_json(),
                    row.checkpoint,
                    now,
                ),
            )
            if final:
                db.execute(
                    "UPDATE runs SET status = 'done', finished = ?, error = NULL WHERE key = ?",
                    (now, key),
                )

    def cycle_counts(self) -> dict[str, int]:
        with self._connect() as db:
            return dict(db.execute("SELECT run, COUNT(*) FROM cycles GROUP BY run").fetchall())

    # --- shared cycle 0 ----------------------------------------------------------------------

    def shared(self, key: str) -> SharedRow | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT key, config, labeled, metrics, checkpoint, embeddings FROM shared"
                " WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        key, config, labeled, metrics, checkpoint, embeddings = row
        return SharedRow(
            key,
            json.loads(config),
            json.loads(labeled),
            self._parse(Evaluation, metrics),
            checkpoint,
            embeddings,
        )

    def put_shared(self, row: SharedRow) -> None:
        """Store a cycle-0 training (replacing one whose checkpoint went missing)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO shared (key, config, labeled, metrics, checkpoint,"
                " embeddings, committed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    row.key,
                    json.dumps(row.config, sort_keys=True),
                    json.dumps(row.labeled),
                    row.evaluation.model_dump_json(),
                    row.checkpoint,
                    row.embeddings,
                    time.time(),
                ),
            )

    def _parse(self, schema: type[Evaluation], text: str) -> Any:
        try:
            return schema.model_validate_json(text)
        except ValidationError as error:
            raise DataError(
                f"results store {self.path}: a stored cycle does not match this alseg's schema "
                f"({error.errors()[0]['msg']}); was it written by another version?"
            ) from None

    def integrity(self) -> str:
        """SQLite's own consistency check: "ok" for a sound file."""
        with self._connect() as db:
            return db.execute("PRAGMA integrity_check").fetchone()[0]
