"""
Tag expressions (wire spec §5): parse, check the service's limits, evaluate.

A tag is 1-120 characters of `A-Z a-z 0-9 _ @ # . : -`, or a system tag
`$InstallationId:{id}` / `$UserId:{id}`. Expressions (whitespace between tokens):

    expression := conjunction ("||" conjunction)*
    conjunction := unary ("&&" unary)*
    unary := "!" unary | "(" expression ")" | TAG

An expression may name at most 20 tags when `||` is its only operator, and at most 6
otherwise. Matching ignores case: the .NET SDK keeps tag sets case-insensitive and the
service's own rule is unconfirmed, so the emulator takes the lenient reading.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeAlias

__all__ = [
    "MAX_TAGS_OR_ONLY",
    "MAX_TAGS_OTHERWISE",
    "MAX_TAG_LENGTH",
    "TagExpression",
    "TagExpressionInvalid",
    "fold_tags",
    "is_storable_tag",
    "is_valid_tag",
    "parse_tag_expression",
]

MAX_TAG_LENGTH = 120
MAX_TAGS_OR_ONLY = 20
MAX_TAGS_OTHERWISE = 6
# Not a service limit: it keeps a hostile header from exhausting the recursion.
_MAX_NESTING = 64

_PLAIN_TAG = r"[A-Za-z0-9_@#.:\-]+"
_SYSTEM_TAG = r"\$(?i:installationid|userid):\{[A-Za-z0-9_@#.:=\-]+\}"
_TAG = re.compile(rf"{_SYSTEM_TAG}|{_PLAIN_TAG}")
_TOKEN = re.compile(rf"(?P<tag>{_SYSTEM_TAG}|{_PLAIN_TAG})|(?P<op>&&|\|\||!|\(|\))")


class TagExpressionInvalid(ValueError):
    """The expression breaks the grammar or the limits; the message says how."""


@dataclass(frozen=True, slots=True)
class Tag:
    """A tag in an expression."""

    name: str


@dataclass(frozen=True, slots=True)
class Not:
    """`!operand`."""

    operand: Node


@dataclass(frozen=True, slots=True)
class And:
    """`left && right`."""

    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Or:
    """`left || right`."""

    left: Node
    right: Node


Node: TypeAlias = "Tag | Not | And | Or"
Predicate: TypeAlias = Callable[[frozenset[str]], bool]


@dataclass(frozen=True, slots=True)
class TagExpression:
    """A parsed expression, the tags it names in order, and its compiled test."""

    text: str
    root: Node
    tags: tuple[str, ...]
    # Compiled once per send and run against every device, so it must be cheap.
    selects: Predicate = field(repr=False, compare=False)

    def matches(self, tags: Iterable[str]) -> bool:
        """Whether a device holding `tags` is selected."""
        return self.selects(fold_tags(tags))


def is_valid_tag(tag: str) -> bool:
    """Whether `tag` is a tag as the documentation defines it (and expressions use)."""
    return len(tag) <= MAX_TAG_LENGTH and _TAG.fullmatch(tag) is not None


def is_storable_tag(tag: str) -> bool:
    """
    Whether an installation or registration may carry `tag`.

    Laxer than `is_valid_tag`: a recorded answer of the service holds the tag
    "Template Name", so stored tags may contain spaces; they only need 1-120
    printable characters and no comma (the separator in registration XML).
    """
    return (
        0 < len(tag) <= MAX_TAG_LENGTH
        and tag.strip() == tag
        and "," not in tag
        and tag.isprintable()
    )


def fold_tags(tags: Iterable[str]) -> frozenset[str]:
    """The case-folded set of `tags`, as matching compares them."""
    return frozenset(tag.casefold() for tag in tags)


def parse_tag_expression(text: str) -> TagExpression:
    """
    Parse a `ServiceBusNotification-Tags` value.

    Raises:
        TagExpressionInvalid: a bad character, a tag over 120 characters, a syntax
            error, or too many tags.
    """
    tokens = _tokenize(text)
    if not tokens:
        raise TagExpressionInvalid("The tag expression is empty.")

    parser = _Parser(tokens)
    root = parser.expression()
    if parser.position < len(tokens):
        raise TagExpressionInvalid(
            f"Unexpected '{tokens[parser.position]}' in the tag expression '{text}'."
        )

    tags = tuple(token for token in tokens if _is_tag(token))
    _check_limits(text, tokens, tags)
    return TagExpression(text=text, root=root, tags=tags, selects=_compile(root))


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue

        match = _TOKEN.match(text, position)
        if match is None:
            raise TagExpressionInvalid(
                f"The tag expression '{text}' has an unexpected character "
                f"'{text[position]}' at position {position}; tags use letters, "
                "digits and _@#.:- and operators are &&, ||, ! and parentheses."
            )

        token = match.group()
        if match.group("tag") is not None and len(token) > MAX_TAG_LENGTH:
            raise TagExpressionInvalid(
                f"The tag '{token[:20]}...' is {len(token)} characters long; tags "
                f"are limited to {MAX_TAG_LENGTH} characters."
            )

        tokens.append(token)
        position = match.end()

    return tokens


def _is_tag(token: str) -> bool:
    return token not in ("&&", "||", "!", "(", ")")


def _check_limits(text: str, tokens: list[str], tags: tuple[str, ...]) -> None:
    only_or = all(token == "||" for token in tokens if not _is_tag(token))
    limit = MAX_TAGS_OR_ONLY if only_or else MAX_TAGS_OTHERWISE
    if len(tags) > limit:
        kind = "only ||" if only_or else "&& or !"
        raise TagExpressionInvalid(
            f"The tag expression '{text}' names {len(tags)} tags; an expression "
            f"with {kind} may name at most {limit}."
        )


class _Parser:
    """Recursive descent over the token list; `position` is the next token."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.position = 0
        self.depth = 0

    def expression(self) -> Node:
        node = self.conjunction()
        while self._accept("||"):
            node = Or(node, self.conjunction())

        return node

    def conjunction(self) -> Node:
        node = self.unary()
        while self._accept("&&"):
            node = And(node, self.unary())

        return node

    def unary(self) -> Node:
        if self._accept("!"):
            return Not(self._nested(self.unary))

        if self._accept("("):
            node = self._nested(self.expression)
            if not self._accept(")"):
                raise TagExpressionInvalid(
                    "A '(' in the tag expression has no matching ')'."
                )

            return node

        token = self._next()
        if token is None:
            raise TagExpressionInvalid("The tag expression ends where a tag should be.")

        if not _is_tag(token):
            raise TagExpressionInvalid(
                f"Expected a tag in the tag expression but found '{token}'."
            )

        return Tag(token)

    def _nested(self, rule: Callable[[], Node]) -> Node:
        self.depth += 1
        if self.depth > _MAX_NESTING:
            raise TagExpressionInvalid(
                f"The tag expression nests deeper than {_MAX_NESTING} levels."
            )

        node = rule()
        self.depth -= 1
        return node

    def _accept(self, operator: str) -> bool:
        if self.position < len(self.tokens) and self.tokens[self.position] == operator:
            self.position += 1
            return True

        return False

    def _next(self) -> str | None:
        if self.position >= len(self.tokens):
            return None

        self.position += 1
        return self.tokens[self.position - 1]


def _compile(node: Node) -> Predicate:
    """A function of a device's case-folded tags that evaluates `node`."""
    if isinstance(node, Tag):
        name = node.name.casefold()
        return lambda tags: name in tags

    if isinstance(node, Not):
        operand = _compile(node.operand)
        return lambda tags: not operand(tags)

    left, right = _compile(node.left), _compile(node.right)
    if isinstance(node, And):
        return lambda tags: left(tags) and right(tags)

    return lambda tags: left(tags) or right(tags)
