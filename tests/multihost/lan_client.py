"""A client host on the lab's LAN: asks nodes for their status with the SDK, on request.

Run inside a namespace as ``python lan_client.py GENESIS``; it reads one JSON request a line
on stdin and writes one JSON answer a line on stdout, so a test in the machine's namespace can
poll nodes it cannot reach itself, without starting a Python per question. Every connection
is pinned by the genesis (``Trust.from_genesis``), as the CLI's are. Requests:

- ``{"op": "status", "node": "HOST:PORT"}``: ``{"ok": true, "status": {...}}`` with the
  fields of ``tdx status --json``, or ``{"ok": false, "error": TYPE, "message": ...}``.
- ``{"op": "status", "node": ..., "server_key": HEX}``: the same, but pinned to that key
  instead of the genesis's key for the address.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from tdx.cli.status import status_json
from tdx.sdk import Client, TdxError, Trust

#: Short, so that a node cut off from the LAN costs a poll little; no retries, since the
#: caller polls.
CALL_SECONDS = 2.0


def answer(request: dict[str, Any], trust: Trust) -> dict[str, Any]:
    """The answer to one request (never raises for a node's failure)."""
    if request.get("op") != "status":
        return {"ok": False, "error": "BadRequest", "message": f"unknown op {request!r}"}
    key = request.get("server_key")
    try:
        with Client(str(request["node"]), timeout=CALL_SECONDS, retry=None, trust=trust,
                    server_key=bytes.fromhex(key) if key else None) as client:
            return {"ok": True, "status": status_json(client.status())}
    except TdxError as exc:
        return {"ok": False, "error": type(exc).__name__, "message": str(exc)}


def main() -> None:
    trust = Trust.from_genesis(sys.argv[1])
    for line in sys.stdin:
        print(json.dumps(answer(json.loads(line), trust)), flush=True)


if __name__ == "__main__":
    main()
