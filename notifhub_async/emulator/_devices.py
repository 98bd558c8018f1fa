"""
Devices as sends see them: each installation and registration reduced, once per
write, to ready-made targets and case-folded tags, so that resolving a send costs
one tag test per device and builds nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._atom import Registration
from ._installations import PLATFORM_FORMATS, installation_handle
from ._records import TargetKind
from ._tagexpr import fold_tags

__all__ = [
    "InstallationDevice",
    "Target",
    "TemplateTarget",
    "installation_device",
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
    )
