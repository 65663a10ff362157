"""The CLI's edges without a node: JSON errors, how failures are named, template --set,
health --wait, shell completion."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from cli_testing import free_port, json_error, run
from tdx.cli._output import failure_from
from tdx.sdk import ResourceExhausted, Unavailable, check_json_document, template


def test_a_usage_mistake_under_json_is_a_json_error_with_exit_2() -> None:
    result = run("doc", "get", "not-an-id", "--json", code=2)
    error = json_error(result)
    assert error["code"] == "USAGE" and "64 hex digits" in error["message"]
    assert result.stdout == ""
    plain = run("doc", "get", "not-an-id", code=2)
    assert "64 hex digits" in plain.stderr and not plain.stderr.startswith("{")


def test_a_failure_under_json_is_a_json_error_with_exit_1() -> None:
    result = run("doc", "verify", "--proof", "/no/such/proof.json", "--genesis",
                 "/no/such/genesis.json", "--json", code=1)
    error = json_error(result)
    assert error["code"] == "FAILED" and "/no/such/genesis.json" in error["message"]


def test_an_unavailable_answer_from_a_live_node_names_its_reason() -> None:
    """A node that answers UNAVAILABLE with a reason is running: say what it said."""
    answered = Unavailable("block 4 is not certified yet (1 of 2 signatures); retry shortly",
                           reason="block.not_certified", retry_after=0.5)
    failure = failure_from(answered, "127.0.0.1:7400")
    assert failure is not None
    text = failure.format_message()
    assert "not certified yet" in text and "block.not_certified" in text
    assert "no node answers" not in text
    assert (failure.code, failure.reason) == ("UNAVAILABLE", "block.not_certified")
    unreachable = failure_from(Unavailable("failed to connect to all addresses"),
                               "127.0.0.1:7400")
    assert unreachable is not None
    assert "no node answers at 127.0.0.1:7400" in unreachable.format_message()
    overloaded = failure_from(ResourceExhausted("too many pending documents",
                                                reason="node.overloaded"))
    assert overloaded is not None and overloaded.reason == "node.overloaded"


def test_template_set_fills_in_fields_by_their_protobuf_types() -> None:
    cert = "12345678" * 8  # all digits: must stay a string
    text = run("doc", "template", "import_declaration", "--set", f"certificate_ids={cert}",
               "--set", "importer.name=Lagos Ltd", "--set", "ucr=4NG-1",
               "--set", "goods_items=[]").stdout
    document = json.loads(text)
    assert document["content"]["certificate_ids"] == [cert]
    assert document["content"]["importer"]["name"] == "Lagos Ltd"
    assert document["ucr"] == "4NG-1" and document["content"]["goods_items"] == []
    events = json.loads(run("doc", "template", "shipment_events", "--set",
                            "max_temperature_c=9").stdout)
    assert events["content"]["max_temperature_c"] == "9"


def test_template_set_refuses_unknown_fields_naming_the_known_ones() -> None:
    err = run("doc", "template", "invoice", "--set", "certificate_idz=x", code=2).stderr
    assert "no field 'certificate_idz'" in err and "certificate_ids" in err
    assert "FIELD=VALUE" in run("doc", "template", "invoice", "--set", "novalue",
                                code=2).stderr
    run("doc", "template", "--list", "--set", "ucr=x", code=2)


@pytest.mark.parametrize("kind", ["invoice", "import_declaration"])
def test_a_document_with_set_fields_still_passes_the_schema(kind: str) -> None:
    document = json.loads(run("doc", "template", kind, "--set", "ucr=4DE-SET-1").stdout)
    assert document["ucr"] == "4DE-SET-1" and document["ucr"] != template(kind)["ucr"]
    assert check_json_document("tdx-test", document) == kind


def test_health_wait_gives_up_after_the_wait() -> None:
    address = f"127.0.0.1:{free_port()}"
    result = run("node", "health", "--node", address, "--wait", "0.5", "--timeout", "0.2",
                 "--json", code=1)
    error = json_error(result)
    assert error["code"] == "UNAVAILABLE" and address in error["message"]


def test_shell_completion_as_documented() -> None:
    env = {**os.environ, "_TDX_COMPLETE": "bash_complete", "COMP_WORDS": "tdx dev",
           "COMP_CWORD": "1"}
    done = subprocess.run([sys.executable, "-m", "tdx.cli.main"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert "devnet" in done.stdout
    source = subprocess.run([sys.executable, "-m", "tdx.cli.main"], capture_output=True,
                            env={**os.environ, "_TDX_COMPLETE": "bash_source"}, text=True,
                            timeout=60, check=False)
    assert "_tdx_completion" in source.stdout
    assert "_TDX_COMPLETE=bash_source tdx" in run("--help").stdout
