"""The README's quickstart runs as written, against the hub's own pool under respx."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from tests.conftest import CONNECTION_STRING, HUB_URL

pytestmark = pytest.mark.asyncio

README = Path(__file__).resolve().parents[1] / "README.md"


def quickstart() -> str:
    """The first Python block under `## Quickstart`."""
    section = README.read_text("utf-8").split("## Quickstart", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "README.md has no Python block under ## Quickstart"
    return match.group(1)


async def test_the_quickstart_runs_as_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The snippet awaits at top level, as in an async function of the reader's:
    # it runs inside one here, with `connection_string` defined for it.
    source = "async def snippet(connection_string):\n" + textwrap.indent(
        quickstart(), "    "
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, str(README), "exec"), namespace)

    location = f"{HUB_URL}/messages/4711?api-version=2020-06"
    async with respx.mock(assert_all_called=True) as router:
        route = router.post(f"{HUB_URL}/messages/").mock(
            return_value=httpx.Response(
                201, headers={"Location": location, "TrackingId": "t-1"}
            )
        )
        await namespace["snippet"](CONNECTION_STRING)

    request = route.calls.last.request
    assert request.headers["ServiceBusNotification-Format"] == "apple"
    assert request.headers["ServiceBusNotification-Tags"] == "sports"
    assert request.content == b'{"aps":{"alert":"Hello!"}}'
    assert capsys.readouterr().out == "4711 t-1\n"
