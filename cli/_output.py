"""What every command shares at the edge: human or JSON output, and turning errors into exits.

Each command prints either a human view (plain lines and rich tables that stay readable when
piped) or, with ``--json``, exactly one JSON document on stdout. Failures never show a
traceback: :class:`TdxCommand` maps the SDK's :class:`~tdx.sdk.TdxError` tree, the node's
``NodeError``, file errors and malformed JSON to a :class:`Failure` (exit 1) whose message is
one line on stderr. Usage mistakes stay click's ``UsageError`` (exit 2). With ``--json`` a
failure or usage mistake is one JSON object on stderr instead,
``{"error": {"code": ..., "reason": ..., "message": ...}}`` (see :func:`error_json`).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import click
from google.protobuf import json_format
from rich import box
from rich.console import Console
from rich.table import Table
from tdx.sdk import ApiError, TdxError, Unavailable

# Wide enough that a 64-hex document id and its neighbours fit on one line.
_PIPE_WIDTH = 200


def error_json(code: str, message: str, reason: str = "") -> str:
    """A failure as the one-line JSON object that ``--json`` runs print on stderr.

    ``code`` is the node's gRPC code name for an answer from a node (``UNAVAILABLE``,
    ``NOT_FOUND``, ...), ``REJECTED`` for a document the ledger refused, ``USAGE`` for a
    usage mistake, ``PROOF_INVALID`` for a proof that does not verify, ``INTERNAL`` for a
    bug, else ``FAILED``; ``reason`` is the node's reason
    code (``certificate.over_draw``) when there is one.
    """
    return json.dumps({"error": {"code": code, "reason": reason, "message": message}},
                      ensure_ascii=False)


class Failure(click.ClickException):
    """A command failed (exit 1); the message is one line.

    ``code`` and ``reason`` classify it for ``--json`` runs (see :func:`error_json`);
    ``as_json`` is set by :class:`TdxCommand` when the command ran with ``--json``.
    """

    exit_code = 1

    def __init__(self, message: str, *, code: str = "FAILED", reason: str = "") -> None:
        super().__init__(" ".join(message.split()))
        self.code = code
        self.reason = reason
        self.as_json = False

    def show(self, file: IO[Any] | None = None) -> None:
        text = (error_json(self.code, self.format_message(), self.reason) if self.as_json
                else f"error: {self.format_message()}")
        click.echo(text, file=file or sys.stderr)


class JsonUsageError(click.UsageError):
    """A usage mistake in a ``--json`` run: one JSON object on stderr, still exit 2."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(error_json("USAGE", self.format_message()), file=file or sys.stderr)


class TdxCommand(click.Command):
    """A click command whose errors reach the user as one line, never a traceback."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        as_json = "--json" in args  # before parsing, which consumes ``args``
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            if as_json and not isinstance(exc, JsonUsageError):
                raise JsonUsageError(exc.message, exc.ctx) from exc
            raise

    def invoke(self, ctx: click.Context) -> Any:
        as_json = bool(ctx.params.get("as_json"))
        try:
            return super().invoke(ctx)
        except Failure as failed:
            failed.as_json = as_json
            raise
        except click.UsageError as exc:
            if as_json and not isinstance(exc, JsonUsageError):
                raise JsonUsageError(exc.message, exc.ctx) from exc
            raise
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            failure = failure_from(exc, ctx.params.get("node"))
            if failure is None:
                raise
            failure.as_json = as_json
            raise failure from exc


class TdxGroup(click.Group):
    """A click group whose commands and subgroups are TdxCommand and TdxGroup."""

    command_class = TdxCommand
    group_class = type


def failure_from(exc: BaseException, node: object = None) -> Failure | None:
    """Return the Failure that tells the user what went wrong, or None for a bug."""
    if isinstance(exc, Unavailable) and not exc.reason:
        # No reason code: the refusal came from gRPC itself, not from a node's answer.
        where = f" at {node}" if node else ""
        hint = ("; a node that serves TLS closes plaintext connections (pin it: --genesis, "
                "--pin) and one that requires client certificates closes those without "
                "one (--client-key)") if "Socket closed" in exc.message else ""
        return Failure(f"no node answers{where} ({exc.message or exc.code}); is it running? "
                       f"(set --node, TDX_NODE or TDX_DEVNET){hint}", code=exc.code)
    if isinstance(exc, ApiError):
        # A live node's answer: its words, and its reason code when it gave one.
        why = f" ({exc.reason})" if exc.reason and exc.reason not in exc.message else ""
        return Failure(f"{exc.code}: {exc.message}{why}", code=exc.code, reason=exc.reason)
    if isinstance(exc, TdxError):
        return Failure(str(exc))
    if isinstance(exc, _node_error_class()):
        return Failure(str(exc))
    if isinstance(exc, OSError):
        name = exc.filename if exc.filename is not None else ""
        reason = exc.strerror or str(exc)
        return Failure(f"{name}: {reason}" if name else reason)
    if isinstance(exc, json.JSONDecodeError):
        return Failure(f"not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})")
    if isinstance(exc, json_format.ParseError):
        return Failure(f"not the expected protobuf JSON: {exc}")
    return None


def _node_error_class() -> type[BaseException] | tuple[()]:
    """tdx.node's NodeError once the node package is loaded (a NodeError implies it is)."""
    node = sys.modules.get("tdx.node")
    error = getattr(node, "NodeError", None)
    return error if isinstance(error, type) and issubclass(error, BaseException) else ()


