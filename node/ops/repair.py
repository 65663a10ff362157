"""``tdx node repair``: set a diverged ledger aside and re-sync it from certified peers.

A validator whose ledger disagrees with the certified chain (``divergence.py``) cannot roll
its state back block by block, so the repair starts its ledger again from the genesis and
lets the node catch up from the others when it starts: entries from the leader (checked by
the election proof) or a snapshot whose blocks must be certified. The old ledger is kept
beside the new one as evidence. The Raft term and vote are carried over, so the node never
votes twice in a term it already voted in.

Run it only on a stopped node, and only while the other validators hold the certified chain.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from tdx.consensus import HardState, bootstrap_entries
from tdx.node.ops.config import _current_validators, _write_json, load_config, open_genesis, paths
from tdx.node.replication.divergence import KEY as DIVERGED_KEY
from tdx.node.replication.storage import RaftStore
from tdx.node.state.ledger import Ledger
from tdx.node.state.store import Store


def repair_node(data_dir: Path, join_from: str = "") -> dict[str, Any]:
    """Set ``data_dir``'s ledger aside and start a fresh one from the genesis.

    Raises NodeError when the folder is not a node's or the node is running (its ledger is
    locked). With ``join_from`` (a running node the operator trusts) the validators in force
    now are recorded, as ``tdx node init --join --from`` does. Returns what was done.
    """
    config = load_config(data_dir)
    genesis = open_genesis(data_dir, config)
    files = paths(data_dir)
    store = Store(files["ledger"])
    try:
        hard = RaftStore(store).hard_state
        raw = store.get(DIVERGED_KEY)
        diverged = json.loads(raw) if raw is not None else None
    finally:
        store.close()
    pinned = _current_validators(join_from, genesis, config.tls) if join_from else []
    aside = files["ledger"].with_name(
        f"ledger.diverged-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    files["ledger"].rename(aside)
    store = Store(files["ledger"], create=True)
    try:
        Ledger.initialize(store, genesis)
        founders = [m.id for m in genesis.members if m.validator]
        entries = bootstrap_entries(founders) if config.member_id in founders else []
        RaftStore(store).save(entries, HardState(term=hard.term, vote=hard.vote,
                                                 commit=len(entries)), None)
    finally:
        store.close()
    if pinned:
        _write_json(files["pinned"], [json_format.MessageToDict(v) for v in pinned])
    return {"data_dir": str(data_dir), "member_id": config.member_id,
            "set_aside": str(aside), "diverged": diverged, "term": hard.term,
            "network": config.network,
            "next": f"tdx node start --data {data_dir}"}
