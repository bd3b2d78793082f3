"""Run every benchmark in this directory: `python -m bench` (what `make bench` does).

    python -m bench               # every bench/*_bench.py, one after the other
    python -m bench auth mcp      # only auth_bench and mcp_bench

Each bench runs as `python -m bench.<name>` in a process of its own, with its default
arguments: benches start servers, client processes and event loops, and must not share an
interpreter. The exit status is non-zero if any bench failed.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import time
from pathlib import Path

SUFFIX = "_bench"


def bench_modules() -> list[str]:
    here = str(Path(__file__).parent)
    return sorted(m.name for m in pkgutil.iter_modules([here]) if m.name.endswith(SUFFIX))


def main(argv: list[str]) -> int:
    available = bench_modules()
    wanted = [name if name.endswith(SUFFIX) else f"{name}{SUFFIX}" for name in argv]
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        print(
            f"unknown bench: {', '.join(unknown)} (have: {', '.join(available)})", file=sys.stderr
        )
        return 2
    failed: list[str] = []
    for name in wanted or available:
        print(f"\n=== bench.{name} ===", flush=True)
        start = time.monotonic()
        result = subprocess.run([sys.executable, "-m", f"bench.{name}"], check=False)
        print(
            f"=== bench.{name}: exit {result.returncode}, {time.monotonic() - start:.0f} s",
            flush=True,
        )
        if result.returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
