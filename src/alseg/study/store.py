"""The study's results store: one SQLite file, the only place study results are written.

Tables: ``runs`` (one row per experiment, keyed by the hash of its resolved config), ``cycles``
(one row per run and cycle, written in one transaction with everything a resume needs),
``shared`` (cycle-0 trainings shared by the strategies that start from the same initial set) and
``meta`` (the study's own config). Every write is one transaction, so a process killed at any
moment leaves either the whole cycle row or none of it. The database runs in WAL mode, which
needs every writer on one host: the driver's, also on a multi-node Ray cluster (its tasks write
through an actor there). ``wal=False`` keeps SQLite's rollback journal instead, for a store that
processes on several hosts would write on shared storage; alseg's executors never need it. Readers
(the report, a dry run) open it with ``read_only=True``, which writes nothing, not even in a
read-only folder. Every checkpoint a row names is stored with its sha256, so a damaged file is
found before it is loaded. One driver at a time works in a study folder (``study_lock``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from alseg.config import ExperimentConfig
from alseg.cycle import CycleResult, Evaluation
from alseg.errors import DataError
from alseg.io import path_inside

DB_NAME = "study.sqlite"
LOCK_NAME = "study.lock"
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
    checkpoint_sha256 TEXT,
    PRIMARY KEY (run, cycle)
);
CREATE TABLE IF NOT EXISTS shared (
    key TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    labeled TEXT NOT NULL,
    metrics TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    embeddings TEXT,
    committed REAL NOT NULL,
    checkpoint_sha256 TEXT
);
"""
TABLES = ("meta", "runs", "cycles", "shared")
#: Columns added since the first schema: (table, column, type), added in place where missing.
ADDED_COLUMNS = (("cycles", "checkpoint_sha256", "TEXT"), ("shared", "checkpoint_sha256", "TEXT"))


@dataclass(frozen=True)
class CycleRow:
    """One finished cycle: the labeled set it trained on, its result (which names the images
    that joined in it and those it acquired for the next cycle) and, where a resume needs the
    trained model, the checkpoint path relative to the store's folder (and the sha256 of its
    file: computed by ``Store.commit_cycle`` when not given)."""

    labeled: list[int]
    result: CycleResult
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None

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
    """A cycle-0 training reused by every strategy with the same initial set (the checkpoint's
    sha256 is computed by ``Store.put_shared`` when not given)."""

    key: str
    config: dict[str, Any]
    labeled: list[int]
    evaluation: Evaluation
    checkpoint: str
    embeddings: str | None = None
    checkpoint_sha256: str | None = None


@dataclass(frozen=True)
class RunRow:
    key: str
    config: ExperimentConfig
    status: str
    started: float | None
    finished: float | None
    error: str | None


