"""A persistent SQLite response cache that never breaks a run.

Keys are JSON-able dicts (backend, model, messages or prompt, sampling parameters), hashed with
SHA-256; values are JSON. The file is in WAL mode with a busy timeout, so that processes sharing
it (rollout workers, benchmark cells) read and write at once instead of failing on a lock.

Every row is checked when read: one that is not JSON, or not of the shape the caller expects
(see :func:`check_texts` and :func:`check_token_logprobs`), is a miss, so the call runs and its
answer replaces the row. A corrupt, locked or unwritable file bypasses the cache from then on.
Each cache instance warns once per kind of trouble and counts everything in :attr:`ResponseCache.stats`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["ResponseCache", "cache_key", "check_texts", "check_token_logprobs"]

#: A row check: the reason a decoded value is unusable, or ``None`` when it is fine.
RowCheck = Callable[[Any], "str | None"]


def cache_key(parts: dict[str, Any]) -> str:
    """SHA-256 hex digest of ``parts`` as canonical JSON."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check_texts(value: Any, n: int = 1) -> str | None:
    """Why ``value`` is not a cached ``generate`` answer (a list of ``n`` strings), or ``None``."""
    if not isinstance(value, list) or len(value) != n or not all(isinstance(t, str) for t in value):
        return f"expected a list of {n} string(s), got {_short(value)}"
    return None


def check_token_logprobs(value: Any, num_candidates: int) -> str | None:
    """Why ``value`` is not a cached ``score`` answer (per candidate, a list of token log-probs), or ``None``."""
    if (
        not isinstance(value, list)
        or len(value) != num_candidates
        or not all(isinstance(row, list) and all(_is_number(x) for x in row) for row in value)
    ):
        return f"expected {num_candidates} list(s) of token log-probs (numbers), got {_short(value)}"
    return None


class ResponseCache:
    """Key -> JSON value store in one SQLite file, safe to share between processes.

    Args:
        path: the SQLite file; its folder is created.
        busy_timeout_s: how long to wait for another process's write lock before bypassing the cache.

    Attributes:
        stats: ``hits`` (valid rows returned), ``misses`` (lookups that returned ``None``: no row, a
            bad row, an error, or the cache bypassed), ``bad_rows`` (rows that were not JSON or failed
            the caller's check) and ``errors`` (SQLite or OS errors; the first one bypasses the cache).

    Example:
        >>> import tempfile, os
        >>> cache = ResponseCache(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
        >>> cache.put("k", ["a"]); cache.get("k", check=check_texts)
        ['a']
        >>> cache.stats
        {'hits': 1, 'misses': 0, 'bad_rows': 0, 'errors': 0}
    """

    def __init__(self, path: str | Path, busy_timeout_s: float = 5.0):
        if busy_timeout_s < 0:
            raise ValueError(f"busy_timeout_s ({busy_timeout_s}) must be 0 or more.")
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self.stats: dict[str, int] = {"hits": 0, "misses": 0, "bad_rows": 0, "errors": 0}
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self.disabled_reason: str | None = None

    @property
    def enabled(self) -> bool:
        """False once an error made the cache bypass itself."""
        return self.disabled_reason is None

    def get(self, key: str, check: RowCheck | None = None) -> Any | None:
        """The stored value of ``key``, or ``None`` on a miss, a bad row, or when the cache is bypassed.

        Args:
            key: the row's key (see :func:`cache_key`).
            check: returns why a decoded value is unusable (``None`` when fine); such a row is a miss.
        """
        row = self._run("SELECT value FROM responses WHERE key = ?", (key,), fetch=True)
        value = None if row is None else self._decode(key, row[0], check)
        self.stats["misses" if value is None else "hits"] += 1
        return value

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-able) under ``key``, replacing any row; a failure only bypasses the cache."""
        self._run("INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def close(self) -> None:
        """Close the connection (it reopens on the next use)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _decode(self, key: str, raw: Any, check: RowCheck | None) -> Any | None:
        try:
            value = json.loads(raw)
        except (TypeError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            reason = f"not JSON ({type(exc).__name__}: {exc})"
        else:
            reason = "a null value" if value is None else None if check is None else check(value)
        if reason is None:
            return value
        self.stats["bad_rows"] += 1
        if self.stats["bad_rows"] == 1:
            warnings.warn(
                f"LLM response cache {self.path} has a bad row (key {key[:12]}...: {reason}); it counts as a "
                "miss and the fresh answer replaces it (further bad rows are only counted, in stats['bad_rows']).",
                RuntimeWarning,
                stacklevel=4,
            )
        return None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit (isolation_level=None): each statement is its own short transaction, so that a
            # writer never upgrades a read lock (which SQLite refuses at once, without waiting)
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
                self._enable_wal(conn)
                conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; a crash may lose the last rows only
                conn.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            except sqlite3.Error:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL mode (readers and a writer at once, across processes).

        SQLite answers "database is locked" at once, without the busy timeout, while another process
        switches a new file to WAL; retry until ``busy_timeout_s``.
        """
        end = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorcode", sqlite3.SQLITE_BUSY) != sqlite3.SQLITE_BUSY:
                    raise
                if time.monotonic() >= end:
                    raise
                time.sleep(0.01)

    def _run(self, sql: str, params: tuple, fetch: bool = False) -> Any:
        if not self.enabled:
            return None
        with self._lock:
            try:
                cursor = self._connect().execute(sql, params)
                return cursor.fetchone() if fetch else None
            except (sqlite3.Error, OSError) as exc:
                self.stats["errors"] += 1
                self._disable(exc)
                return None

    def _disable(self, exc: Exception) -> None:
        self.disabled_reason = f"{type(exc).__name__}: {exc}"
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        warnings.warn(
            f"LLM response cache {self.path} is unusable ({self.disabled_reason}); "
            "continuing without it (delete the file, or set cache=False, to silence this).",
            RuntimeWarning,
            stacklevel=5,
        )
