"""Governance: customs members vote a new member in, reject another, and remove one.

Starts its own one-validator network (three customs administrations, one trader), then:
a proposal to admit Nigeria Customs passes with 2 of 3 customs approvals and takes effect
in the block of the deciding vote; a double vote and a trader's vote are refused; a second
proposal is rejected by a majority; and the trader is removed. Run: python examples/governance.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _solo_network import NETWORK, solo_network
from tdx.sdk import (
    ApiError,
    Client,
    Identity,
    body_from_json,
    member_record,
    propose_add_member,
    propose_remove_member,
    seal,
    template,
    vote,
)
from tdx.v1 import governance_state_pb2 as gov_pb

MEMBERS = {"customs-de": ["customs"], "customs-nl": ["customs"], "customs-fr": ["customs"],
           "trader-a": ["trader"]}


def main() -> int:
    with solo_network(MEMBERS, validator="customs-de") as net, Client(net.address) as node:
        de, nl, fr = (net.members[m] for m in ("customs-de", "customs-nl", "customs-fr"))
        trader = net.members["trader-a"]

        def step(title: str, who: Identity, body: object) -> str:
            try:
                receipt = node.submit(seal(who, body))  # type: ignore[arg-type]
            except ApiError as exc:
                print(f"- {title}: refused ({exc.code}: {exc.message})")
                return ""
            notes = "; ".join(receipt.result.notices)
            print(f"- {title}: block {receipt.height}, {notes or 'accepted'}")
            return receipt.document_id

        ng = Identity.generate("customs-ng")
        record = member_record("customs-ng", "Nigeria Customs Service", "NG", ["customs"],
                               ng.public_key)
        print("1. customs-de proposes to admit customs-ng")
        proposal = step("proposal", de, propose_add_member(NETWORK, record,
                                                           rationale="MRA signed"))
        step("customs-de approves", de, vote(NETWORK, proposal, True))
        step("customs-de votes again", de, vote(NETWORK, proposal, True))
        step("trader-a votes", trader, vote(NETWORK, proposal, True))
        step("customs-nl approves (the deciding vote)", nl, vote(NETWORK, proposal, True))
        state = node.get_proposal(proposal).proposal
        print(f"   proposal is {gov_pb.ProposalStatus.Name(state.status)}, decided in "
              f"block {state.decided_height}")
        print("   members now:", ", ".join(m.id for m in node.list_members()))
        print("2. customs-ng (its key signs from the block after its admission) proposes to "
              "remove trader-a; two customs reject it")
        removal = step("proposal", ng, propose_remove_member(NETWORK, "trader-a"))
        step("customs-fr rejects", fr, vote(NETWORK, removal, False))
        step("customs-nl rejects", nl, vote(NETWORK, removal, False))
        step("customs-de approves too late", de, vote(NETWORK, removal, True))

        print("3. a new proposal to remove trader-a passes (3 of 4 customs needed)")
        removal = step("proposal", de, propose_remove_member(NETWORK, "trader-a",
                                                             rationale="Licence withdrawn"))
        for voter in (de, nl, ng):
            step(f"{voter.member_id} approves", voter, vote(NETWORK, removal, True))
        step("trader-a tries to submit an invoice", trader,
             body_from_json(NETWORK, template("invoice")))
        print("   members now:", ", ".join(m.id for m in node.list_members()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
