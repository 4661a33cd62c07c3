"""`scimlite --help` and every subcommand's help: complete, so nobody needs the README to start.

The commands are found by walking the real parser, so a new subcommand or option without help
text fails here the day it is added.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from typing import cast

import pytest

from scimlite import __version__
from scimlite.cli import build_parser, main


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """(path, parser, the one-line help its parent lists it with) for every (sub)command."""
    if not path:
        yield path, parser, parser.description
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), sub, listed.get(name)
                yield from _commands(sub, (*path, name))


COMMANDS = [
    pytest.param(path, parser, summary, id=" ".join(("scimlite", *path)))
    for path, parser, summary in _commands(build_parser())
]


def _arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)
    ]


def test_the_walk_finds_every_documented_command() -> None:
    names = {" ".join(cast(tuple[str, ...], p.values[0])) for p in COMMANDS}
    expected = {"", "serve", "demo", "demo-db", "token", "token create", "token list"}
    assert expected | {"token revoke"} <= names


@pytest.mark.parametrize(("path", "parser", "summary"), COMMANDS)
def test_every_command_has_a_summary_and_a_description(
    path: tuple[str, ...], parser: argparse.ArgumentParser, summary: str | None
) -> None:
    assert summary and summary.strip(), f"{path} has no one-line help in its parent's list"
    assert parser.description and parser.description.strip(), f"{path} has no description"


@pytest.mark.parametrize(("path", "parser", "summary"), COMMANDS)
def test_every_argument_has_help(
    path: tuple[str, ...], parser: argparse.ArgumentParser, summary: str | None
) -> None:
    missing = [a.dest for a in _arguments(parser) if not (a.help and a.help.strip())]
    assert missing == [], f"scimlite {' '.join(path)}: no help for {missing}"


@pytest.mark.parametrize(("path", "parser", "summary"), COMMANDS)
def test_help_prints_usage_and_every_option(
    path: tuple[str, ...],
    parser: argparse.ArgumentParser,
    summary: str | None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*path, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {' '.join(('scimlite', *path))} ")
    for action in _arguments(parser):
        shown: Sequence[str | tuple[str, ...]] = action.option_strings or [
            action.metavar or action.dest
        ]
        assert all(str(s) in out for s in shown), f"{shown} missing from:\n{out}"
        assert action.help is not None and action.help.split()[0] in out
    for sub in parser._actions:
        if isinstance(sub, argparse._SubParsersAction):
            assert all(name in out for name in sub.choices), out


def test_top_level_help_says_where_to_start(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "`scimlite serve`" in out and "`scimlite demo`" in out


def test_no_command_prints_the_full_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: scimlite ") and "serve" in err and "demo" in err


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"scimlite {__version__}\n"
