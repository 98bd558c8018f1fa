"""
A small push backend: devices register through it, and it notifies a user's devices.

    POST /devices        {"installation_id": "phone-1", "platform": "apns",
                          "push_channel": "<device token>", "user_id": "alice",
                          "tags": ["news"]}
    POST /notify/{user}  {"message": "Your order has shipped"}

Every device is registered with one template, "alert", that puts `$(message)` where
its platform expects the text, so notifying a user is a single template send to
`$UserId:{user}` (braces included) whatever phones the user has.

Run it against a hub (or the emulator) with

    export NH_CONNECTION_STRING='Endpoint=...' NH_HUB_NAME=myhub
    uvicorn examples.backend.app:app

Its test, test_app.py, runs it against the emulator with the pytest plugin.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from notifhub_async import (
    AsyncNotificationHub,
    Installation,
    InstallationTemplate,
    NotificationHubError,
)

# What each platform's push service expects, with the message filled in by the hub.
ALERT_TEMPLATES = {
    "apns": '{"aps": {"alert": "$(message)"}}',
    "fcmv1": '{"message": {"notification": {"body": "$(message)"}}}',
}


def create_app(hub: AsyncNotificationHub | None = None) -> Starlette:
    """
    Build the backend around `hub`.

    Without a hub, one is opened at startup from the NH_CONNECTION_STRING and
    NH_HUB_NAME environment variables, and closed at shutdown.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if hub is not None:
            app.state.hub = hub
            yield
            return

        async with AsyncNotificationHub(
            os.environ["NH_CONNECTION_STRING"], os.environ.get("NH_HUB_NAME")
        ) as own_hub:
            app.state.hub = own_hub
            yield

    app = Starlette(
        routes=[
            Route("/devices", register_device, methods=["POST"]),
            Route("/notify/{user}", notify_user, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    if hub is not None:
        # Also usable without a lifespan, as under httpx.ASGITransport.
        app.state.hub = hub

    return app


async def register_device(request: Request) -> JSONResponse:
    """Create or replace the device's installation, with the alert template."""
    document = await _json_object(request)
    platform = document.get("platform")
    if platform not in ALERT_TEMPLATES:
        return JSONResponse({"error": "platform must be apns or fcmv1"}, 400)

    try:
        installation = Installation(
            installation_id=document["installation_id"],
            platform=platform,
            push_channel=document["push_channel"],
            user_id=document.get("user_id"),
            tags=tuple(document.get("tags", ())),
            templates={"alert": InstallationTemplate(body=ALERT_TEMPLATES[platform])},
        )
    except (KeyError, ValueError) as exc:
        # The library checks ids, tags and handles before anything is sent.
        return JSONResponse({"error": f"invalid device: {exc}"}, 400)

    hub: AsyncNotificationHub = request.app.state.hub
    try:
        await hub.create_or_update_installation(installation)
    except NotificationHubError as exc:
        return JSONResponse({"error": f"registration failed: {exc}"}, 502)

    return JSONResponse({"installation_id": installation.installation_id}, 201)


async def notify_user(request: Request) -> JSONResponse:
    """Send the message to every device of the user."""
    user = request.path_params["user"]
    message = (await _json_object(request)).get("message")
    if not isinstance(message, str) or not message:
        return JSONResponse({"error": "message must be a non-empty string"}, 400)

    hub: AsyncNotificationHub = request.app.state.hub
    try:
        # The hub's system tag for the installations with this userId.
        result = await hub.send_template_notification(
            {"message": message}, f"$UserId:{{{user}}}"
        )
    except ValueError as exc:
        # Checked by the library before sending: a user id no tag can hold.
        return JSONResponse({"error": f"invalid user: {exc}"}, 400)
    except NotificationHubError as exc:
        return JSONResponse({"error": f"notification failed: {exc}"}, 502)

    return JSONResponse({"notification_id": result.notification_id}, 202)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        document = await request.json()
    except ValueError:
        document = None

    # Anything but an object reads as an empty one, which the handlers refuse.
    return document if isinstance(document, dict) else {}


app = create_app()
