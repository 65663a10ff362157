"""The shape of tdx.node: rooms with one job each, imports that point one way, no circles.

Read with ``ast`` (nothing is imported): imports inside ``if TYPE_CHECKING:`` blocks are
annotations only and are not counted.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"sdk": "tdx.sdk", "node": "tdx.node", "consensus": "tdx.consensus",
            "cli": "tdx.cli", "network": "tdx.network"}
ROOMS = ("state", "replication", "api", "ops")
MAX_LINES = 400
LONGER_ALLOWED = {"consensus/raft.py"}  # one state machine, as etcd's raft.go


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


def _runtime_imports(path: Path, module: str) -> Iterator[str]:
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    skipped = {id(inner) for node in ast.walk(tree)
               if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
               for inner in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base]) if base else ".".join(parts)
            for alias in node.names:
                yield f"{base}.{alias.name}|{base}"


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for target in _runtime_imports(path, name):
            # "from pkg import name" depends on the module pkg.name if there is one, else on
            # pkg itself.
            first, _, fallback = target.partition("|")
            found = first if first in modules else fallback or first
            if found in modules and found != name:
                targets.add(found)
        graph[name] = targets
    return graph


def test_the_state_machine_imports_no_other_room_nor_the_network() -> None:
    for name, targets in _graph().items():
        if not name.startswith("tdx.node.state"):
            continue
        for target in targets:
            assert not target.startswith(("tdx.network", "tdx.cli", "tdx.consensus")), (
                f"{name} imports {target}")
            if target.startswith("tdx.node."):
                assert target.startswith("tdx.node.state") or target == "tdx.node.errors", (
                    f"{name} imports {target}: the state machine imports no other room")


def test_no_import_circle_anywhere_in_tdx() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycle = [*path[path.index(target):], target]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_node_is_rooms_and_every_room_says_what_it_owns() -> None:
    node = ROOT / "node"
    loose = sorted(p.name for p in node.glob("*.py"))
    assert loose == ["__init__.py", "__main__.py", "errors.py", "ratelimit.py", "server.py"]
    for room in ROOMS:
        init = node / room / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and "imports" in doc.lower(), f"{init} must say what it owns and imports"


def test_no_module_over_400_lines() -> None:
    for folder in PACKAGES:
        for path in (ROOT / folder).rglob("*.py"):
            rel = str(path.relative_to(ROOT))
            if "_pb2" in rel or rel in LONGER_ALLOWED:
                continue
            lines = len(path.read_text().splitlines())
            assert lines <= MAX_LINES, f"{rel} has {lines} lines"


STORE_KEY_USERS = {"node/replication/storage.py", "node/ops/repair.py", "node/ops/config.py"}
"""Outside ``state/``, only the Raft log's storage and tooling that opens a store on purpose
may use the key layout."""


def test_storage_keys_stay_behind_the_ledger() -> None:
    """Outside the state room nothing names a store key prefix or reads a ledger's store:
    the other rooms read through ``state.reads.LedgerReads``."""
    for path in (ROOT / "node").rglob("*.py"):
        rel = str(path.relative_to(ROOT))
        if rel.startswith("node/state/") or rel in STORE_KEY_USERS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Name):
                assert node.id != "Prefix", f"{rel}:{node.lineno} uses the store's Prefix"
            elif isinstance(node, ast.alias):
                assert node.name != "Prefix", f"{rel} imports the store's Prefix"
            elif isinstance(node, ast.Attribute) and node.attr == "store":
                owner = ast.unparse(node.value)
                assert "ledger" not in owner.lower(), (
                    f"{rel}:{node.lineno} reads {owner}.store: use the ledger's reads")


def test_block_signatures_are_verified_in_one_place() -> None:
    """Certification is one function (``tdx.sdk.certification``): no other module verifies
    a signature over a block hash."""
    for folder in PACKAGES:
        for path in (ROOT / folder).rglob("*.py"):
            rel = str(path.relative_to(ROOT))
            if rel == "sdk/_blocks.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and "verify" in ast.unparse(node.func) and any(
                        "BLOCK_DOMAIN" in ast.unparse(arg) for arg in node.args):
                    raise AssertionError(f"{rel}:{node.lineno} verifies a block signature: "
                                         "use tdx.sdk.certification")


def test_other_nodes_are_called_through_the_one_client_pool() -> None:
    """Inside a running node, clients of another node's API (and their channels) come from
    ``replication.clients.ClientPool``, one channel per address."""
    for path in (ROOT / "node").rglob("*.py"):
        rel = str(path.relative_to(ROOT))
        if rel == "node/replication/clients.py" or rel.startswith("node/ops/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("AsyncClient"):
                raise AssertionError(f"{rel}:{node.lineno} opens an AsyncClient of its own: "
                                     "take one from the node's ClientPool")


def test_the_driver_is_given_seams_not_concrete_parts() -> None:
    """The Raft driver and its helpers know the ledger as a ``seams.StateMachine`` and the
    peer link as a ``seams.Transport`` (never ``Ledger`` or ``PeerTransport``), and nothing
    in tdx.node reaches into ``RawNode.raft``."""
    graph = _graph()
    for name in ("driver", "certify", "snapshots", "voters"):
        path = ROOT / "node" / "replication" / f"{name}.py"
        tree = ast.parse(path.read_text())
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
            alias.asname or alias.name for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) for alias in n.names}
        concrete = used & {"Ledger", "PeerTransport"}
        assert not concrete, f"{name}.py uses {sorted(concrete)}: take the seams instead"
        assert "tdx.node.replication.transport" not in graph[f"tdx.node.replication.{name}"]
    for path in (ROOT / "node").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "raft":
                owner = ast.unparse(node.value)
                assert not owner.endswith("node"), (
                    f"{path.relative_to(ROOT)}:{node.lineno} reaches into {owner}.raft")


def test_the_api_knows_of_replication_only_how_batches_are_ordered() -> None:
    """The client API imports from the replication room only the forwarded-by marker and
    the ordering seam (``Orderer``, ``OrderingStatus``)."""
    allowed = {"tdx.node.replication.forward", "tdx.node.replication.ordering"}
    for name, targets in _graph().items():
        if name.startswith("tdx.node.api"):
            used = {t for t in targets if t.startswith("tdx.node.replication")}
            assert used <= allowed, f"{name} imports {sorted(used - allowed)}"
