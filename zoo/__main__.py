"""``python -m zoo`` is the ``zoo`` command."""

from zoo.cli import run

if __name__ == "__main__":  # not again where a child process re-imports the main module (multiprocessing's spawn)
    run()
