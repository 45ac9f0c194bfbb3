"""``python3 .ci/measure.py CMD ...``: run CMD and report its wall time and peak memory.

Peak memory is the largest sum of the resident set sizes of CMD's whole process tree, sampled
every 0.5 s (GNU time's "maximum resident set size" would miss the JVM that PySpark starts and
never waits for, and counts one process only). Exits with CMD's status.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time


def tree_rss_kib(root: int) -> int:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
        stack.extend(children.get(pid, []))
    return total


def main() -> int:
    start = time.monotonic()
    process = subprocess.Popen(sys.argv[1:])
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss_kib(process.pid))
        time.sleep(0.5)
    wall = time.monotonic() - start
    print(
        f"{' '.join(sys.argv[1:])}: {wall:.0f} s wall, peak memory {peak / 1024:.0f} MiB "
        f"(summed RSS of its process tree), exit status {process.returncode}",
        file=sys.stderr,
    )
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
