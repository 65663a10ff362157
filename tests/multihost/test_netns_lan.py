"""The namespace lab itself: hosts reach each other on the bridge and nothing else, a cut host
is unreachable until healed (a host cut from one port cannot reach that port), and closing
leaves no process, namespace or table behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from netns import CUT_TABLE, Lan

pytestmark = pytest.mark.netns

PORT = 7999
ECHO = (
    "import socket, sys\n"
    "server = socket.create_server((sys.argv[1], int(sys.argv[2])))\n"
    "print('listening', flush=True)\n"
    "while True:\n"
    "    conn, _ = server.accept()\n"
    "    conn.sendall(b'hello')\n"
    "    conn.close()\n"
)
DIAL = (
    "import socket, sys\n"
    "try:\n"
    "    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5) as s:\n"
    "        print(s.recv(5).decode())\n"
    "except OSError as exc:\n"
    "    print(type(exc).__name__)\n"
)


def _dial(lan: Lan, index: int, address: str) -> str:
    done = lan.run(lan.hosts[index], sys.executable, "-c", DIAL, address, str(PORT))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_hosts_talk_on_the_bridge_until_cut_and_close_leaves_nothing(tmp_path: Path,
                                                                     lan: Lan) -> None:
    server = lan.hosts[0]
    echo = lan.spawn(server, sys.executable, "-c", ECHO, server.address, str(PORT),
                     log_name="echo.log", pipe=True)
    assert echo.stdout is not None and echo.stdout.readline() == b"listening\n"

    assert _dial(lan, 1, server.address) == "hello"
    assert _dial(lan, 2, server.address) == "hello"
    # Each host has only the lab's subnet: the machine's loopback is not the server's.
    assert _dial(lan, 1, "127.0.0.1") == "ConnectionRefusedError"

    lan.cut(server)
    assert CUT_TABLE in lan.tables(server)
    assert _dial(lan, 1, server.address) == "TimeoutError"
    lan.heal(server)
    assert CUT_TABLE not in lan.tables(server)
    assert _dial(lan, 1, server.address) == "hello"
    # A host cut off from one port only: it cannot open connections there, others can.
    lan.cut(lan.hosts[1], ports=[PORT])
    assert _dial(lan, 1, server.address) == "TimeoutError"
    assert _dial(lan, 2, server.address) == "hello"
    lan.heal(lan.hosts[1])
    assert _dial(lan, 1, server.address) == "hello"

    namespaces = [lan.lan.namespace, *(host.namespace for host in lan.hosts)]
    assert lan.close() == []
    assert echo.poll() is not None, "the echo server outlived the lab"
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                            check=True).stdout
    assert not [name for name in namespaces if name in listed], listed
