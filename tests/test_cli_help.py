"""``--help``: every option says what it is, its default and range; every verb ends with examples."""

from __future__ import annotations

import argparse

import pytest

from dynscale._help import EXAMPLES, leaf_parsers
from dynscale._options import Number
from dynscale.cli import build_parser, main

PARSER = build_parser()
VERBS = leaf_parsers(PARSER)


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.help != argparse.SUPPRESS
            and not isinstance(a, (argparse._HelpAction, argparse._VersionAction))]


@pytest.mark.parametrize("name", sorted(VERBS))
def test_every_option_has_help_with_its_default_and_range(name: str) -> None:
    parser = VERBS[name]
    formatter = parser._get_formatter()
    for action in _options(parser):
        assert action.help, f"{name} {action.dest}: no help"
        assert action.type not in (int, float), f"{name} {action.dest}: a number without a range"
        shown = formatter._get_help_string(action)
        if isinstance(action.type, Number):
            assert action.type.text in shown, (name, action.dest)
        if action.option_strings and not action.required and action.default not in (None, False, []):
            assert "default" in shown.lower(), (name, action.dest, shown)


@pytest.mark.parametrize("name", sorted(VERBS))
def test_every_verb_ends_with_examples_of_itself(name: str) -> None:
    text = VERBS[name].format_help()
    examples = text.split("examples:\n", 1)[1].splitlines()
    assert 1 <= len(examples) <= 2
    assert all(line.strip().startswith(f"dynscale {name}") for line in examples), examples


def test_examples_name_only_existing_verbs() -> None:
    assert set(EXAMPLES) <= set(VERBS)


def test_top_help_mentions_board_restore(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "dynscale board restore" in capsys.readouterr().out


def test_board_means_the_same_in_every_verb() -> None:
    boards = {name: next(a for a in VERBS[name]._actions if a.dest == "board")
              for name in VERBS if any(a.dest == "board" for a in VERBS[name]._actions)}
    assert set(boards) == {"board probe", "profile", "deploy"}
    assert len({(tuple(a.choices), a.default, a.help) for a in boards.values()}) == 1
