"""The distributed-mode test starts a whole stack (about a minute of two cores), so it runs in its own step:
`make test-distributed` (which `make test` calls last). A plain `pytest` over the whole tree skips it; naming
`tests/distributed` on the command line, or TRIPLE_DISTRIBUTED=1, runs it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _named_explicitly(config: pytest.Config) -> bool:
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return False
    for arg in config.args:
        path = Path(arg.split("::", 1)[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("TRIPLE_DISTRIBUTED") == "1" or _named_explicitly(config):
        return
    skip = pytest.mark.skip(reason="distributed-mode stack test runs in its own step: make test-distributed")
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)
