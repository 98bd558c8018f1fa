"""
Tags and tag expressions (wire spec §5), checked before anything is sent.

A tag is 1-120 characters of `A-Z a-z 0-9 _ @ # . : -`, or one of the system tags
`$InstallationId:{id}` and `$UserId:{id}`. An expression combines tags with `&&`,
`||`, `!` and parentheses; it may name at most 20 tags when its only operator is `||`,
and at most 6 otherwise.

Grammar (whitespace allowed between tokens):

    expression := and ("||" and)*
    and        := unary ("&&" unary)*
    unary      := "!" unary | "(" expression ")" | TAG
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable

from ._errors import TagExpressionError

__all__ = [
    "MAX_TAG_LENGTH",
    "build_tag_expression",
    "validate_tag",
    "validate_tag_expression",
]

MAX_TAG_LENGTH = 120
MAX_TAGS_OR_ONLY = 20
MAX_TAGS_MIXED = 6

_PLAIN_TAG = r"[A-Za-z0-9_@#.:\-]+"
# The .NET SDK's RegistrationDescription regex, ASCII only: whether the service takes
# non-ASCII letters is unconfirmed, and non-ASCII cannot travel in an HTTP header.
_SYSTEM_TAG = r"\$(?i:installationid|userid):\{[A-Za-z0-9_@#.:=\-]+\}"
_TAG = re.compile(rf"(?:{_SYSTEM_TAG}|{_PLAIN_TAG})")
_TOKEN = re.compile(
    rf"\s*(?:(?P<tag>{_SYSTEM_TAG}|{_PLAIN_TAG})|(?P<op>&&|\|\||!|\(|\)))"
)
# Every control character but HTAB: h11 refuses VT and FF in header values, and
# Python's `\s` would otherwise let VT, FF and \x1c-\x1f pass as whitespace.
_FORBIDDEN_IN_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\x7f]")
# Each nesting level costs the recursive parser up to three Python frames; a
# real expression of at most 20 tags never comes near this.
_MAX_NESTING = 100


def validate_tag(tag: object) -> str:
    """
    Check one tag and return it.

    Raises:
        TagExpressionError: the tag is not a string, is empty, too long, or has a
            character the service does not allow in tags.
    """
    if not isinstance(tag, str):
        raise TagExpressionError(f"tags must be strings, not {type(tag).__name__}")

    _check_header_safe(tag, "tag")
    if not tag:
        raise TagExpressionError("tags must not be empty")

    if len(tag) > MAX_TAG_LENGTH:
        raise TagExpressionError(
            f"tag {tag[:20]!r}... is {len(tag)} characters long; the limit is "
            f"{MAX_TAG_LENGTH}"
        )

    if not _TAG.fullmatch(tag):
        raise TagExpressionError(
            f"tag {tag!r} may only use letters, digits and _ @ # . : - "
            "(or be $InstallationId:{...} / $UserId:{...})"
        )

    return tag


def build_tag_expression(tags: str | Iterable[str] | None) -> str | None:
    """
    Turn the `tags` argument of a send into the `ServiceBusNotification-Tags` value.

    Args:
        tags: None or "" for a broadcast; a string is one tag or a tag expression,
            sent as written; any other iterable is a set of tags, joined with `||`
            (duplicates dropped, order kept).

    Returns:
        The header value, or None for a broadcast.

    Raises:
        TagExpressionError: the expression or a tag breaks the service's rules, or
            the iterable is empty (a broadcast must be asked for with None, so that an
            empty audience never turns into "everyone").
    """
    if tags is None:
        return None

    if isinstance(tags, str):
        if not tags.strip():
            return None

        return _checked_expression(tags)

    if isinstance(tags, bytes | bytearray):
        raise TagExpressionError("tags must be str, not bytes")

    if not isinstance(tags, Iterable):
        raise TagExpressionError(
            f"tags must be a str or an iterable of str, not {type(tags).__name__}"
        )

    unique = list(dict.fromkeys(validate_tag(tag) for tag in tags))
    if not unique:
        raise TagExpressionError(
            "the tag set is empty; pass tags=None to broadcast to every device"
        )

    if len(unique) > MAX_TAGS_OR_ONLY:
        raise TagExpressionError(
            f"{len(unique)} tags given; a send may target at most {MAX_TAGS_OR_ONLY} "
            "tags joined with ||"
        )

    return "||".join(unique)


@functools.lru_cache(maxsize=4096)
def _checked_expression(expression: str) -> str:
    # Fan-outs send the same few expressions thousands of times: parse each once.
    # Failures raise, and lru_cache does not cache exceptions.
    validate_tag_expression(expression)
    return expression.strip()


def validate_tag_expression(expression: str) -> None:
    """
    Check a tag expression's tokens, balance, grammar and tag count.

    Raises:
        TagExpressionError: naming the first defect found.
    """
    _check_header_safe(expression, "tag expression")
    tokens = _tokenize(expression)
    parser = _Parser(tokens, expression)
    parser.parse()

    tag_count = sum(1 for kind, _ in tokens if kind == "tag")
    only_or = all(value in ("||", "(", ")") for kind, value in tokens if kind == "op")
    limit = MAX_TAGS_OR_ONLY if only_or else MAX_TAGS_MIXED
    if tag_count > limit:
        kind = "only ||" if only_or else "&& or !"
        raise TagExpressionError(
            f"tag expression names {tag_count} tags; with {kind} the limit is {limit}"
        )


def _check_header_safe(value: str, what: str) -> None:
    bad = _FORBIDDEN_IN_HEADER.search(value)
    if bad is not None:
        raise TagExpressionError(
            f"{what} contains {bad.group()!r} at position {bad.start()}: tags travel "
            "in an HTTP header, which allows no control characters (CR, LF, NUL...) "
            "and no non-ASCII characters"
        )


def _tokenize(expression: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    end = len(expression.rstrip())
    while position < end:
        match = _TOKEN.match(expression, position)
        if match is None:
            offending = expression[position:end].lstrip()[:20]
            raise TagExpressionError(
                f"tag expression has an invalid character or operator at {offending!r}"
                " (tags use letters, digits and _ @ # . : -; operators are && || ! "
                "and parentheses)"
            )

        tag = match.group("tag")
        if tag is not None:
            if len(tag) > MAX_TAG_LENGTH:
                raise TagExpressionError(
                    f"tag {tag[:20]!r}... is {len(tag)} characters long; the limit "
                    f"is {MAX_TAG_LENGTH}"
                )

            tokens.append(("tag", tag))
        else:
            tokens.append(("op", match.group("op")))

        position = match.end()

    if not tokens:
        raise TagExpressionError("tag expression is empty")

    return tokens


class _Parser:
    """Recursive descent over the grammar in the module docstring."""

    def __init__(self, tokens: list[tuple[str, str]], expression: str) -> None:
        self._tokens = tokens
        self._expression = expression
        self._position = 0
        self._depth = 0

    def parse(self) -> None:
        self._or()
        if self._position != len(self._tokens):
            self._fail(f"unexpected {self._tokens[self._position][1]!r}")

    def _or(self) -> None:
        self._and()
        while self._accept("||"):
            self._and()

    def _and(self) -> None:
        self._unary()
        while self._accept("&&"):
            self._unary()

    def _unary(self) -> None:
        if self._accept("!"):
            self._nested(self._unary)
            return

        if self._accept("("):
            self._nested(self._or)
            if not self._accept(")"):
                self._fail("unbalanced parentheses: a '(' is never closed")

            return

        if self._position >= len(self._tokens):
            self._fail("the expression ends where a tag was expected")

        kind, value = self._tokens[self._position]
        if kind != "tag":
            if value == ")":
                self._fail("unbalanced parentheses or an empty '()'")

            self._fail(f"expected a tag, found {value!r}")

        self._position += 1

    def _nested(self, rule: Callable[[], None]) -> None:
        # Deep `!!!…` or `(((…` would otherwise end in RecursionError.
        self._depth += 1
        if self._depth > _MAX_NESTING:
            self._fail(f"nested more than {_MAX_NESTING} levels deep")

        rule()
        self._depth -= 1

    def _accept(self, operator: str) -> bool:
        if self._position < len(self._tokens) and self._tokens[self._position] == (
            "op",
            operator,
        ):
            self._position += 1
            return True

        return False

    def _fail(self, reason: str) -> None:
        raise TagExpressionError(
            f"tag expression {self._expression!r} is invalid: {reason}"
        )
