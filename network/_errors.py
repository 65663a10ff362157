"""The errors the mesh raises, in one tree.

::

    TdxError                  (tdx.sdk) every error tdx raises
    └── MeshError             every error the mesh raises
        ├── MeshClosed        the mesh is not running: not started, stopped, or its thread failed
        ├── PeerUnavailable   no open connection to that member
        └── FetchFailed       a block fetch failed (``.reason`` says why)

Arguments that are wrong whatever the network does (an unknown topic, a message over its
topic's limit, an empty height range, a key that is not 32 bytes) raise ``ValueError``.
"""

from __future__ import annotations

from tdx.sdk import TdxError


class MeshError(TdxError):
    """Base of every error the mesh raises."""


class MeshClosed(MeshError):
    """The mesh is not running: it was not started, it was stopped, or its thread failed."""


class PeerUnavailable(MeshError):
    """There is no open connection to the member asked for."""


class FetchFailed(MeshError):
    """A block fetch failed.

    ``reason`` is one of ``"timeout"``, ``"busy"`` (the peer serves as many of our requests
    as it allows), ``"unavailable"`` (the peer does not serve blocks or could not read them),
    ``"too_large"`` (the first block alone exceeds the byte budget), ``"invalid_range"`` and
    ``"protocol"`` (the stream failed or the answer broke the protocol or our limits).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
