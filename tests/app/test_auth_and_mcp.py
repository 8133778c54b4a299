"""A shared deployment: with --auth the annotator is the logged-in user; --mcp serves the endpoints as tools."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
from gradio_client import Client

from engine.annotations import default_store
from tests.conftest import free_port

USERS = [("alice", "wonderland-1"), ("bob", "builder-22")]


@pytest.fixture(scope="module")
def secured_url() -> Iterator[str]:
    import app

    demo = app.build_app()
    demo.queue().launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                        auth=USERS)
    yield demo.local_url
    demo.close()


@pytest.fixture(scope="module")
def mcp_url() -> Iterator[str]:
    import app

    demo = app.build_app()
    app.name_tools_after_endpoints(demo)
    demo.queue().launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                        mcp_server=True)
    yield demo.local_url
    demo.close()


def test_a_login_is_required(secured_url: str) -> None:
    with pytest.raises(Exception):
        Client(secured_url, verbose=False, auth=("alice", "wrong"))


def test_decisions_are_the_logged_in_users_and_undo_only_touches_their_own(secured_url: str) -> None:
    alice = Client(secured_url, verbose=False, auth=USERS[0])
    bob = Client(secured_url, verbose=False, auth=USERS[1])
    try:
        for client in (alice, bob):
            *_, token = client.predict(api_name="/similarity_next")
            client.predict(token, "somebody else", api_name="/similarity_judge_left")  # the typed name is ignored
        latest = default_store().annotations("similarity-2afc", newest_first=True, limit=2)
        assert {a.annotator for a in latest} == {"alice", "bob"}
        *_, status, _ = bob.predict("alice", api_name="/similarity_undo")  # typed "alice": still bob's undo
        assert "Undid" in status
        after = {a.annotator: a.undone for a in default_store().annotations(
            "similarity-2afc", include_undone=True, newest_first=True, limit=2)}
        assert after == {"alice": False, "bob": True}
    finally:
        alice.close()
        bob.close()


def test_mcp_and_auth_together_are_refused() -> None:
    import app

    with pytest.raises(SystemExit):
        app.parse_args(["--mcp", "--auth", "alice:wonderland-1"])


def test_mcp_lists_the_public_endpoints_as_tools_named_after_them(mcp_url: str) -> None:
    schema = json.loads(urllib.request.urlopen(mcp_url + "gradio_api/mcp/schema").read())
    tools = {tool["name"]: tool for tool in schema}
    assert {"explain_run", "similarity_compare", "intent_predict", "annotations_export", "jobs_list"} <= set(tools)
    client = Client(mcp_url, verbose=False)
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    client.close()
    assert set(tools) == {name.lstrip("/") for name in endpoints}  # one tool per endpoint, named after it
    assert "format" in tools["annotations_export"]["inputSchema"]["properties"]
    assert tools["annotations_export"]["description"]
