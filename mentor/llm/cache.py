"""A persistent SQLite response cache that never breaks a run.

Keys are JSON-able dicts (backend, model, messages or prompt, sampling parameters), hashed with
SHA-256; values are JSON. A corrupt, locked or unwritable file is reported with one warning and
the cache is bypassed from then on: the LLM call simply runs.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import warnings
from pathlib import Path
from typing import Any

__all__ = ["ResponseCache", "cache_key"]


def cache_key(parts: dict[str, Any]) -> str:
    """SHA-256 hex digest of ``parts`` as canonical JSON."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ResponseCache:
    """Key -> JSON value store in one SQLite file, safe to share between processes.

    Args:
        path: the SQLite file; its folder is created.
        busy_timeout_s: how long to wait for another process's lock before bypassing the cache.

    Example:
        >>> import tempfile, os
        >>> cache = ResponseCache(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
        >>> cache.put("k", [1, 2]); cache.get("k")
        [1, 2]
    """

    def __init__(self, path: str | Path, busy_timeout_s: float = 2.0):
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self.disabled_reason: str | None = None

    @property
    def enabled(self) -> bool:
        """False once an error made the cache bypass itself."""
        return self.disabled_reason is None

    def get(self, key: str) -> Any | None:
        """The stored value of ``key``, or ``None`` on a miss or when the cache is bypassed."""
        row = self._run("SELECT value FROM responses WHERE key = ?", (key,), fetch=True)
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-able) under ``key``; a failure only disables the cache."""
        self._run("INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def close(self) -> None:
        """Close the connection (it reopens on the next use)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, check_same_thread=False)
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                conn.commit()
            except sqlite3.Error:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _run(self, sql: str, params: tuple, fetch: bool = False) -> Any:
        if not self.enabled:
            return None
        with self._lock:
            try:
                conn = self._connect()
                cursor = conn.execute(sql, params)
                if fetch:
                    return cursor.fetchone()
                conn.commit()
                return None
            except (sqlite3.Error, OSError) as exc:
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
            stacklevel=4,
        )
