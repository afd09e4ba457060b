import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from zoo.testing import zoo_plugin  # noqa: F401  (the fixture; or pytest_plugins = ["zoo.testing"] at the root)
