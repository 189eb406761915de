"""The model cache (WORKER_MODEL_CACHE_DIR): converted models and the runtime chosen for a
model on this CPU, shared by every worker on the machine.

Entries are written whole or not at all (a temporary file renamed into place), and
the work that makes one (a conversion, the timing of the runtimes) runs under an
exclusive file lock, so several workers starting at once do it once: the first takes
the lock and works, the others wait on the lock and then find the entry. A cache that
cannot be written (a read-only volume) only costs the work at every start: the worker
logs a warning and goes on.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import platform
import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..ops.log import log_fields

log = logging.getLogger(__name__)

APP_DIR = "webcamhub"
_HASH_CHUNK = 1 << 20


def default_cache_dir(env: Mapping[str, str] | None = None) -> str:
    """$XDG_CACHE_HOME/webcamhub, else $HOME/.cache/webcamhub."""
    env = os.environ if env is None else env
    home = env.get("HOME") or os.path.expanduser("~")
    base = env.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    return os.path.join(base, APP_DIR)


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes (hex, first 16 characters: a cache key, not a proof)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_HASH_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def text_digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def cpu_name() -> str:
    """The CPU's model name and the instruction sets that change which kernels run."""
    name = platform.processor() or platform.machine()
    flags: set[str] = set()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    name = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
    wanted = sorted(f for f in flags if f.startswith(("avx512", "amx", "avx2", "avx_vnni")))
    return f"{name} [{' '.join(wanted)}]".strip()


def cpu_key() -> str:
    """cpu_name() as a short string usable in file names."""
    return text_digest(cpu_name())[:12]


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80]


class ModelCache:
    """A folder of cache entries. `writable` is False when it cannot be created or
    written: lookups still work where it can be read, writes are skipped."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.writable = True
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-", delete=True)
            probe.close()
        except OSError as exc:
            self.writable = False
            log_fields(log, logging.WARNING, "model cache not writable: converted models and "
                       "the runtime choice are not kept (set WORKER_MODEL_CACHE_DIR to a writable "
                       "folder)", dir=str(self.root), error=exc.strerror or str(exc))

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """An exclusive lock named `name` across processes (blocks until free). On a
        cache that cannot be written: no lock (each process does the work itself)."""
        if not self.writable:
            yield
            return
        lock_path = self.path(f"{name}.lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def read_json(self, name: str) -> dict[str, Any] | None:
        try:
            with open(self.path(name), encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log_fields(log, logging.WARNING, "model cache entry unreadable; making it anew",
                       entry=name, error=str(exc)[:200])
            return None
        return data if isinstance(data, dict) else None

    def write_json(self, name: str, data: dict[str, Any]) -> bool:
        return self.write_bytes(name, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())

    def write_bytes(self, name: str, data: bytes) -> bool:
        """Write atomically (temporary file + rename); False when it cannot."""
        if not self.writable:
            return False
        target = self.path(name)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            log_fields(log, logging.WARNING, "model cache entry not written", entry=name,
                       error=exc.strerror or str(exc))
            return False
        return True

    def publish_dir(self, name: str, make: Any) -> Path | None:
        """A folder entry made by `make(tmp_folder)` in a temporary folder renamed
        into place; None when the cache cannot be written."""
        if not self.writable:
            return None
        target = self.path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
        try:
            make(tmp)
            os.replace(tmp, target)
        except OSError as exc:
            _remove_tree(tmp)
            log_fields(log, logging.WARNING, "model cache entry not written", entry=name,
                       error=exc.strerror or str(exc))
            return None
        except BaseException:
            _remove_tree(tmp)
            raise
        return target


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
