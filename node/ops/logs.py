"""A node's logs: ours and third-party libraries' (libp2p, trio, grpc) in one format on stderr.

Settings, from the environment (a bad value is a one-line NodeError naming the variable):

- ``TDX_LOG_LEVEL``: ``DEBUG``, ``INFO`` (default), ``WARNING`` or ``ERROR``, in any case.
- ``TDX_LOG_FORMAT``: ``text`` (default), ``time level logger: message``; or ``json``, one
  JSON object a line with ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message`` and
  ``exception`` when there is one.

libp2p, when imported, sends its loggers nowhere (no handler, no propagation), so Python's
last-resort handler printed its warnings bare, without time or level. Here they propagate to
our handler like every other logger, at WARNING (``LIBP2P_DEBUG`` still turns libp2p's own
debug output on). Their noise is bounded by :class:`ThirdPartyNoise`: failures that are
expected in normal operation (a dial to a peer that is not up yet, on every start) are
demoted to DEBUG, and a third-party message repeated within a minute is shown once, with a
count of the ones held back.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import time
from datetime import UTC, datetime

from tdx.node.errors import NodeError

LEVEL_ENV = "TDX_LOG_LEVEL"
FORMAT_ENV = "TDX_LOG_FORMAT"
LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING,
          "ERROR": logging.ERROR}
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# (logger name prefix, message start) of third-party errors that normal operation causes.
EXPECTED = (
    ("libp2p.transport", "Failed to open TCP stream"),
    ("libp2p.network.swarm", "Failed to establish replacement connection"),
)
REPEAT_WINDOW = 60.0


def log_level() -> int:
    """The level ``TDX_LOG_LEVEL`` names (INFO when unset)."""
    raw = os.environ.get(LEVEL_ENV, "").strip()
    if not raw:
        return logging.INFO
    level = LEVELS.get(raw.upper())
    if level is None:
        raise NodeError(f"{LEVEL_ENV}={raw!r} is not a log level; use one of "
                        f"{', '.join(LEVELS)} (any case)")
    return level


def log_format() -> str:
    """The format ``TDX_LOG_FORMAT`` names: ``text`` (when unset) or ``json``."""
    raw = os.environ.get(FORMAT_ENV, "").strip().lower() or "text"
    if raw not in FORMATS:
        raise NodeError(f"{FORMAT_ENV}={os.environ[FORMAT_ENV]!r} is not a log format; use "
                        "text or json")
    return raw


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(
                     timespec="milliseconds").replace("+00:00", "Z"),
                 "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class ThirdPartyNoise(logging.Filter):
    """Keeps third-party log records in bounds and drops what is below ``level``.

    Records of ``EXPECTED`` failures become DEBUG; a third-party message (same logger and
    template) seen again within ``window`` seconds is held back, and the next one shown
    after the window says how many were.
    """

    def __init__(self, level: int, window: float = REPEAT_WINDOW) -> None:
        super().__init__()
        self.level = level
        self.window = window
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("tdx"):
            return record.levelno >= self.level
        template = str(record.msg)
        if any(record.name.startswith(prefix) and template.startswith(start)
               for prefix, start in EXPECTED):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        if record.levelno < self.level:
            return False
        key = (record.name, template)
        now = time.monotonic()
        shown_at, held = self._seen.get(key, (-self.window, 0))
        if now - shown_at < self.window:
            self._seen[key] = (shown_at, held + 1)
            return False
        self._seen[key] = (now, 0)
        if held:
            record.msg = f"{template} ({held} more like it in the last {self.window:.0f}s)"
        return True


def configure_logging() -> None:
    """Set up the node's logging from the environment (see the module docstring).

    Reads and checks the settings first, so that a bad one fails before anything starts.
    A process whose root logger already has handlers (a test runner) keeps them; the
    third-party loggers are brought under the root logger either way.
    """
    level, style = log_level(), log_format()
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter() if style == "json"
                             else logging.Formatter(TEXT_FORMAT))
        handler.addFilter(ThirdPartyNoise(level))
        root.addHandler(handler)
        root.setLevel(level)
    adopt_third_party_loggers()


def adopt_third_party_loggers() -> None:
    """Let libp2p's loggers propagate to ours, at WARNING unless LIBP2P_DEBUG says more."""
    try:
        # Its import configures its loggers; what is set here must come after.
        importlib.import_module("libp2p")
    except ImportError:
        return
    if os.environ.get("LIBP2P_DEBUG"):
        return
    libp2p = logging.getLogger("libp2p")
    libp2p.handlers.clear()
    libp2p.propagate = True
    libp2p.setLevel(logging.WARNING)


def json_logs() -> bool:
    """Whether logs are JSON lines (then nothing else should print to stderr/stdout)."""
    return os.environ.get(FORMAT_ENV, "").strip().lower() == "json"
