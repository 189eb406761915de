"""The worker's memory: give what a large decode freed back to the system.

glibc's malloc keeps freed heap memory for reuse, per thread arena, and raises its mmap
threshold (up to 32 MiB) every time a large mmapped block is freed, so after a burst of
large images the next ones come from the heap and stay resident: the worker sat at
0.9 GB after the 16-bit PNG bomb of issue 9. A fixed threshold keeps every block over
it in its own mapping, returned to the system when freed; `trim` returns what the heap
holds free. Elsewhere than glibc both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Any

# Blocks of at least this size get their own mapping (glibc's default is 128 KiB,
# raised on the fly; fixing it stops the raise). Image buffers are far larger; the
# interpreter's small objects far smaller.
MMAP_THRESHOLD_BYTES = 1 << 20
_M_MMAP_THRESHOLD = -3  # mallopt parameter numbers (malloc.h)


def _libc() -> Any | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    if not (hasattr(lib, "mallopt") and hasattr(lib, "malloc_trim")):
        return None  # not glibc
    return lib


_LIBC = _libc()


def keep_large_blocks_unpooled() -> bool:
    """Fix the mmap threshold; False where the C library has no mallopt."""
    if _LIBC is None:
        return False
    return bool(_LIBC.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


def trim() -> None:
    """Return the heap's free memory to the system (all arenas)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of a process (Linux /proc), 0 when unknown."""
    path = f"/proc/{pid or 'self'}/statm"
    try:
        with open(path, encoding="ascii") as f:
            resident = int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    """This process's peak resident set size since start or the last reset_peak()."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def reset_peak() -> bool:
    """Start measuring the peak afresh from the current size (Linux 4.0+, writing 5 to
    /proc/self/clear_refs); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True
