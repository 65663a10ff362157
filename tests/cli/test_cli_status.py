"""``tdx status`` without a node: the address option and the unreachable-node failure.

The answers of a live node are checked in test_doc_live.py.
"""

from __future__ import annotations

from cli_testing import free_port, json_error, run


def test_no_node_is_one_line_naming_the_address() -> None:
    address = f"127.0.0.1:{free_port()}"
    result = run("status", "--node", address, code=1)
    assert f"no node answers at {address}" in result.stderr
    as_json = run("status", "--node", address, "--json", code=1)
    assert as_json.stdout == ""
    error = json_error(as_json)
    assert error["code"] == "UNAVAILABLE" and f"no node answers at {address}" in error["message"]


def test_the_node_address_comes_from_tdx_node() -> None:
    address = f"127.0.0.1:{free_port()}"
    result = run("status", code=1, env={"TDX_NODE": address})
    assert address in result.stderr


def test_a_malformed_address_is_a_usage_error() -> None:
    for bad in ("nohost", "host:port", "127.0.0.1:0", "127.0.0.1:70000", ":7400"):
        assert "HOST:PORT" in run("status", "--node", bad, code=2).stderr
    run("status", "--node", f"[::1]:{free_port()}", code=1)


def test_a_url_is_refused_before_anything_connects() -> None:
    err = run("status", "--node", "http://127.0.0.1:7400", code=2).stderr
    assert "without a scheme" in err and "127.0.0.1:7400" in err
    assert "Misformatted" not in err
    usage = run("doc", "get", "ab" * 32, "--node", "https://node.example:7400/x", "--json",
                code=2)
    error = json_error(usage)
    assert error["code"] == "USAGE" and "node.example:7400" in error["message"]
