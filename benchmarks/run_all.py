"""Every CPU benchmark, each measured against plain Keras in the same run, as one table of ratios.

    python benchmarks/run_all.py

Runs each benchmark script in its own process (so memory and imports do not leak between them)
and prints the table that ``docs/benchmarks.md`` reports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from result import MARK

SCRIPTS = [
    "cold_start.py",
    "phase1.py",
    "extraction.py",
    "text_extraction.py",
    "text_length.py",
    "logme_speed.py",
    "memory.py",
    "export.py",
    "tune.py",
    "serve.py",
]


def main() -> int:
    here = Path(__file__).parent
    rows = []
    for script in SCRIPTS:
        print(f"== {script}", flush=True)
        result = subprocess.run([sys.executable, str(here / script)], capture_output=True, text=True)
        lines = [line for line in result.stdout.splitlines() if not line.startswith(MARK)]
        print("\n".join(lines))
        found = [json.loads(line[len(MARK) :]) for line in result.stdout.splitlines() if line.startswith(MARK)]
        if result.returncode or not found:
            print(result.stderr[-2000:])
            rows.append(
                {"benchmark": script, "ratio": float("nan"), "target": "-", "ok": False, "zoo": 0, "baseline": 0}
            )
        rows += found
    print(f"\n{'benchmark':<46}{'zoo':>12}{'plain Keras':>13}{'ratio':>9}  target")
    for row in rows:
        unit = row.get("unit", "")
        verdict = "ok" if row["ok"] else "MISSED"
        print(
            f"{row['benchmark']:<46}{row['zoo']:>9.3g} {unit:<2}{row['baseline']:>10.3g} {unit:<2}"
            f"{row['ratio']:>9.3g}  {row['target']} {verdict}"
        )
    return 0 if all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
