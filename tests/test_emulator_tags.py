"""The emulator's tag expressions (wire spec §5) and template rendering."""

from __future__ import annotations

import json

import pytest

from notifhub_async.emulator._render import render_template, template_properties
from notifhub_async.emulator._tagexpr import (
    TagExpressionInvalid,
    is_valid_tag,
    parse_tag_expression,
)


@pytest.mark.parametrize(
    ("expression", "tags", "expected"),
    [
        ("news", {"news"}, True),
        ("news", {"sports"}, False),
        ("a || b", {"b"}, True),
        ("a && b", {"a"}, False),
        ("a && b", {"a", "b"}, True),
        ("!a", set(), True),
        ("!a", {"a"}, False),
        ("!!a", {"a"}, True),
        # && binds tighter than ||: a || (b && c).
        ("a || b && c", {"a"}, True),
        ("a || b && c", {"b"}, False),
        ("(a || b) && c", {"a"}, False),
        ("(a || b) && c", {"a", "c"}, True),
        (
            "(follows_RedSox || follows_Cardinals) && location_Boston",
            {"follows_Cardinals", "location_Boston"},
            True,
        ),
        ("!(a || b) && c", {"c"}, True),
        ("!(a || b) && c", {"b", "c"}, False),
        ("a&&!b", {"a"}, True),
        ("  a  ||  b  ", {"b"}, True),
        ("user@example.com", {"user@example.com"}, True),
        ("x:y#z.w-v_u", {"x:y#z.w-v_u"}, True),
        ("$InstallationId:{abc-1}", {"$InstallationId:{abc-1}"}, True),
        ("$UserId:{bob}", {"$userid:{BOB}"}, True),
        ("NEWS", {"news"}, True),
    ],
    ids=lambda value: repr(value) if isinstance(value, str) else "",
)
def test_expressions_select_devices_by_their_tags(
    expression: str, tags: set[str], expected: bool
) -> None:
    assert parse_tag_expression(expression).matches(tags) is expected


def test_the_tags_an_expression_names_are_listed_in_order() -> None:
    expression = parse_tag_expression("(a || b) && !c")
    assert expression.tags == ("a", "b", "c")
    assert expression.text == "(a || b) && !c"


def test_twenty_tags_joined_by_or_are_allowed_but_not_twenty_one() -> None:
    twenty = " || ".join(f"t{number}" for number in range(20))
    assert len(parse_tag_expression(twenty).tags) == 20
    with pytest.raises(TagExpressionInvalid, match="at most 20"):
        parse_tag_expression(f"{twenty} || t20")


@pytest.mark.parametrize("operator", ["&&", "|| !"])
def test_six_tags_are_allowed_with_and_or_not_but_not_seven(operator: str) -> None:
    six = f" {operator} ".join(f"t{number}" for number in range(6))
    assert len(parse_tag_expression(six).tags) == 6
    with pytest.raises(TagExpressionInvalid, match="at most 6"):
        parse_tag_expression(f"{six} {operator} t6")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a & b", "unexpected character '&'"),
        ("a | b", "unexpected character '|'"),
        ("a, b", "unexpected character ','"),
        ("caf\u00e9", "unexpected character"),
        ("$Other:{x}", "unexpected character '\\$'"),
        ("(a || b", "no matching"),
        ("a || b)", "Unexpected '\\)'"),
        ("a ||", "ends where a tag should be"),
        ("&& a", "Expected a tag"),
        ("a b", "Unexpected 'b'"),
        ("x" * 121, "121 characters long"),
        ("(" * 70 + "a" + ")" * 70, "nests deeper"),
    ],
    ids=lambda value: value[:30],
)
def test_malformed_expressions_are_refused_with_a_reason(
    expression: str, message: str
) -> None:
    with pytest.raises(TagExpressionInvalid, match=message):
        parse_tag_expression(expression)


def test_a_tag_of_120_characters_is_allowed() -> None:
    tag = "x" * 120
    assert is_valid_tag(tag)
    assert parse_tag_expression(tag).matches({tag})


@pytest.mark.parametrize(
    ("tag", "valid"),
    [
        ("news", True),
        ("a_b@c#d.e:f-g", True),
        ("$InstallationId:{id-1}", True),
        ("$UserId:{a=b}", True),
        ("", False),
        ("has space", False),
        ("comma,separated", False),
        ("x" * 121, False),
        ("$UserId:{}", False),
    ],
)
def test_tags_in_tag_sets_follow_the_service_rules(tag: str, valid: bool) -> None:
    assert is_valid_tag(tag) is valid


# -- templates -------------------------------------------------------------------------


def render(template: str, **properties: object) -> str:
    return render_template(template, template_properties(properties))


def test_placeholders_take_the_property_value() -> None:
    rendered = render('{"aps":{"alert":"$(message)"}}', message="Hello")
    assert json.loads(rendered) == {"aps": {"alert": "Hello"}}


def test_a_missing_property_renders_as_an_empty_string() -> None:
    rendered = render('{"aps":{"alert":"$(message)!"}}')
    assert json.loads(rendered) == {"aps": {"alert": "!"}}


def test_property_names_ignore_case() -> None:
    rendered = render('{"alert":"$(Message)"}', MESSAGE="Hi")
    assert json.loads(rendered) == {"alert": "Hi"}


def test_values_are_escaped_inside_json_strings() -> None:
    rendered = render('{"alert":"$(message)"}', message='say "hi"\n\\')
    assert json.loads(rendered) == {"alert": 'say "hi"\n\\'}


def test_a_number_placeholder_becomes_a_json_number() -> None:
    rendered = render('{"aps":{"badge":"#(count)"}}', count="40")
    assert json.loads(rendered) == {"aps": {"badge": 40}}


def test_a_number_placeholder_keeps_a_non_number_as_a_string() -> None:
    rendered = render('{"badge":"#(count)"}', count="many")
    assert json.loads(rendered) == {"badge": "many"}


def test_truncation_percent_encoding_and_concatenation() -> None:
    template = (
        '{"a":"$(text, 4)","b":".(text, 4)","c":".(short, 9)",'
        '"d":"%(url)","e":"{\'Hi \' + $(name) + \'!\'}"}'
    )
    rendered = render(template, text="abcdefgh", short="abc", url="a b/c", name="Ann")
    assert json.loads(rendered) == {
        "a": "abcd",
        "b": "abcd...",
        "c": "abc",
        "d": "a%20b%2Fc",
        "e": "Hi Ann!",
    }


def test_xml_templates_escape_substituted_text() -> None:
    template = (
        '<toast><visual><binding template="ToastText01"><text id="1">$(message)'
        "</text></binding></visual></toast>"
    )
    rendered = render(template, message="<b>&</b>")
    assert rendered == (
        '<toast><visual><binding template="ToastText01"><text id="1">'
        "&lt;b&gt;&amp;&lt;/b&gt;</text></binding></visual></toast>"
    )


def test_non_string_properties_are_written_as_json() -> None:
    rendered = render('{"a":"$(flag)","b":"$(count)"}', flag=True, count=3)
    assert json.loads(rendered) == {"a": "true", "b": "3"}


def test_plain_text_templates_are_substituted_as_is() -> None:
    assert render("Hello $(name) {not an expression}", name="<Ann>") == (
        "Hello <Ann> {not an expression}"
    )