class Store:
    """Results store in ``directory`` (created if needed). Cheap to pickle: holds only paths.

    ``read_only`` opens an existing store without writing anything (no folder, no schema, no
    journal-mode change): a missing, empty or foreign file is a DataError. SQLite's operational
    errors (a locked, read-only or failing database) are DataErrors naming the file."""

    def __init__(self, directory: str | Path, wal: bool = True, read_only: bool = False) -> None:
        self.directory = Path(directory)
        self.path = self.directory / DB_NAME
        self.wal = wal
        self.read_only = read_only
        self._absent: set[tuple[str, str]] = set()  # columns a read-only store lacks
        if read_only:
            self._check_readable()
            self._absent = {(table, column) for table, column, _ in self._missing_columns()}
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DataError(
                f"cannot create study folder {self.directory}: {error.strerror}"
            ) from None
        with self._connect() as db:
            db.execute(f"PRAGMA journal_mode = {'WAL' if wal else 'DELETE'}")
            db.executescript(SCHEMA)
        self._add_missing_columns()

    @staticmethod
    def exists(directory: str | Path) -> bool:
        """Whether ``directory`` holds a store (a non-empty database file; nothing is opened)."""
        path = Path(directory) / DB_NAME
        return path.is_file() and path.stat().st_size > 0

    def _check_readable(self) -> None:
        if not self.path.is_file():
            raise DataError(f"results store {self.path} not found")
        if self.path.stat().st_size == 0:
            raise DataError(f"results store {self.path} is an empty file, not a study store")
        with self._connect() as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if missing := [table for table in TABLES if table not in tables]:
            raise DataError(
                f"results store {self.path} is not an alseg study store "
                f"(tables missing: {', '.join(missing)})"
            )

    def _add_missing_columns(self) -> None:
        """Migrate a store of an older schema in place (ALTER TABLE ... ADD COLUMN)."""
        if not self._missing_columns():
            return
        with self._transaction() as db:
            for table, column, kind in self._missing_columns(db):
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def _missing_columns(self, db: sqlite3.Connection | None = None) -> list[tuple[str, str, str]]:
        if db is None:
            with self._connect() as db:
                return self._missing_columns(db)
        return [
            (table, column, kind)
            for table, column, kind in ADDED_COLUMNS
            if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        ]

    def _column(self, table: str, column: str) -> str:
        """``column`` where the table has it, else NULL (a read-only store of an older schema)."""
        return "NULL" if (table, column) in self._absent else column

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            target, uri = (self._read_only_uri(), True) if self.read_only else (self.path, False)
            db = sqlite3.connect(target, timeout=BUSY_TIMEOUT_S, isolation_level=None, uri=uri)
        except sqlite3.Error as error:
            raise DataError(f"results store {self.path}: {error}") from None
        try:
            if not self.read_only:
                db.execute("PRAGMA foreign_keys = ON")
            yield db
        except sqlite3.OperationalError as error:
            raise DataError(f"results store {self.path}: {error}") from None
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.IntegrityError):
                raise
            raise DataError(f"results store {self.path} is damaged: {error}") from None
        finally:
            db.close()

    def _read_only_uri(self) -> str:
        """``mode=ro``; in a folder this process cannot write, also ``immutable=1`` (SQLite then
        needs no -shm file beside a WAL database, and nobody can be writing there)."""
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        return uri if os.access(self.directory, os.W_OK) else uri + "&immutable=1"

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
        sha256 = self._column("cycles", "checkpoint_sha256")
        with self._connect() as db:
            rows = db.execute(
                f"SELECT cycle, labeled, metrics, checkpoint, {sha256} FROM cycles"
                " WHERE run = ? ORDER BY cycle",
                (key,),
            ).fetchall()
        if [row[0] for row in rows] != list(range(len(rows))):
            raise DataError(f"results store {self.path}: run {key} has a gap in its cycles")
        return [
            CycleRow(json.loads(labeled), self._parse(CycleResult, metrics), checkpoint, sha256)
            for _, labeled, metrics, checkpoint, sha256 in rows
        ]

    def commit_cycle(self, key: str, row: CycleRow, final: bool) -> None:
        """Write one cycle (and, for the last one, the run's completion) in one transaction.

        A checkpoint without its sha256 gets the one stored for the shared cycle 0 of that file,
        or else that of the file as it is now (just written)."""
        sha256 = row.checkpoint_sha256
        if row.checkpoint is not None and sha256 is None:
            sha256 = self._shared_sha256(row.checkpoint) or self._file_sha256(row.checkpoint)
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
                " committed, checkpoint_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    row.cycle,
                    json.dumps(row.labeled),
                    json.dumps(row.added),
                    json.dumps(row.acquired),
                    row.result.model_dump_json(),
                    row.checkpoint,
                    now,
                    sha256,
                ),
            )
            if final:
                db.execute(
                    "UPDATE runs SET status = 'done', finished = ?, error = NULL WHERE key = ?",
                    (now, key),
                )

    def restart_runs(self, keys: Iterable[str]) -> None:
        """Delete the stored cycles of runs ``keys`` and mark them pending: they start again from
        cycle 0 (a shared cycle 0 stays stored and is reused)."""
        rows = [(key,) for key in keys]
        with self._transaction() as db:
            db.executemany("DELETE FROM cycles WHERE run = ?", rows)
            db.executemany(
                "UPDATE runs SET status = 'pending', started = NULL, finished = NULL, error = NULL"
                " WHERE key = ?",
                rows,
            )

    def cycle_counts(self) -> dict[str, int]:
        with self._connect() as db:
            return dict(db.execute("SELECT run, COUNT(*) FROM cycles GROUP BY run").fetchall())

    # --- shared cycle 0 ----------------------------------------------------------------------

    def shared(self, key: str) -> SharedRow | None:
        sha256 = self._column("shared", "checkpoint_sha256")
        with self._connect() as db:
            row = db.execute(
                f"SELECT key, config, labeled, metrics, checkpoint, embeddings, {sha256}"
                " FROM shared WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        key, config, labeled, metrics, checkpoint, embeddings, sha256 = row
        return SharedRow(
            key,
            json.loads(config),
            json.loads(labeled),
            self._parse(Evaluation, metrics),
            checkpoint,
            embeddings,
            sha256,
        )

    def put_shared(self, row: SharedRow) -> None:
        """Store a cycle-0 training (replacing one whose checkpoint went missing or was damaged),
        with the sha256 of its checkpoint file as it is now unless the row gives it."""
        sha256 = row.checkpoint_sha256 or self._file_sha256(row.checkpoint)
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO shared (key, config, labeled, metrics, checkpoint,"
                " embeddings, committed, checkpoint_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.key,
                    json.dumps(row.config, sort_keys=True),
                    json.dumps(row.labeled),
                    row.evaluation.model_dump_json(),
                    row.checkpoint,
                    row.embeddings,
                    time.time(),
                    sha256,
                ),
            )

    # --- checkpoints -------------------------------------------------------------------------

    def checked_checkpoint(self, relative: str) -> Path:
        """The path of checkpoint ``relative`` once its file is there and matches a sha256 stored
        with it (one of an older alseg, stored without, is taken as it is). Otherwise a DataError
        naming the file and how to start the runs that need it again."""
        path = path_inside(self.directory, relative)
        if path is None:
            raise DataError(f"checkpoint path {relative!r} in {self.path} leaves the study folder")
        if not path.is_file():
            problem = "is missing"
        elif (expected := self._stored_sha256s(relative)) and file_sha256(path) not in expected:
            problem = "is damaged (its sha256 differs from the one stored with it)"
        else:
            return path
        raise DataError(f"checkpoint {path} {problem}; {self.restart_hint(relative)}")

    def _stored_sha256s(self, relative: str) -> set[str]:
        queries = [
            f"SELECT {self._column(table, 'checkpoint_sha256')} FROM {table} WHERE checkpoint = ?"
            for table in ("shared", "cycles")
        ]
        with self._connect() as db:
            rows = db.execute(" UNION ".join(queries), (relative, relative)).fetchall()
        return {sha256 for (sha256,) in rows if sha256 is not None}

    def restart_hint(self, relative: str) -> str:
        """How to recover from a bad checkpoint: start the unfinished runs whose last stored
        cycle names it again (their stored cycles are deleted; finished runs never load it)."""
        with self._connect() as db:
            keys = [
                key
                for (key,) in db.execute(
                    "SELECT c.run FROM cycles c JOIN runs r ON r.key = c.run"
                    " WHERE c.checkpoint = ? AND r.status != 'done' AND c.cycle ="
                    " (SELECT MAX(cycle) FROM cycles WHERE run = c.run) ORDER BY c.run",
                    (relative,),
                )
            ]
        if not keys:
            return "no unfinished run needs it"
        restart = " ".join(f"--restart {key}" for key in keys)
        return f"start the run(s) that need it again from cycle 0: alseg study ... {restart}"

    def _shared_sha256(self, relative: str) -> str | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT checkpoint_sha256 FROM shared WHERE checkpoint = ?", (relative,)
            ).fetchone()
        return None if row is None else row[0]

    def _file_sha256(self, relative: str) -> str | None:
        """The file's sha256; None for a missing file (a row naming it is never loaded: a shared
        cycle 0 is trained again, a later cycle's load names the file)."""
        path = path_inside(self.directory, relative)
        if path is None:
            return None
        try:
            return file_sha256(path)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise DataError(f"cannot read checkpoint {path}: {error.strerror}") from None

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


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def study_lock(directory: str | Path) -> Iterator[None]:
    """Hold the study folder for this process: an exclusive ``flock`` on its ``study.lock`` file,
    which also holds the PID. A second driver on the folder gets a DataError naming that PID; the
    kernel drops the lock when the process ends, however it ends (kill -9 included). The file
    descriptor is not inherited, so helper processes (a Ray cluster) never keep the lock."""
    import fcntl

    directory = Path(directory)
    path = directory / LOCK_NAME
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise DataError(f"cannot lock study folder {directory}: {error.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "(PID unknown)"
            raise DataError(
                f"study folder {directory} is in use by process {holder}; "
                "wait for that study to end or stop it, or use another --out folder"
            ) from None
        except OSError as error:
            raise DataError(f"cannot lock study folder {directory}: {error.strerror}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
