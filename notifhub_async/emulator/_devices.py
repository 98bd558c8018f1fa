"""
Devices as sends see them: each installation and registration reduced, once per
write, to ready-made targets and case-folded tags, so that resolving a send costs
one tag test per device and builds nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._atom import Registration
from ._installations import PLATFORM_FORMATS, installation_handle
from ._records import TargetKind
from ._render import template_properties
from ._tagexpr import fold_tags

__all__ = [
    "InstallationDevice",
    "Target",
    "TemplateTarget",
    "installation_device",
    "push_variables",
    "registration_target",
]


@dataclass(frozen=True, slots=True)
class Target:
    """A device a send reaches, before its payload is rendered."""

    kind: TargetKind
    id: str | None
    platform: str
    handle: str
    template_name: str | None = None
    template_body: str | None = None
    # The device's own template values (an installation's pushVariables, a
    # registration's PushVariables), names case-folded.
    push_variables: Mapping[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class TemplateTarget:
    """One template of an installation and the tags template sends match."""

    target: Target
    folded_tags: frozenset[str]


@dataclass(frozen=True, slots=True)
class InstallationDevice:
    """
    An installation, indexed for sends.

    `folded_tags` holds the installation's tags and its system tags
    `$InstallationId:{id}` and `$UserId:{userId}`, case-folded; each template adds
    its own tags to those.
    """

    target: Target
    folded_tags: frozenset[str]
    templates: tuple[TemplateTarget, ...]


def installation_device(installation: Mapping[str, Any]) -> InstallationDevice:
    """Index a stored installation."""
    installation_id = installation["installationId"]
    tags = [*installation.get("tags", []), f"$InstallationId:{{{installation_id}}}"]
    if "userId" in installation:
        tags.append(f"$UserId:{{{installation['userId']}}}")

    folded = fold_tags(tags)
    native = Target(
        kind="installation",
        id=installation_id,
        platform=PLATFORM_FORMATS[installation["platform"]],
        handle=installation_handle(installation),
    )
    templates = tuple(
        TemplateTarget(
            target=Target(
                kind="installation",
                id=installation_id,
                platform=native.platform,
                handle=native.handle,
                template_name=name,
                template_body=template["body"],
                push_variables=push_variables(installation.get("pushVariables")),
            ),
            folded_tags=folded | fold_tags(template.get("tags", [])),
        )
        for name, template in installation.get("templates", {}).items()
    )
    return InstallationDevice(native, folded, templates)


def registration_target(registration: Registration) -> Target:
    """The target a registration is."""
    values = registration.description.values
    template = registration.kind.is_template
    return Target(
        kind="registration",
        id=registration.registration_id,
        platform=registration.kind.platform,
        handle=registration.handle,
        template_name=values.get("TemplateName") if template else None,
        template_body=values.get("BodyTemplate") if template else None,
        push_variables=push_variables(values.get("PushVariables")) if template else {},
    )


def push_variables(value: object) -> dict[str, str]:
    """
    A device's push variables as template properties.

    An installation holds a JSON object, a registration a JSON object in a string
    (wire spec: `PushVariables`, e.g. `{"var1":"value1"}`). Anything else, such as
    a registration whose string is not JSON, gives none: the emulator stores what
    it was sent and does not refuse a device for it.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}

    if not isinstance(value, Mapping):
        return {}

    return template_properties(value)
