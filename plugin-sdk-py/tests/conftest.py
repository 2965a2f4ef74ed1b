import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import fake_host  # noqa: E402


@pytest.fixture
def host():
    from plughost_sdk import _plugin
    _plugin.reset()
    h = fake_host.install()
    yield h
    _plugin.reset()
