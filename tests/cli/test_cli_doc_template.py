"""``tdx doc template``: every template is a document that ``doc submit`` accepts."""

from __future__ import annotations

import json

import pytest
from cli_testing import Invoke, as_json
from tdx.sdk import KINDS, check_json_document, template_kinds


@pytest.mark.parametrize("kind", template_kinds())
def test_every_template_passes_the_schema(invoke: Invoke, kind: str) -> None:
    document = json.loads(invoke("doc", "template", kind).stdout)
    assert document["kind"] == kind
    assert check_json_document("tdx-test", document) == kind
    assert check_json_document("tdx-test", document, kind) == kind
    assert as_json(invoke("doc", "template", kind, "--json"))["kind"] == kind


def test_list_names_every_template_with_its_summary(invoke: Invoke) -> None:
    summaries = {k.name: k.summary for k in KINDS}
    listed = as_json(invoke("doc", "template", "--list", "--json"))
    assert [row["kind"] for row in listed] == template_kinds()
    assert all(row["summary"] == summaries[row["kind"]] for row in listed)
    human = invoke("doc", "template", "--list").stdout
    for kind in template_kinds():
        assert kind in human
    assert summaries["invoice"] in human


def test_unknown_kind_and_missing_arguments_are_usage_errors(invoke: Invoke) -> None:
    assert "confidential" not in template_kinds()
    assert "invoice" in invoke("doc", "template", "nonsense", code=2).stderr
    assert "--list" in invoke("doc", "template", code=2).stderr
    invoke("doc", "template", "invoice", "--list", code=2)
