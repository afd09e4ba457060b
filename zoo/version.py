"""The release of backbone-zoo, in one place: ``zoo.__version__``, the package metadata (pyproject.toml reads it),
the CLI's ``--version``, plugins' ``backbone-zoo`` requirements and an export's ``metadata.json``.

>>> from zoo.version import __version__
>>> __version__.count(".") >= 2
True
"""

__version__ = "0.1.0"
