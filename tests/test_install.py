"""The environment `make` installs: consistent for pip, one TensorFlow distribution, no unused heavyweights.

Two wheels that both provide the `tensorflow` package (`tensorflow` and `tensorflow-cpu`, say) write into one
folder: whichever was installed last wins file by file, and uninstalling either breaks the other.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys

# Pulled in by dependencies' metadata only, never imported by the zoo: pyarrow (by tensorflow-datasets from 4.9.5
# on, for keras-cv), PyTorch and sentence-transformers (by the MiniLM checkpoint's package).
UNUSED = ("pyarrow", "torch", "sentence-transformers")


def providers(package: str) -> list[str]:
    """The installed distributions whose files include ``<package>/__init__.py``, by name.

    >>> providers("pytest")
    ['pytest']
    """
    names = set()
    for dist in importlib.metadata.distributions():
        if any(file.as_posix() == f"{package}/__init__.py" for file in dist.files or ()):
            names.add(dist.metadata["Name"])
    return sorted(names)


def test_pip_check_passes():
    environment = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pip", "check"], capture_output=True, text=True, env=environment, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_exactly_one_distribution_provides_tensorflow():
    found = providers("tensorflow")
    assert len(found) == 1, f"expected one distribution providing `tensorflow`, found {found}"


def test_packages_nothing_imports_are_not_installed():
    installed = {re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower() for dist in importlib.metadata.distributions()}
    assert installed.isdisjoint(UNUSED), f"installed, and never imported: {sorted(installed & set(UNUSED))}"
