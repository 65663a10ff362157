"""One client pool per node: one gRPC channel per address for calls to other nodes' API.

Everything in this node that calls another node's LedgerService takes its client from one
``ClientPool``: forwarding a batch to the leader (``forward``), fetching certified blocks for
a snapshot install or a signature repair (``snapshots.CertifiedBlocks``), and an observer
following the validators (``follower``). So each address costs one HTTP/2 connection, kept
open between calls, whoever calls it and with whatever deadline or call metadata; the
composition root makes the pool and closes it once, after everything that uses it stopped.

The clients a pool hands out share its channels: close the pool (``aclose``), never one of
its clients.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import grpc.aio
from tdx.sdk import AsyncClient
from tdx.sdk._client import CHANNEL_OPTIONS

Connect = Callable[[str], grpc.aio.Channel]
"""Opens the channel to one address (the pool calls it once per address)."""


def insecure_channel(address: str) -> grpc.aio.Channel:
    """A plaintext channel with the SDK's options (what ``AsyncClient`` opens by itself)."""
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)


class ClientPool:
    """Clients of other nodes' LedgerService over one channel per address.

    ``connect`` opens a channel (plaintext by default); it is called on the event loop the
    clients are used on. After ``aclose``, asking for a client raises RuntimeError.
    """

    def __init__(self, connect: Connect = insecure_channel) -> None:
        self._connect = connect
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._clients: dict[tuple[str, float, tuple[tuple[str, str], ...]], AsyncClient] = {}
        self._closed = False

    def client(self, address: str, *, timeout: float,
               metadata: Sequence[tuple[str, str]] = ()) -> AsyncClient:
        """A client of the node at ``address`` (HOST:PORT) whose calls have ``timeout``
        seconds (retries included) and carry ``metadata``."""
        if self._closed:
            raise RuntimeError("the client pool is closed")
        key = (address, timeout, tuple(metadata))
        client = self._clients.get(key)
        if client is None:
            channel = self._channels.get(address)
            if channel is None:
                channel = self._channels[address] = self._connect(address)
            client = self._clients[key] = AsyncClient(address, timeout=timeout,
                                                      channel=channel, metadata=metadata)
        return client

    @property
    def addresses(self) -> list[str]:
        """The addresses this pool holds a channel to."""
        return sorted(self._channels)

    async def aclose(self) -> None:
        """Close every channel, once; the pool hands out no client after this."""
        self._closed = True
        channels, self._channels = self._channels, {}
        self._clients.clear()
        for channel in channels.values():
            await channel.close()
