"""The root ``tdx`` group: help with an example on every command, --json everywhere, edges."""

from __future__ import annotations

import sys

import click
import pytest
from cli_testing import run
from tdx.cli import main as main_module
from tdx.cli.main import cli


def _commands(group: click.Group,
              prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], bool]]:
    """(path, is a group) for every command below ``group``."""
    found: list[tuple[tuple[str, ...], bool]] = []
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        found.append((path, isinstance(command, click.Group)))
        if isinstance(command, click.Group):
            found.extend(_commands(command, path))
    return found


ALL = [path for path, _ in _commands(cli)]
LEAVES = [path for path, is_group in _commands(cli) if not is_group]


def test_the_commands_the_issue_asks_for_exist() -> None:
    for path in [("keys", "generate"), ("keys", "show"), ("genesis", "create"),
                 ("genesis", "add-member"), ("genesis", "show"), ("node", "init"),
                 ("node", "start"), ("doc", "template"), ("doc", "submit"), ("doc", "get"),
                 ("doc", "query"), ("doc", "proof"), ("doc", "verify"), ("status",)]:
        assert path in ALL


@pytest.mark.parametrize("path", [(), *ALL], ids=lambda p: " ".join(p) or "tdx")
def test_every_group_and_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    text = run(*path, "--help").stdout
    assert "Example" in text or "from nothing" in text
    assert "tdx " in text


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_every_command_takes_json(path: tuple[str, ...]) -> None:
    assert "--json" in run(*path, "--help").stdout


def test_version() -> None:
    assert "tdx, version" in run("--version").stdout


def test_unknown_command_is_a_usage_error() -> None:
    assert "No such command" in run("frobnicate", code=2).stderr


def test_main_turns_an_unexpected_error_into_one_line(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(main_module.cli, "main", broken)
    monkeypatch.setattr(sys, "argv", ["tdx", "status"])
    monkeypatch.delenv(main_module.DEBUG_ENV, raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main_module.main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: RuntimeError: boom" in err
    monkeypatch.setenv(main_module.DEBUG_ENV, "1")
    with pytest.raises(RuntimeError):
        main_module.main()
