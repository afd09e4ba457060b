"""Cold starts in fresh processes, in one run: `zoo list` against `python -c "import keras"` (target: <= 0.1),
and the framework as a `zoo` command loads it (`load_framework(lean=True)`: Keras and TensorFlow without the
scikit-learn and JAX they import when installed) against Keras' own import of the same (target: <= 0.85; JAX and
scikit-learn must be installed, as they are in the development environment).

    python benchmarks/cold_start.py [--repeat 5]

Prints the median wall time of each, the ratios, and the peak memory of each framework load.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time

from result import report

TARGET = 0.1
LEAN_TARGET = 0.85
# The child prints its peak resident memory (kB) once Keras and TensorFlow are loaded.
LOAD = "import resource; from zoo import console; console.load_framework(lean={lean}); "
LOAD += "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


def median_seconds(command: list[str], repeat: int) -> tuple[float, int]:
    """The median wall time of ``command`` and the last line it printed, as an integer (0 if none)."""
    times, said = [], "0"
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        said = (done.stdout.strip().splitlines() or ["0"])[-1]
    return statistics.median(times), int(said) if said.isdigit() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    zoo_list, _ = median_seconds([sys.executable, "-m", "zoo", "list"], args.repeat)
    keras_import, _ = median_seconds([sys.executable, "-c", "import keras"], args.repeat)
    ratio = zoo_list / keras_import
    print(f"{'zoo list':<22}{zoo_list:8.3f} s")
    print(f"{'python -c import keras':<22}{keras_import:8.3f} s")
    report("zoo list vs import keras (cold start)", zoo_list, keras_import, "s", ratio, f"<= {TARGET}", ratio <= TARGET)

    if not all(importlib.util.find_spec(name) for name in ("jax", "sklearn")):
        print("the framework-load comparison needs jax and scikit-learn installed: skipped")
        return
    lean, lean_kb = median_seconds([sys.executable, "-c", LOAD.format(lean=True)], args.repeat)
    plain, plain_kb = median_seconds([sys.executable, "-c", LOAD.format(lean=False)], args.repeat)
    ratio = lean / plain
    print(f"{'zoo command load':<22}{lean:8.3f} s  peak {lean_kb / 1024:6.0f} MB")
    print(f"{'Keras own import':<22}{plain:8.3f} s  peak {plain_kb / 1024:6.0f} MB")
    report("framework load: zoo command vs Keras' own import", lean, plain, "s", ratio, f"<= {LEAN_TARGET}",
           ratio <= LEAN_TARGET)  # fmt: skip


if __name__ == "__main__":
    main()
