"""What the tests of servers and browsers share: a free port, the texts of a small text run, and headless Chromium.

`make test` installs Debian's Chromium and points ZOO_CHROMIUM at it; Playwright drives it.
"""

import os
import socket

CHROMIUM = os.environ.get("ZOO_CHROMIUM")
# Chromium without its own traffic: these flags keep it off a network the machine does not have.
QUIET_CHROMIUM = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
NO_CHROMIUM = "set ZOO_CHROMIUM to a Chromium binary (`make test` installs Debian's)"
# Two topics of four texts each: a text run small enough to train in seconds.
TEXTS = {
    "weather": ["rain and wind by noon", "sunny skies all day", "snow falls tonight", "storm clouds gather"],
    "sport": ["the team won the match", "a goal in extra time", "the runner broke a record", "the final whistle"],
}


def free_port():
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
