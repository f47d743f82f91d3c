"""Once ready, a host gives the heap pages start-up freed back to the OS (``openmodule_host.memory``)."""

import subprocess
import sys

import pytest

# Frees 40 MiB of 1 KiB blocks (glibc's heap, not pymalloc's arenas) but the last block, which pins the
# heap's top so that free() alone returns nothing; prints RSS before and after release_free_memory().
_FREED_BUT_KEPT = """
from openmodule_host.memory import release_free_memory
def rss():
    return int(next(line for line in open("/proc/self/status") if line.startswith("VmRSS")).split()[1])
blocks = [bytes(1024) + bytes([i % 256]) for i in range(40 * 1024)]
last = blocks.pop()
del blocks
before = rss()
done = release_free_memory()
print(done, before, rss())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_freed_heap_pages_go_back_to_the_os():
    result = subprocess.run([sys.executable, "-c", _FREED_BUT_KEPT], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    done, before, after = result.stdout.split()
    assert done == "True"
    assert int(before) - int(after) > 20 * 1024, (before, after)  # KiB: most of the 40 MiB

