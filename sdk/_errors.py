"""The errors that tdx raises, in one tree.

::

    TdxError                     every error tdx raises
    ├── IdentityError            a key file that cannot be read, written or decrypted
    ├── DocumentError            a document that is not well formed
    │   ├── SchemaError          a field breaks its kind's schema (``.field`` names it)
    │   └── SignatureError       an envelope whose signature or key does not verify
    ├── ProofError               a proof that does not check against the genesis
    ├── GenesisError             a genesis file that is missing, malformed or inconsistent
    ├── TlsError                 a node's TLS certificate is not the pinned member's
    └── ApiError                 the node answered with an error (``.code`` is the gRPC code name)
        ├── InvalidArgument      malformed input, bad signature, schema breach
        ├── PermissionDenied     unknown signer or a role that may not submit the kind
        ├── AlreadyExists        a replayed document (``.receipt`` is the original receipt)
        ├── NotFound             no such document or block
        ├── ResourceExhausted    too large, or the node is overloaded (retry later)
        ├── Unavailable          the node cannot be reached or is not ready (retry later)
        ├── DeadlineExceeded     no answer in time
        └── Rejected             ordered, but the ledger's rules rejected it (``.receipt``)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tdx.v1 import ledger_pb2


class TdxError(Exception):
    """Base of every error tdx raises."""


class IdentityError(TdxError):
    """A key file could not be created, read or decrypted."""


class DocumentError(TdxError):
    """A document is not well formed."""


class SchemaError(DocumentError):
    """A document field breaks its kind's schema; ``field`` is its dotted path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class SignatureError(DocumentError):
    """An envelope's signature, or its signer key, does not verify."""


class ProofError(TdxError):
    """A proof does not check against the genesis."""


class GenesisError(TdxError):
    """A genesis file is missing, malformed or inconsistent."""


class TlsError(TdxError):
    """A node's TLS certificate does not prove the member key it was pinned to, or a TLS
    connection cannot be set up as asked (no pin for an address that is not loopback)."""


class ApiError(TdxError):
    """The node answered a call with an error; ``code`` is the gRPC status code name.

    ``reason`` is the node's reason code (for example ``role.forbidden``) when it gave one,
    and ``retry_after`` the seconds it asks a client to wait before retrying, if any.
    """

    code = "UNKNOWN"

    def __init__(self, message: str, *, receipt: ledger_pb2.Receipt | None = None,
                 reason: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.receipt = receipt
        self.reason = reason
        self.retry_after = retry_after


class InvalidArgument(ApiError):
    """The node refused malformed input, a bad signature or a schema breach."""

    code = "INVALID_ARGUMENT"


class PermissionDenied(ApiError):
    """The signer is not a member, or its roles may not submit this kind."""

    code = "PERMISSION_DENIED"


class AlreadyExists(ApiError):
    """The document was submitted before; ``receipt`` is the original receipt."""

    code = "ALREADY_EXISTS"


class NotFound(ApiError):
    """No such document or block."""

    code = "NOT_FOUND"


class ResourceExhausted(ApiError):
    """The message is too large, or the node is overloaded: retry later."""

    code = "RESOURCE_EXHAUSTED"


class Unavailable(ApiError):
    """The node cannot be reached or is not ready: retry later."""

    code = "UNAVAILABLE"


class DeadlineExceeded(ApiError):
    """The node did not answer in time."""

    code = "DEADLINE_EXCEEDED"


class Rejected(ApiError):
    """The document was ordered into a block, but the ledger's rules rejected it."""

    code = "REJECTED"


API_ERRORS: dict[str, type[ApiError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        PermissionDenied,
        AlreadyExists,
        NotFound,
        ResourceExhausted,
        Unavailable,
        DeadlineExceeded,
        Rejected,
    )
}


def api_error(code: str, message: str, receipt: ledger_pb2.Receipt | None = None) -> ApiError:
    """Return the ApiError subclass instance for a gRPC status code name."""
    cls = API_ERRORS.get(code, ApiError)
    err = cls(message, receipt=receipt)
    if cls is ApiError:
        err.code = code
    return err
