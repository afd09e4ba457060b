"""The one line each benchmark ends with, so ``run_all.py`` can collect them into a table."""

from __future__ import annotations

import json

MARK = "BENCHMARK-RESULT "


def report(name: str, zoo: float, baseline: float, unit: str, ratio: float, target: str, ok: bool) -> None:
    """Print the verdict for humans, then one machine-readable line."""
    print(f"ratio {ratio:.3g} (target {target}): {'ok' if ok else 'MISSED'}")
    row = {"benchmark": name, "zoo": zoo, "baseline": baseline, "unit": unit, "ratio": ratio, "target": target}
    print(MARK + json.dumps({**row, "ok": ok}))
