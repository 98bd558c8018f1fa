"""
Which devices a send reaches.

A native send reaches the installations whose platform takes that format and the
native registrations of that platform; a template send reaches every template of
every installation and every template registration. Either way the tag expression,
if any, must match the device's tags. An installation also carries the system tags
`$InstallationId:{id}` and `$UserId:{userId}`; for a template send, the template's
own tags count too (see `_devices`).
"""

from __future__ import annotations

from ._devices import Target
from ._store import HubStore
from ._tagexpr import TagExpression

__all__ = ["resolve_targets"]


def resolve_targets(
    store: HubStore, notification_format: str, expression: TagExpression | None
) -> list[Target]:
    """Every device of the hub that a send of this format and expression reaches."""

    def selects(tags: frozenset[str]) -> bool:
        return expression is None or expression.selects(tags)

    template = notification_format == "template"
    targets: list[Target] = []
    for device in store.devices():
        if template:
            targets.extend(
                each.target for each in device.templates if selects(each.folded_tags)
            )
        elif device.target.platform == notification_format and selects(
            device.folded_tags
        ):
            targets.append(device.target)

    for registration, target in store.registration_targets():
        kind = registration.kind
        if template:
            reached = kind.is_template
        else:
            reached = not kind.is_template and kind.platform == notification_format

        if reached and selects(registration.description.folded_tags):
            targets.append(target)

    return targets
