"""The zoo's notes are logging records on named loggers under "zoo"; its own handler keeps the output as it was."""

import logging

import pytest

from zoo import console


@pytest.fixture
def normal_level():
    yield
    console.set_level("normal")


def test_a_note_is_an_info_record_of_the_speaking_modules_logger(capsys, normal_level):
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append((record.name, record.levelno, record.getMessage()))

    keep = Keep()
    logging.getLogger("zoo").addHandler(keep)
    try:
        console.say("phase 1: training the head", logger="zoo.trainer")
        console.say("from the zoo itself")  # called from outside zoo/: the "zoo" logger
    finally:
        logging.getLogger("zoo").removeHandler(keep)
    assert seen == [
        ("zoo.trainer", logging.INFO, "phase 1: training the head"),
        ("zoo", logging.INFO, "from the zoo itself"),
    ]
    assert capsys.readouterr() == ("", "phase 1: training the head\nfrom the zoo itself\n")  # the message alone


def test_the_level_is_the_zoo_loggers_level(capsys, normal_level):
    zoo_logger = logging.getLogger("zoo")
    for name, level in (("quiet", logging.WARNING), ("verbose", logging.DEBUG), ("normal", logging.INFO)):
        console.set_level(name)
        assert zoo_logger.level == level and console.level() == console.LEVELS[name]
    zoo_logger.setLevel(logging.ERROR)  # set by a program through logging: the zoo is quiet
    assert console.level() == console.QUIET and not console.shows(1)
    console.say("not shown")
    assert capsys.readouterr() == ("", "")


def test_a_program_can_take_the_zoos_records_over(caplog, normal_level):
    zoo_logger = logging.getLogger("zoo")
    zoo_logger.removeHandler(console.HANDLER)
    zoo_logger.propagate = True
    try:
        with caplog.at_level(logging.INFO, logger="zoo"):
            console.say("waiting for the lock", logger="zoo.locks")
    finally:
        console.install_handler()
    assert ("zoo.locks", logging.INFO, "waiting for the lock") in caplog.record_tuples
    assert console.HANDLER in zoo_logger.handlers and zoo_logger.propagate is False


def test_the_handler_writes_to_stderr_as_it_is_when_the_record_is_emitted(capsys):
    console.say("to the captured stderr")
    assert capsys.readouterr().err == "to the captured stderr\n"
