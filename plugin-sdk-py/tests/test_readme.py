"""The README's plugin and its django-cfg "after" run as written."""

import json
import re
from pathlib import Path

import pytest

from plughost_sdk import Conn, RpcError, _plugin

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def run(block, method):
    exec(compile(block, "README.md", "exec"), {"__name__": "readme_plugin"})
    return json.loads(_plugin.run_method(Conn(), method, b'{"session_id":"s","data":"d"}'))


def test_the_complete_plugin_is_under_20_lines(host):
    assert len(BLOCKS[0].strip().splitlines()) < 20
    assert run(BLOCKS[0], "pyecho.echo") == {"session_id": "s", "data": "d", "echoed": True}


def test_the_django_cfg_after_block_matches_the_example(host):
    after = next(b for b in BLOCKS if "from plughost_sdk" in b and "EchoReply" in b)
    assert run(after, "pyecho.echo") == {"session_id": "s", "data": "d", "echoed": True}
    example = (Path(__file__).resolve().parents[2] / "plugins" / "pyecho" / "app.py").read_text()
    assert after.strip() in example


def test_the_http_example_runs_against_the_fake_host(host):
    block = next(b for b in BLOCKS if "http.get" in b)
    exec(compile(block, "README.md", "exec"), {"__name__": "readme_http_plugin"})
    host.serve("http://127.0.0.1:8000/users/42", body='{"id": "42", "name": "Ann"}')
    reply = _plugin.run_method(Conn(user="42"), "pyprofile.get", b"")
    assert json.loads(reply) == {"id": "42", "name": "Ann"}
    assert host.requests[0].timeouts == (2_000_000_000,) * 3
    # A user id is one path segment, whatever it holds; unknown there is the plugin's 1404.
    with pytest.raises(RpcError) as e:
        _plugin.run_method(Conn(user="../admin?x"), "pyprofile.get", b"")
    assert e.value.code == 1404
    assert host.requests[1].url == "http://127.0.0.1:8000/users/..%2Fadmin%3Fx"
