"""The public surface of tdx.sdk: a sorted __all__, importable names, and no node deps."""

from __future__ import annotations

import subprocess
import sys

import tdx.sdk
from tdx.sdk import (
    ApiError,
    DocumentError,
    GenesisError,
    IdentityError,
    ProofError,
    SchemaError,
    SignatureError,
    TdxError,
)
from tdx.sdk._errors import API_ERRORS


def _isort_key(name: str) -> tuple[int, str]:
    """The order of ruff's RUF022 (isort style): CONSTANTS, then Classes, then functions."""
    if name.isupper():
        return 0, name
    if name[0].isupper():
        return 1, name
    return 2, name


def test_all_is_sorted_and_unique() -> None:
    names = list(tdx.sdk.__all__)
    assert names == sorted(names, key=_isort_key)
    assert len(set(names)) == len(names)


def test_every_public_name_is_importable() -> None:
    for name in tdx.sdk.__all__:
        assert getattr(tdx.sdk, name) is not None, name
    namespace: dict[str, object] = {}
    exec("from tdx.sdk import *", namespace)
    assert set(tdx.sdk.__all__) <= set(namespace)


def test_no_public_module_level_name_is_left_out_of_all() -> None:
    """Everything the package imports for users is listed (modules and privates aside)."""
    public = {n for n, v in vars(tdx.sdk).items()
              if not n.startswith("_") and not isinstance(v, type(sys))}
    assert public - set(tdx.sdk.__all__) == set()


def test_error_tree_is_as_documented() -> None:
    for cls in (IdentityError, DocumentError, ProofError, GenesisError, ApiError):
        assert cls.__bases__ == (TdxError,)
    assert SchemaError.__bases__ == (DocumentError,)
    assert SignatureError.__bases__ == (DocumentError,)
    for code, cls in API_ERRORS.items():
        assert cls.__bases__ == (ApiError,)
        assert cls.code == code
        assert cls.__name__ in tdx.sdk.__all__


def test_sdk_never_imports_node_network_or_plyvel() -> None:
    code = ("import tdx.sdk, sys; print(sorted(m for m in sys.modules "
            "if m.startswith(('tdx.node', 'tdx.network', 'plyvel'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"
