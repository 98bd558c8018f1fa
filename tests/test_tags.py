"""Tags and tag expressions: the service's rules, enforced before any I/O."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifhub_async import (
    TagExpressionError,
    build_tag_expression,
    validate_tag,
    validate_tag_expression,
)


def tags(count: int) -> list[str]:
    return [f"tag{number}" for number in range(count)]


@pytest.mark.parametrize(
    "tag",
    [
        pytest.param("a", id="one-letter"),
        pytest.param("follows_RedSox", id="underscore"),
        pytest.param("user@example.com", id="at-and-dot"),
        pytest.param("#news:sports-2024", id="hash-colon-dash"),
        pytest.param("x" * 120, id="120-characters"),
        pytest.param("$InstallationId:{abc-123}", id="installation-id"),
        pytest.param("$installationid:{abc}", id="installation-id-lower-case"),
        pytest.param("$UserId:{user@example.com}", id="user-id"),
        pytest.param("$USERID:{a=b}", id="user-id-upper-case-with-equals"),
    ],
)
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize(
    ("tag", "fragment"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("x" * 121, "121 characters", id="121-characters"),
        pytest.param("a b", "may only use", id="space"),
        pytest.param("a&b", "may only use", id="ampersand"),
        pytest.param("a|b", "may only use", id="pipe"),
        pytest.param("a/b", "may only use", id="slash"),
        pytest.param("$Other:{a}", "may only use", id="unknown-system-tag"),
        pytest.param("$UserId:abc", "may only use", id="system-tag-without-braces"),
        pytest.param("$UserId:{}", "may only use", id="system-tag-empty-braces"),
        pytest.param("a\rb", "'\\r'", id="carriage-return"),
        pytest.param("a\nb", "'\\n'", id="line-feed"),
        pytest.param("a\x00b", "'\\x00'", id="nul"),
        pytest.param("a\x0bb", "'\\x0b'", id="vertical-tab"),
        pytest.param("caf\u00e9", "non-ASCII", id="non-ascii-letter"),
    ],
)
def test_invalid_tags(tag: str, fragment: str) -> None:
    with pytest.raises(TagExpressionError) as caught:
        validate_tag(tag)

    assert fragment in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "value",
    [pytest.param(b"news", id="bytes"), pytest.param(5, id="int")],
)
def test_a_tag_must_be_a_string(value: object) -> None:
    with pytest.raises(TagExpressionError, match="must be strings"):
        validate_tag(value)


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param("news", id="single-tag"),
        pytest.param("a || b", id="or"),
        pytest.param("a&&b", id="and-without-spaces"),
        pytest.param("!a", id="not"),
        pytest.param("!!a", id="double-not"),
        pytest.param("a && !b", id="and-not"),
        pytest.param(
            "(follows_RedSox || follows_Cardinals) && location_Boston",
            id="spec-example",
        ),
        pytest.param("((a))", id="nested-parentheses"),
        pytest.param("!(a || b) && c", id="not-group"),
        pytest.param(" \ta ||\t b ", id="tabs-and-spaces"),
        pytest.param(
            "$InstallationId:{i-1} || $userid:{u@x}", id="system-tags-any-case"
        ),
        pytest.param("x" * 120 + " || y", id="120-character-tag"),
        pytest.param(" || ".join(tags(20)), id="20-tags-or-only"),
        pytest.param(
            "(" + " || ".join(tags(20)) + ")", id="20-tags-or-only-parenthesised"
        ),
        pytest.param("a && b && c && d && e && f", id="6-tags-mixed"),
        pytest.param("(a || b || c) && !(d || e || f)", id="6-tags-mixed-groups"),
    ],
)
def test_valid_expressions(expression: str) -> None:
    validate_tag_expression(expression)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("   ", "empty", id="whitespace-only"),
        pytest.param("a ||", "ends where a tag was expected", id="trailing-or"),
        pytest.param("&& a", "expected a tag", id="leading-and"),
        pytest.param("a || || b", "expected a tag", id="doubled-operator"),
        pytest.param("a & b", "invalid character or operator", id="single-ampersand"),
        pytest.param("a | b", "invalid character or operator", id="single-pipe"),
        pytest.param("a and b", "unexpected", id="words-as-operators"),
        pytest.param("a b", "unexpected 'b'", id="two-tags-no-operator"),
        pytest.param("a!", "unexpected '!'", id="trailing-not"),
        pytest.param("(a || b", "never closed", id="unclosed-parenthesis"),
        pytest.param("a || b)", "unexpected ')'", id="unopened-parenthesis"),
        pytest.param("()", "empty '()'", id="empty-parentheses"),
        pytest.param("a && ()", "empty '()'", id="empty-parentheses-after-and"),
        pytest.param(")(", "unbalanced", id="reversed-parentheses"),
        pytest.param("x" * 121, "121 characters", id="121-character-tag"),
        pytest.param("a ||" + "x" * 121, "121 characters", id="121-character-tag-2"),
        pytest.param(" || ".join(tags(21)), "21 tags", id="21-tags-or-only"),
        pytest.param("a && b && c && d && e && f && g", "7 tags", id="7-tags-mixed"),
        pytest.param(
            "!a || b || c || d || e || f || g", "7 tags", id="7-tags-with-not"
        ),
        pytest.param("a ||\r\nb", "'\\r'", id="crlf"),
        pytest.param("a\n|| b", "'\\n'", id="lf"),
        pytest.param("a\x00", "'\\x00'", id="nul"),
        pytest.param("a ||\x0cb", "'\\x0c'", id="form-feed"),
        pytest.param("a ||\x1fb", "'\\x1f'", id="unit-separator"),
        pytest.param("caf\u00e9 || b", "non-ASCII", id="non-ascii"),
        pytest.param("a ||\u00a0b", "non-ASCII", id="non-breaking-space"),
        pytest.param("$UserId:{u} x", "unexpected 'x'", id="text-after-system-tag"),
    ],
)
def test_invalid_expressions(expression: str, fragment: str) -> None:
    with pytest.raises(TagExpressionError) as caught:
        validate_tag_expression(expression)

    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param("!" * 5000 + "a", id="five-thousand-nots"),
        pytest.param("(" * 2000 + "a" + ")" * 2000, id="two-thousand-parentheses"),
        pytest.param("(" * 5000, id="five-thousand-open-parentheses"),
    ],
)
def test_absurd_nesting_is_an_error_not_a_crash(expression: str) -> None:
    with pytest.raises(TagExpressionError, match="nested"):
        validate_tag_expression(expression)


def test_reasonable_nesting_is_fine() -> None:
    validate_tag_expression("(" * 50 + "a" + ")" * 50)
    validate_tag_expression("!" * 50 + "a")


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        pytest.param(None, None, id="None-broadcast"),
        pytest.param("", None, id="empty-string-broadcast"),
        pytest.param("  ", None, id="blank-string-broadcast"),
        pytest.param("news", "news", id="one-tag"),
        pytest.param(" a && b ", "a && b", id="expression-trimmed"),
        pytest.param(["a", "b", "c"], "a||b||c", id="list-joined-with-or"),
        pytest.param(("a",), "a", id="one-element-tuple"),
        pytest.param(["b", "a", "b", "a"], "b||a", id="duplicates-dropped-order-kept"),
        pytest.param(iter(["x", "y"]), "x||y", id="any-iterable"),
        pytest.param(frozenset({"only"}), "only", id="frozenset"),
        pytest.param(tags(20), "||".join(tags(20)), id="20-tags"),
        pytest.param([*tags(20), "tag0"], "||".join(tags(20)), id="21-with-duplicate"),
    ],
)
def test_build_tag_expression(argument: object, expected: str | None) -> None:
    assert build_tag_expression(argument) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("argument", "fragment"),
    [
        pytest.param([], "tag set is empty", id="empty-list"),
        pytest.param(set(), "tag set is empty", id="empty-set"),
        pytest.param(tags(21), "21 tags", id="21-tags"),
        pytest.param(b"news", "not bytes", id="bytes"),
        pytest.param(bytearray(b"news"), "not bytes", id="bytearray"),
        pytest.param(5, "not int", id="not-iterable"),
        pytest.param([b"news"], "must be strings", id="bytes-inside-list"),
        pytest.param(["a||b"], "may only use", id="expression-inside-list"),
        pytest.param(["ok", ""], "empty", id="empty-tag-inside-list"),
        pytest.param(["a\r\nb"], "'\\r'", id="crlf-inside-list"),
        pytest.param("a ||", "expected", id="bad-expression"),
    ],
)
def test_build_tag_expression_refuses(argument: object, fragment: str) -> None:
    with pytest.raises(TagExpressionError) as caught:
        build_tag_expression(argument)  # type: ignore[arg-type]

    assert fragment in str(caught.value)


# Grammar-built expressions: each strategy yields the text, the number of tags it
# names and whether it uses any operator other than || (which lowers the limit).
@dataclass(frozen=True)
class Built:
    text: str
    tag_count: int
    only_or: bool


# Short tags keep the search fast; the 120/121 boundary has its own table rows.
_TAG_CHARACTERS = "ABCXYZabcxyz0189_@#.:-"
_plain_tags = st.text(_TAG_CHARACTERS, min_size=1, max_size=30)
_system_tags = st.builds(
    lambda kind, value: f"${kind}:{{{value}}}",
    st.sampled_from(["InstallationId", "UserId", "installationid", "USERID"]),
    st.text(_TAG_CHARACTERS + "=", min_size=1, max_size=30),
)
_spaces = st.sampled_from(["", " ", "  ", "\t"])
_leaves = st.builds(
    lambda tag: Built(tag, 1, True), st.one_of(_plain_tags, _system_tags)
)


def _combine(children: st.SearchStrategy[Built]) -> st.SearchStrategy[Built]:
    binary = st.builds(
        lambda left, operator, right, before, after: Built(
            f"{left.text}{before}{operator}{after}{right.text}",
            left.tag_count + right.tag_count,
            left.only_or and right.only_or and operator == "||",
        ),
        children,
        st.sampled_from(["||", "&&"]),
        children,
        _spaces,
        _spaces,
    )
    group = st.builds(
        lambda child, inside: Built(
            f"({inside}{child.text}{inside})", child.tag_count, child.only_or
        ),
        children,
        _spaces,
    )
    negation = st.builds(
        lambda child, after: Built(f"!{after}{child.text}", child.tag_count, False),
        children,
        _spaces,
    )
    return st.one_of(binary, group, negation)


_expressions = st.recursive(_leaves, _combine, max_leaves=24)


@given(_expressions)
def test_grammar_built_expressions_follow_the_tag_limits(built: Built) -> None:
    limit = 20 if built.only_or else 6
    if built.tag_count <= limit:
        validate_tag_expression(built.text)
        assert build_tag_expression(built.text) == built.text.strip()
    else:
        with pytest.raises(TagExpressionError, match=f"{built.tag_count} tags"):
            validate_tag_expression(built.text)


@given(st.lists(_plain_tags, min_size=1, max_size=20))
def test_any_small_tag_set_joins_into_a_valid_expression(tag_list: list[str]) -> None:
    expression = build_tag_expression(tag_list)

    assert expression is not None
    assert expression.split("||") == list(dict.fromkeys(tag_list))
    validate_tag_expression(expression)


_nasty_alphabet = st.sampled_from(
    [*"ab_@#.:-$(){}!&| \t\r\n\x00\x0b\u00e9", "&&", "||", "$UserId:{x}"]
)


@given(st.one_of(st.text(), st.lists(_nasty_alphabet, max_size=40).map("".join)))
def test_random_text_validates_or_raises_tag_expression_error(text: str) -> None:
    try:
        validate_tag_expression(text)
    except TagExpressionError:
        return

    # Whatever passed is safe to put in a header as it is.
    assert text.isascii()
    assert not any(character in text for character in "\r\n\x00\x0b\x0c")