# -- reading and writing files ------------------------------------------------------------

def read_text(source: str) -> str:
    """Read a file, or stdin for ``-``; raises Failure naming the file."""
    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).read_text()
    except FileNotFoundError:
        raise Failure(f"{source}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise Failure(f"{source}: cannot read: {reason}") from None


def read_json(source: str) -> Any:
    """Read and parse a JSON file (or stdin for ``-``); raises Failure naming the file."""
    text = read_text(source)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        name = "stdin" if source == "-" else source
        raise Failure(f"{name}: not valid JSON: {exc.msg} "
                      f"(line {exc.lineno} column {exc.colno})") from None


def write_atomically(path: Path, text: str, *, replace: bool) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new, never half.

    The text goes to a temporary file in the same folder, is fsync'd, then renamed over
    ``path`` (``replace``) or linked to it only if ``path`` does not exist yet, so that two
    creators cannot both win. The folder is fsync'd so the rename survives a crash.
    """
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise Failure(f"{path}: already exists; refusing to overwrite it") from None
            tmp.unlink()
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        tmp.unlink(missing_ok=True)


# -- output -----------------------------------------------------------------------------

class Output:
    """Where a command's answer goes: a JSON document, or lines and tables for people."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        """A rich console on the current stdout (created late, so CliRunner captures it).

        It is at least _PIPE_WIDTH wide even on a narrow terminal: a table of 64-hex ids
        that the terminal wraps is readable, one that rich folds into columns is not.
        """
        if self._console is None:
            width = max(shutil.get_terminal_size().columns, _PIPE_WIDTH)
            self._console = Console(file=sys.stdout, highlight=False, soft_wrap=False,
                                    width=width)
        return self._console

    def emit(self, data: Any, human: Callable[[], None]) -> None:
        """Print ``data`` as JSON with ``--json``; otherwise call ``human`` to print it."""
        if self.as_json:
            click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            human()

    def line(self, text: str = "") -> None:
        """Print one plain line (no markup)."""
        self.console.print(text, markup=False)

    def fields(self, pairs: Iterable[tuple[str, object]]) -> None:
        """Print ``label: value`` lines with the values aligned."""
        rows = [(label, "" if value is None else str(value)) for label, value in pairs]
        width = max((len(label) for label, _ in rows), default=0) + 1
        for label, value in rows:
            self.line(f"{label + ':':<{width}} {value}")

    def table(self, title: str | None, columns: Sequence[str], rows: Iterable[Sequence[object]],
              *, no_wrap: Iterable[str] = ()) -> None:
        """Print a table; columns named in ``no_wrap`` are never folded (ids to copy)."""
        keep = set(no_wrap)
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                      pad_edge=False)
        for column in columns:
            table.add_column(column, no_wrap=column in keep, overflow="fold")
        for row in rows:
            table.add_row(*("" if cell is None else str(cell) for cell in row))
        self.console.print(table)


def warn(message: str) -> None:
    """Print a one-line warning on stderr."""
    click.echo(f"warning: {message}", err=True)
