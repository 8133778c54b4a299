"""Every public endpoint documents itself: meaningful parameter names and a description that view_api() shows
(the same text becomes the MCP tool's description)."""

from __future__ import annotations

import re

import pytest


@pytest.fixture(scope="module")
def endpoints(client) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return client.view_api(return_format="dict", print_info=False)["named_endpoints"]


def test_every_public_endpoint_has_a_description(endpoints) -> None:  # type: ignore[no-untyped-def]
    undocumented = sorted(name for name, spec in endpoints.items() if not (spec.get("description") or "").strip())
    assert undocumented == []


def test_every_parameter_has_a_meaningful_name(endpoints) -> None:  # type: ignore[no-untyped-def]
    vague = sorted(f"{name}:{p['parameter_name']}" for name, spec in endpoints.items() for p in spec["parameters"]
                   if not p["parameter_name"] or re.fullmatch(r"param_\d+|[a-z]", p["parameter_name"]))
    assert vague == []


def test_explain_run_needs_only_an_image_and_a_model(endpoints) -> None:  # type: ignore[no-untyped-def]
    required = [p["parameter_name"] for p in endpoints["/explain_run"]["parameters"] if not p["parameter_has_default"]]
    assert required == ["path"] and endpoints["/explain_run"]["parameters"][1]["parameter_name"] == "model_name"
