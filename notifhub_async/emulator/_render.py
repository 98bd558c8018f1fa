"""
Render template bodies with the properties of a template send.

The template expression language of Notification Hubs:

    $(prop)       the property's value ("" when the send does not carry it)
    $(prop, n)    the first n characters
    .(prop, n)    the first n characters, followed by "..." when cut
    %(prop)       the value percent-encoded
    #(prop)       in a JSON template, a string holding only this becomes a number
    {'a' + $(b)}  concatenation of quoted literals and expressions

Property names match without regard to case. JSON templates are rendered value by
value and serialised again, so substituted text is always escaped correctly; in XML
templates substituted text is XML-escaped; any other template is substituted as is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

__all__ = ["render_template", "template_properties"]

_EXPRESSION = (
    r"(?P<kind>[$.%#])\(\s*(?P<name>[^(),\s]+)\s*(?:,\s*(?P<length>\d+)\s*)?\)"
)
_PLACEHOLDER = re.compile(rf"\{{(?P<concatenation>[^{{}}]*)\}}|{_EXPRESSION}")
_SINGLE = re.compile(_EXPRESSION)
_WHOLE_NUMBER = re.compile(r"\s*#\(\s*(?P<name>[^(),\s]+)\s*\)\s*")
_TERM = re.compile(
    rf"\s*(?:'(?P<single>[^']*)'|\"(?P<double>[^\"]*)\"|{_EXPRESSION})\s*(?P<plus>\+)?"
)

Escape = Callable[[str], str]


def template_properties(document: Mapping[str, Any]) -> dict[str, str]:
    """Turn a template send's JSON object into case-folded string properties."""
    properties: dict[str, str] = {}
    for name, value in document.items():
        if isinstance(value, str):
            text = value
        elif value is None:
            text = ""
        else:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)

        properties[name.casefold()] = text

    return properties


def render_template(template: str, properties: Mapping[str, str]) -> str:
    """
    Fill a template body in with `properties` (names already case-folded).

    Args:
        template: a registration's `BodyTemplate` or an installation template body.
        properties: from `template_properties`.

    Returns:
        The payload the device would receive.
    """
    stripped = template.strip()
    if stripped.startswith(("{", "[")):
        try:
            document = json.loads(stripped)
        except ValueError:
            document = None
        else:
            rendered = _render_json(document, properties)
            return json.dumps(rendered, separators=(",", ":"), ensure_ascii=False)

    if stripped.startswith("<"):
        return _substitute(template, properties, _xml_escape)

    return _substitute(template, properties, None)


def _render_json(value: Any, properties: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: _render_json(item, properties) for key, item in value.items()}

    if isinstance(value, list):
        return [_render_json(item, properties) for item in value]

    if isinstance(value, str):
        return _render_json_string(value, properties)

    return value


def _render_json_string(text: str, properties: Mapping[str, str]) -> Any:
    number = _WHOLE_NUMBER.fullmatch(text)
    if number is None:
        return _substitute(text, properties, None)

    value = properties.get(number.group("name").casefold(), "")
    try:
        parsed = json.loads(value)
    except ValueError:
        return value

    return parsed if isinstance(parsed, int | float) else value


def _substitute(text: str, properties: Mapping[str, str], escape: Escape | None) -> str:
    def rendered(value: str) -> str:
        return value if escape is None else escape(value)

    def replace(match: re.Match[str]) -> str:
        concatenation = match.group("concatenation")
        if concatenation is None:
            return rendered(_value(match, properties))

        joined = _concatenate(concatenation, properties)
        if joined is not None:
            return rendered(joined)

        # Not an expression after all: braces that belong to the payload.
        inner = _SINGLE.sub(
            lambda expression: rendered(_value(expression, properties)),
            concatenation,
        )
        return f"{{{inner}}}"

    return _PLACEHOLDER.sub(replace, text)


def _concatenate(text: str, properties: Mapping[str, str]) -> str | None:
    parts: list[str] = []
    position = 0
    while True:
        term = _TERM.match(text, position)
        if term is None:
            return None

        if term.group("single") is not None:
            parts.append(term.group("single"))
        elif term.group("double") is not None:
            parts.append(term.group("double"))
        else:
            parts.append(_value(term, properties))

        position = term.end()
        if term.group("plus") is None:
            break

    return "".join(parts) if position == len(text) else None


def _value(match: re.Match[str], properties: Mapping[str, str]) -> str:
    value = properties.get(match.group("name").casefold(), "")
    length = match.group("length")
    kind = match.group("kind")
    if kind == "%":
        return quote(value, safe="")

    if length is None:
        return value

    limit = int(length)
    if kind == "." and len(value) > limit:
        return f"{value[:limit]}..."

    return value[:limit]


def _xml_escape(text: str) -> str:
    return escape(text, {'"': "&quot;", "'": "&apos;"})
