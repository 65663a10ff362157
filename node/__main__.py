"""``python -m tdx.node DATA_DIR``: run a node without the CLI (used by process launchers)."""

from __future__ import annotations

import sys
from pathlib import Path

from tdx.node.errors import NodeError
from tdx.node.server import start_node


def main(argv: list[str]) -> int:
    """Run the node in DATA_DIR; print a one-line reason and return 1 on failure."""
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: python -m tdx.node DATA_DIR", file=sys.stderr)
        return 2
    try:
        start_node(Path(argv[0]))
    except NodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
