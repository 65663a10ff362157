"""Who may speak PeerService: a validator governance removed stays admitted while Raft
still counts it, so the leader keeps a quorum to commit its removal."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from node_factories import signer
from sdk_factories import make_genesis, member_record
from tdx.consensus import HardState, bootstrap_entries
from tdx.node.replication.clients import ClientPool
from tdx.node.replication.driver import RaftDriver
from tdx.node.replication.storage import RaftStore
from tdx.node.state.ledger import Ledger
from tdx.node.state.store import Prefix, Store
from tdx.node.state.workflows import EFFECTS


class QuietTransport:
    def attach(self, inbox: Any) -> None:
        pass

    def send(self, messages: list[Any]) -> None:
        pass

    async def close(self) -> None:
        return None


def test_a_removed_validator_is_admitted_until_raft_removes_it(tmp_path: Path) -> None:
    genesis = make_genesis()
    store = Store(tmp_path / "ledger", create=True)
    Ledger.initialize(store, genesis)
    voters = [m.id for m in genesis.members if m.validator]
    founding = bootstrap_entries(voters)
    RaftStore(store).save(founding, HardState(term=1, commit=len(founding)), None)
    ledger = Ledger(store, EFFECTS)

    async def main() -> None:
        with ThreadPoolExecutor(max_workers=1) as executor:
            driver = RaftDriver(member_id="de-customs", store=store, ledger=ledger,
                                raft=RaftStore(store),
                                transport=QuietTransport(),  # type: ignore[arg-type]
                                sign=signer(), on_applied=lambda _: None, executor=executor,
                                clients=ClientPool())
            # Raft's configuration comes from the founding entries once they are applied.
            driver.start()
            try:
                for _ in range(100):
                    if set(driver.node.conf_state().voters) == set(voters):
                        break
                    await asyncio.sleep(0.01)
                assert {v.id for v in driver.peer_validators()} == set(voters)
                # Governance makes fr-customs a plain member: the ledger no longer lists it
                # as a validator, but Raft has not removed it yet.
                demoted = member_record("fr-customs")
                demoted.validator = False
                store.write({Prefix.MEMBER + b"fr-customs": demoted.SerializeToString()})
                ledger.reload_members()
                assert "fr-customs" not in {v.id for v in ledger.validators}
                assert "fr-customs" in {v.id for v in driver.peer_validators()}
                # A validator recorded at `init --join --from` that this ledger does not know
                # yet is admitted too, until the ledger learns of it.
                newcomer = member_record("watcher")
                newcomer.id, newcomer.validator = "pl-customs", True
                driver.voters.pinned = [newcomer]
                assert "pl-customs" in {v.id for v in driver.peer_validators()}
            finally:
                await driver.stop()

    asyncio.run(main())
    store.close()
