"""Cold start of `zoo list` against `python -c "import keras"`, in fresh processes, in one run.

    python benchmarks/cold_start.py [--repeat 5]

Prints the median wall time of each and the ratio (target: <= 0.1).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from result import report

TARGET = 0.1


def median_seconds(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    zoo_list = median_seconds([sys.executable, "-m", "zoo", "list"], args.repeat)
    keras_import = median_seconds([sys.executable, "-c", "import keras"], args.repeat)
    ratio = zoo_list / keras_import
    print(f"{'zoo list':<22}{zoo_list:8.3f} s")
    print(f"{'python -c import keras':<22}{keras_import:8.3f} s")
    report("zoo list vs import keras (cold start)", zoo_list, keras_import, "s", ratio, f"<= {TARGET}", ratio <= TARGET)


if __name__ == "__main__":
    main()
