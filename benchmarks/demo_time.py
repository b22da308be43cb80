"""How long `make demo` takes once installed, against its target (the whole loop, a fresh venv
included, within two minutes on a fresh machine: the demo itself within ~45 s).

Runs `python -m heron_collector.demo` as `make demo` does, into a new temporary directory, and
prints the wall time with the machine's load average before and after (a shared machine's load
is most of the variance). Last line: RESULT demo_s=… target_s=45 met=yes|no load_before=… load_after=…
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

TARGET_S = 45.0


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="heron-bench-demo-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HERON_"))}
        load_before = os.getloadavg()[0]
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "heron_collector.demo", "--data-dir", os.path.join(tmp, "store")],
                              env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - began
        load_after = os.getloadavg()[0]
    if done.returncode != 0:
        print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
        return 1
    print(f"RESULT demo_s={seconds:.1f} target_s={TARGET_S:.0f} met={'yes' if seconds <= TARGET_S else 'no'} "
          f"load_before={load_before:.1f} load_after={load_after:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
