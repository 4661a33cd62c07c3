"""SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (RFC 7644 §3.5.2): text → AST → verdict.

Pure: no SQL here. `scimlite.scim.evaluate.matches()` answers a filter over a document in
Python; `scimlite.store.sqlfilter` compiles the same AST for SQLite and must agree with it on
every document (a property test holds the two together).

Names are resolved by `scimlite.scim.paths.resolve_path` while parsing, so an AST only holds
canonical names of attributes that exist, and literals already checked against their
attribute's type. Every error names what is wrong and its 1-based character position.

Semantics shared by both evaluators (RFC 7644 §3.4.2.2 leaves some of this open):
- a multi-valued attribute matches when ANY of its values matches;
- `ne` is exactly `not eq`: a resource without the attribute matches `ne`;
- `eq null` is `not pr`, `ne null` is `pr`;
- `pr` is true when the value is not null, not "" and not an empty list or object
  (for complex values: some sub-value is present);
- strings compare after `scimlite.text.fold` unless the attribute is caseExact;
- dateTime values compare as UTC `YYYY-MM-DDTHH:MM:SS.mmmZ` text (sub-millisecond
  precision is truncated; a literal without an offset is taken as UTC);
- documents are assumed valid against the schema (the store validates on write); for a
  value of the wrong JSON type the two evaluators may disagree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal, NamedTuple, NoReturn, TypeAlias

from scimlite.scim.errors import InvalidFilter, InvalidPath, ScimError
from scimlite.scim.paths import PathError, attribute_of, resolve_path, resolve_sub, schema_urn
from scimlite.scim.schema import Attribute, ResourceType

MAX_LENGTH = 2000
MAX_DEPTH = 32

Op = Literal["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]
CompValue: TypeAlias = str | bool | int | float | None

_OPS: dict[str, Op] = {
    "eq": "eq", "ne": "ne", "co": "co", "sw": "sw", "ew": "ew",
    "gt": "gt", "ge": "ge", "lt": "lt", "le": "le",
}  # fmt: skip
SUBSTRING_OPS = frozenset({"co", "sw", "ew"})
ORDER_OPS = frozenset({"gt", "ge", "lt", "le"})
TEXT_TYPES = frozenset({"string", "reference", "binary"})


@dataclass(frozen=True, slots=True)
class AttrPath:
    """An attribute path (RFC 7644 §3.10) with canonical names.

    `urn` is None for core-schema and common attributes (id, externalId, meta), whether
    or not the input spelled the core URN, else the canonical extension URN. `attr` is ""
    only in a PATCH path naming a whole extension (`urn:...:enterprise:2.0:User`). Inside
    a value filter (`emails[type eq "work"]`) paths are relative: `attr` is a
    sub-attribute of the filtered attribute.
    """

    urn: str | None
    attr: str
    sub_attr: str | None = None


@dataclass(frozen=True, slots=True)
class Compare:
    """`path op value`; a bare complex `members eq "U"` is parsed as `members.value`."""

    path: AttrPath
    op: Op
    value: CompValue


@dataclass(frozen=True, slots=True)
class Present:
    """`path pr`."""

    path: AttrPath


@dataclass(frozen=True, slots=True)
class And:
    left: Filter
    right: Filter


@dataclass(frozen=True, slots=True)
class Or:
    left: Filter
    right: Filter


@dataclass(frozen=True, slots=True)
class Not:
    inner: Filter


@dataclass(frozen=True, slots=True)
class ValueFilter:
    """`emails[type eq "work" and value co "@x"]`: one element must satisfy the whole filter."""

    path: AttrPath
    filter: Filter


Filter: TypeAlias = Compare | Present | And | Or | Not | ValueFilter


@dataclass(frozen=True, slots=True)
class PatchPath:
    """A PATCH path (RFC 7644 §3.5.2: `attrPath / valuePath [subAttr]`).

    `emails[type eq "work"].value` is PatchPath(AttrPath(None, "emails"), <filter>, "value");
    `name.givenName` is PatchPath(AttrPath(None, "name", "givenName"), None, None).
    """

    path: AttrPath
    value_filter: Filter | None
    sub_attr: str | None


def lookup(path: AttrPath, resource: ResourceType) -> tuple[Attribute, Attribute]:
    """(top-level attribute, leaf attribute) of a canonical path; leaf is top without sub_attr.

    Raises ValueError for a path that names no attribute (e.g. a whole extension).
    """
    top = attribute_of(resource, path.urn, path.attr)
    leaf = top.sub(path.sub_attr) if top and path.sub_attr is not None else top
    if top is None or leaf is None:
        raise ValueError(f"{path} names no attribute of {resource.name}")
    return top, leaf


def folds(attribute: Attribute) -> bool:
    """Whether string values of this attribute compare case-insensitively (RFC 7643 §2.2)."""
    return attribute.type in TEXT_TYPES and not attribute.case_exact


def positive(leaf: Compare | Present) -> tuple[bool, Compare | Present]:
    """(negate, leaf without negation): the one definition of `ne` and null comparisons.

    Both evaluators go through here, so `ne` ≡ `not eq`, `eq null` ≡ `not pr` and
    `ne null` ≡ `pr` everywhere.
    """
    if isinstance(leaf, Present):
        return False, leaf
    if leaf.value is None:
        return leaf.op == "eq", Present(leaf.path)
    if leaf.op == "ne":
        return True, replace(leaf, op="eq")
    return False, leaf


def operands(node: And | Or) -> list[Filter]:
    """The operands of a chain of the same connective, flattened without recursion.

    `a or b or ... ` parses left-nested; flattening keeps evaluation depth bounded by
    the parenthesis nesting limit instead of the filter's length.
    """
    kind = type(node)
    found: list[Filter] = []
    stack: list[Filter] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, And | Or) and type(item) is kind:
            stack += (item.right, item.left)
        else:
            found.append(item)
    return found


def datetime_key(text: str) -> str | None:
    """A dateTime as stored (UTC, milliseconds, `Z`), so text order is time order.

    None if the text is not an ISO 8601 / RFC 3339 dateTime.
    """
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


# ---------------------------------------------------------------------------------------
# Tokens and parser


class _Token(NamedTuple):
    kind: str  # "(", ")", "[", "]", ".", "string", "number", "word", "end"
    text: str
    pos: int  # 1-based


# One match per token, the whitespace before it included; the group that matched
# (`lastindex`) is its kind. A filter is parsed on every filtered request, so the scanner
# avoids a match per run of spaces and a group-name lookup per token.
_TOKEN_RE = re.compile(
    r"""
    \s*(?:
        ([()\[\].])
      | ("[^"\\]*(?:\\.[^"\\]*)*")
      | (-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
      | ([A-Za-z$][\w$:./-]*)
    )
    """,
    re.VERBOSE | re.ASCII | re.DOTALL,
)
_KINDS = ("", "punct", "string", "number", "word")
_SPACE = " \t\n\r\f\v"  # what \s matches under re.ASCII


def _tokenize(text: str, error: type[ScimError]) -> list[_Token]:
    tokens: list[_Token] = []
    index, end = 0, len(text)
    match = _TOKEN_RE.match
    while index < end:
        found = match(text, index)
        if found is None:
            start = end - len(text[index:].lstrip(_SPACE))
            if start == end:  # only whitespace is left
                break
            what = "unterminated string" if text[start] == '"' else f"unexpected {text[start]!r}"
            raise error(f"{what} at position {start + 1}")
        group = found.lastindex or 0
        lexeme = found.group(group)
        kind = _KINDS[group]
        tokens.append(_Token(lexeme if kind == "punct" else kind, lexeme, found.start(group) + 1))
        index = found.end()
    tokens.append(_Token("end", "", end + 1))
    return tokens


class _Parser:
    """Recursive descent over RFC 7644 Figure 1; recursion is bounded by MAX_DEPTH."""

    def __init__(self, text: str, resource: ResourceType, error: type[ScimError]) -> None:
        self.resource = resource
        self.error = error
        if len(text) > MAX_LENGTH:
            raise error(f"{len(text)} characters is over the limit of {MAX_LENGTH}")
        self.tokens = _tokenize(text, error)
        self.index = 0
        self.depth = 0
        # Per Compare built, in order: how its value was made from a literal token (value
        # token index, operator, attribute, operator token index), None for true/false/null.
        self.slots: list[_Slot | None] = []

    def fail(self, message: str, pos: int) -> NoReturn:
        raise self.error(f"{message} at position {pos}")

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def expect(self, kind: str, what: str) -> _Token:
        token = self.take()
        if token.kind != kind:
            self.unexpected(token, what)
        return token

    def unexpected(self, token: _Token, wanted: str) -> NoReturn:
        found = "end of input" if token.kind == "end" else f'"{token.text}"'
        self.fail(f"expected {wanted}, found {found}", token.pos)

    def end(self) -> None:
        token = self.peek()
        if token.kind != "end":
            self.fail(f'unexpected "{token.text}"', token.pos)

    @staticmethod
    def keyword(token: _Token) -> str:
        return token.text.lower() if token.kind == "word" else ""

    def enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"nesting is deeper than {MAX_DEPTH} levels", token.pos)

    # FILTER = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"; "and" binds tighter.
    def disjunction(self, scope: Attribute | None) -> Filter:
        node = self.conjunction(scope)
        while self.keyword(self.peek()) == "or":
            self.take()
            node = Or(node, self.conjunction(scope))
        return node

    def conjunction(self, scope: Attribute | None) -> Filter:
        node = self.factor(scope)
        while self.keyword(self.peek()) == "and":
            self.take()
            node = And(node, self.factor(scope))
        return node

    def factor(self, scope: Attribute | None) -> Filter:
        token = self.peek()
        if token.kind == "(":
            return self.group(scope)
        if self.keyword(token) == "not":
            self.take()
            if self.peek().kind != "(":
                self.unexpected(self.peek(), '"(" after "not"')
            return Not(self.group(scope))
        return self.comparison(scope)

    def group(self, scope: Attribute | None) -> Filter:
        self.enter(self.take())
        node = self.disjunction(scope)
        self.expect(")", '")"')
        self.depth -= 1
        return node

    def comparison(self, scope: Attribute | None, name: _Token | None = None) -> Filter:
        name = name or self.expect("word", "an attribute name")
        if scope is None:
            path, top, leaf = self.resolve(name)
            if self.peek().kind == "[":
                node = self.value_filter(path, top, name)
                if self.peek().kind != ".":
                    return node
                # `emails[type eq "work"].value eq "x"`: a value path, then a comparison of
                # a sub-attribute of the same element, read as `emails[type eq "work" and
                # value eq "x"]`. Beyond RFC 7644's ABNF, but common and unambiguous.
                self.take()
                sub = self.expect("word", "a sub-attribute name")
                return ValueFilter(path, And(node.filter, self.comparison(top, sub)))
        else:
            path, leaf = self.resolve_sub(name, scope)
            if self.peek().kind == "[":
                self.fail("value filters cannot be nested", self.peek().pos)
        if leaf.returned == "never":
            # RFC 7643 §7: a "never" returned attribute cannot be used to select resources.
            self.fail(f'"{leaf.name}" is never returned and cannot be filtered on', name.pos)
        op_token = self.take()
        op = self.keyword(op_token)
        if op == "pr":
            return Present(path)
        if op not in _OPS:
            self.unexpected(op_token, "an operator (eq ne co sw ew gt ge lt le pr)")
        op_index = self.index - 1
        value_token = self.take()
        value = self.literal(value_token)
        if leaf.type == "complex":
            # Entra sends `members eq "U"`: a complex value with a "value" compares that.
            value_attr = leaf.sub("value")
            if value_attr is None:
                example = f"{leaf.name}.{leaf.sub_attributes[0].name}"
                self.fail(
                    f'"{leaf.name}" is complex: compare a sub-attribute such as "{example}"',
                    name.pos,
                )
            path, leaf = replace(path, sub_attr=value_attr.name), value_attr
        literal = value_token.kind in ("string", "number")
        self.slots.append((self.index - 1, _OPS[op], leaf, op_index) if literal else None)
        return Compare(path, _OPS[op], self.check(_OPS[op], value, leaf, op_token, value_token))

    def value_filter(self, path: AttrPath, top: Attribute, name: _Token) -> ValueFilter:
        bracket = self.peek()
        if path.sub_attr is not None or top.type != "complex":
            self.fail(f'"{name.text}" is not a complex attribute and cannot take "["', bracket.pos)
        self.enter(self.take())
        inner = self.disjunction(top)
        self.expect("]", '"]"')
        self.depth -= 1
        return ValueFilter(path, inner)

    def resolve(self, token: _Token) -> tuple[AttrPath, Attribute, Attribute]:
        """attrPath = [URI ":"] ATTRNAME *1subAttr, resolved to canonical names."""
        try:
            found = resolve_path(self.resource, token.text)
        except PathError as exc:
            self.fail(exc.message, token.pos + exc.offset)
        if found.attribute is None:
            self.fail(f'"{token.text}" is a schema, not an attribute', token.pos)
        top, sub = found.attribute, found.sub
        path = AttrPath(found.urn, top.name, sub.name if sub else None)
        return path, top, sub or top

    def resolve_sub(self, token: _Token, scope: Attribute) -> tuple[AttrPath, Attribute]:
        """Inside `attr[...]` names are sub-attributes of attr (RFC 7644 §3.4.2.2 valuePath)."""
        try:
            sub = resolve_sub(scope, token.text)
        except PathError as exc:
            self.fail(exc.message, token.pos + exc.offset)
        return AttrPath(None, sub.name), sub

    def literal(self, token: _Token) -> CompValue:
        """compValue = false / null / true / number / string (RFC 7159 rules)."""
        if token.kind == "string":
            plain = token.text[1:-1]
            if plain.isprintable() and "\\" not in plain:  # nothing to decode or refuse
                return plain
            try:
                value = json.loads(token.text)
                value.encode("utf-8")
            except ValueError:  # json errors and lone surrogates (UnicodeEncodeError)
                self.fail("invalid string literal", token.pos)
            if "\x00" in value:
                self.fail("string literal contains U+0000", token.pos)
            return str(value)
        if token.kind == "number":
            is_float = any(c in token.text for c in ".eE")
            return float(token.text) if is_float else int(token.text)
        constants: dict[str, CompValue] = {"true": True, "false": False, "null": None}
        word = self.keyword(token)
        if word not in constants:
            self.unexpected(token, "a value (a string, number, true, false or null)")
        return constants[word]

    def check(
        self, op: Op, value: CompValue, leaf: Attribute, op_token: _Token, value_token: _Token
    ) -> CompValue:
        """The literal must fit the attribute's type; dateTime literals are normalised."""
        kind = leaf.type
        if value is None:
            if op not in ("eq", "ne"):
                self.fail(f'"{op}" cannot compare with null', value_token.pos)
            return None
        if op in SUBSTRING_OPS and kind not in TEXT_TYPES:
            self.fail(f'"{op}" needs a string attribute; "{leaf.name}" is {kind}', op_token.pos)
        if op in ORDER_OPS and kind in ("boolean", "binary"):
            # RFC 7644 §3.4.2.2: gt/ge/lt/le on boolean or binary is an invalidFilter.
            self.fail(f'"{op}" cannot compare {kind} attribute "{leaf.name}"', op_token.pos)
        if kind in TEXT_TYPES and isinstance(value, str):
            return value
        if kind == "boolean" and isinstance(value, bool):
            return value
        if kind == "integer" and type(value) is int:
            return value
        if kind == "decimal" and type(value) in (int, float):
            return value
        if kind == "dateTime" and isinstance(value, str):
            key = datetime_key(value)
            if key is None:
                self.fail(f'"{value}" is not a dateTime', value_token.pos)
            return key
        self.fail(
            f'"{leaf.name}" takes {kind} values; {value_token.text} is not one', value_token.pos
        )


def parse_filter(text: str, resource: ResourceType) -> Filter:
    """Parse a `filter` parameter (RFC 7644 §3.4.2.2); InvalidFilter names what and where.

    A filter whose tokens match an earlier one's but for its string and number literals
    (an IdP's `userName eq "…"` lookups) is built from that filter's tree: only its
    literals are read and checked against their attributes, by the parser's own
    `literal` and `check`, so errors and values are exactly the full parse's.
    """
    parser = _Parser(text, resource, InvalidFilter)
    tokens = parser.tokens
    key = (resource.id, tuple(t.kind if t.kind in _LITERALS else t.text for t in tokens))
    template = _TEMPLATES.get(key)
    if template is not None:
        tree, slots = template
        bound = iter(slots)
        return with_values(tree, lambda compare: _bind(parser, next(bound), compare))
    if parser.peek().kind == "end":
        parser.fail("the filter is empty", 1)
    node = parser.disjunction(None)
    parser.end()
    if len(tokens) <= _TEMPLATE_TOKENS:
        if len(_TEMPLATES) >= _TEMPLATES_KEPT:
            _TEMPLATES.pop(next(iter(_TEMPLATES)))  # the oldest shape
        _TEMPLATES[key] = (node, parser.slots)
    return node


_Slot = tuple[int, Op, Attribute, int]
_LITERALS = frozenset({"string", "number"})
# Parsed filters by their tokens with string and number literals left out (parse_filter).
_TEMPLATES: dict[tuple[str, tuple[str, ...]], tuple[Filter, list[_Slot | None]]] = {}
_TEMPLATES_KEPT = 256
_TEMPLATE_TOKENS = 48  # longer filters are rare enough to parse each time


def _bind(parser: _Parser, slot: _Slot | None, compare: Compare) -> CompValue:
    """A template comparison's value from this filter's literal, as its slot says (a None
    slot keeps the template's true, false or null)."""
    if slot is None:
        return compare.value
    at, op, leaf, op_at = slot
    token = parser.tokens[at]
    return parser.check(op, parser.literal(token), leaf, parser.tokens[op_at], token)


def with_values(tree: Filter, value_of: Callable[[Compare], CompValue]) -> Filter:
    """`tree` with each comparison's value replaced by `value_of(comparison)`, taken in the
    order the comparisons have in the filter's text. Recursive: for the small trees that
    templates keep (parse_filter here, compile_filter in the store)."""
    if isinstance(tree, Compare):
        return Compare(tree.path, tree.op, value_of(tree))
    if isinstance(tree, And):
        return And(with_values(tree.left, value_of), with_values(tree.right, value_of))
    if isinstance(tree, Or):
        return Or(with_values(tree.left, value_of), with_values(tree.right, value_of))
    if isinstance(tree, Not):
        return Not(with_values(tree.inner, value_of))
    if isinstance(tree, ValueFilter):
        return ValueFilter(tree.path, with_values(tree.filter, value_of))
    return tree


def parse_path(text: str, resource: ResourceType) -> PatchPath:
    """Parse a PATCH `path` (RFC 7644 §3.5.2); InvalidPath names what and where.

    A whole extension (`urn:...:enterprise:2.0:User`) is AttrPath(urn, "", None).
    """
    parser = _Parser(text, resource, InvalidPath)
    name = parser.expect("word", "an attribute path")
    urn = schema_urn(resource, name.text)
    if isinstance(urn, str):
        parser.end()
        return PatchPath(AttrPath(urn, ""), None, None)
    path, top, _ = parser.resolve(name)
    value_filter: Filter | None = None
    sub_attr: str | None = None
    if parser.peek().kind == "[":
        value_filter = parser.value_filter(path, top, name).filter
        if parser.peek().kind == ".":
            parser.take()
            sub_name = parser.expect("word", "a sub-attribute name")
            sub_attr = parser.resolve_sub(sub_name, top)[0].attr
    parser.end()
    return PatchPath(path, value_filter, sub_attr)
