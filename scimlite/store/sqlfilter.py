"""Filter AST → parameterised SQLite: WHERE fragments and ORDER BY keys for the store.

Values reach SQL only as `?` parameters. Identifiers and JSON paths come only from the
Kinds (kinds.py: one per resource type), the constants below and attribute names in
`scimlite.scim.schema`, never from input text.

The result must select exactly the resources `scimlite.scim.evaluate.matches()` accepts
(tests/unit/test_sqlfilter.py checks this property on random users and filters), so the
semantics are those documented in filter.py. How that holds in SQL:
- every predicate treats NULL as false: `NOT` is emitted as `NOT coalesce(x, 0)`;
- ids are server-issued lowercase UUIDs, so a membership id column equals its fold and
  `members.value` / `groups.value` (caseExact=false) can use it unfolded with an index;
- `user_emails` holds one row per email whose value is a string (value_ci = fold(value));
- `users_text` (textindex.py) holds every user's folded userName, displayName and emails, except
  users listed in `users_text_pending`; a needle of 3+ characters that instr() finds in a
  user's values is found by its trigram MATCH unless the user is pending. So `co`/`ew` add
  "MATCH or pending" as a condition that only narrows the rows to test exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from scimlite.scim.filter import (
    And,
    AttrPath,
    Compare,
    CompValue,
    Filter,
    Not,
    Op,
    Or,
    Present,
    ValueFilter,
    folds,
    lookup,
    operands,
    positive,
    with_values,
)
from scimlite.scim.schema import Attribute, ResourceType
from scimlite.store.database import POSTGRES, SQLITE, Dialect
from scimlite.store.errors import UnsupportedFilter, UnsupportedSort
from scimlite.store.kinds import Column, kind_of
from scimlite.text import fold

_EMAILS_OPENING = "u.id IN (SELECT e.user_id FROM user_emails e WHERE "
# The same, per user: for a test that users_text narrows to a few users first.
_EMAILS_OF_USER = "EXISTS (SELECT 1 FROM user_emails e WHERE e.user_id = u.id AND "
_EMAIL_VALUE = Column("e.value_ci", folded=True, indexed=True)
_EMAIL_COLUMNS = {"value": _EMAIL_VALUE, "type": Column("e.type_ci", folded=True)}
# Shortest needle the trigram index can look up (shorter ones match no trigram).
_TRIGRAM = 3
# Every user whose values may contain the phrase bound to `?`. users_text's rowid is the
# user's seq (textindex.py), and `u.seq` is the users row's rowid (INTEGER PRIMARY KEY).
_TEXT_CANDIDATES = (
    "(u.seq IN (SELECT rowid FROM users_text WHERE users_text MATCH ?) "
    "OR u.seq IN (SELECT seq FROM users_text_pending))"
)
_EMAIL_SORT_KEY = (
    "(SELECT e.value_ci FROM user_emails e WHERE e.user_id = u.id "
    "ORDER BY e.is_primary DESC, e.position LIMIT 1)"
)
_SQL_OPS = {"eq": "=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}

# path → (leaf attribute, SQL opening a subquery that the predicate closes, or "", value)
_Scope = Callable[[AttrPath], tuple[Attribute, str, Column]]


def fold_sql(expr: str) -> str:
    """fold(expr) in SQL, calling Python (scim_fold) only for text beyond printable ASCII.

    For printable ASCII, NFC is the identity and case folding is lower(), which SQLite
    does in C. A Python function in a scan takes the GIL for every row it sees; three
    readers doing so starved the event loop and the writer (docs/benchmarks.md,
    "Cheap requests under load"). Anything that is not text passes unchanged, as with
    scim_fold.
    """
    return (
        f"CASE WHEN typeof({expr}) <> 'text' THEN {expr} "
        f"WHEN {expr} GLOB '*[^ -~]*' THEN scim_fold({expr}) ELSE lower({expr}) END"
    )


def _json_path(*names: str | None) -> str:
    """A JSON path of quoted keys; names come from schema.py, never from input."""
    keys = [n for n in names if n is not None]
    if any('"' in k or "'" in k for k in keys):
        raise ValueError(f"refusing to quote {keys!r} into a JSON path")
    return "$" + "".join(f'."{k}"' for k in keys)


def _prefix_upper_bound(prefix: str) -> str | None:
    """The least string above every string starting with prefix (None if there is none).

    SQLite compares TEXT as UTF-8 bytes, which is code point order, as in Python.
    """
    if not prefix:
        return None
    last = ord(prefix[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # surrogates cannot occur in stored text
        last = 0xE000
    return prefix[:-1] + chr(last) if last <= 0x10FFFF else None


def _phrase(literal: CompValue) -> str | None:
    """The FTS5 phrase for a substring needle, or None when users_text cannot look it up."""
    if not isinstance(literal, str):
        return None
    needle = fold(literal)
    if len(needle) < _TRIGRAM or "\x00" in needle:
        return None
    return '"' + needle.replace('"', '""') + '"'  # an FTS5 string: data, never syntax


def _each_opening(alias: str, where: str) -> str:
    """The start of an EXISTS over the object elements of a multi-valued attribute."""
    return (
        f"EXISTS (SELECT 1 FROM json_each({alias}.doc, '{where}') j "  # noqa: S608
        "WHERE j.type = 'object' AND "
    )


class _SQLiteJson:
    """Where document values live, in SQLite: JSON1 over `doc`, folded by scim_fold()."""

    false = "0"

    def scalar(self, base: str, names: tuple[str | None, ...], attribute: Attribute) -> Column:
        return Column(f"json_extract({base}, '{_json_path(*names)}')")

    def each(self, alias: str, names: tuple[str | None, ...]) -> tuple[str, str]:
        """The opening of an EXISTS over the object elements of a multi-valued attribute,
        and the SQL naming one element."""
        return _each_opening(alias, _json_path(*names)), "j.value"

    def is_object(self, alias: str, names: tuple[str | None, ...]) -> tuple[str, str]:
        """The opening of a test on a single complex value, and the SQL naming it."""
        return f"(json_type({alias}.doc, '{_json_path(*names)}') = 'object' AND ", f"{alias}.doc"

    def tree(self, alias: str, names: tuple[str | None, ...]) -> tuple[str, Column]:
        """`pr` on a complex value: some node below it is present (json_tree walks all)."""
        where = _json_path(*names)
        opening = f"EXISTS (SELECT 1 FROM json_tree({alias}.doc, '{where}') t WHERE "  # noqa: S608
        return opening, Column("t.atom")

    # instr() and substr() take the literal as data, so %, _ and \ match themselves.
    def contains(self, expr: str, needle: str) -> str:
        return f"instr({expr}, {needle}) > 0"

    def head(self, expr: str, length: str) -> str:
        return f"substr({expr}, 1, {length})"

    def tail(self, expr: str, length: str) -> str:
        return f"substr({expr}, -{length})"

    def substring(
        self, op: Op, expr: str, text: str, value: Column, bind: Callable[[object], str]
    ) -> str:
        return _substring(self, op, expr, text, value, bind)

    def fold(self, expr: str) -> str:
        return fold_sql(expr)

    def present(self, value: Column) -> str:
        return f"{value.expr} <> ''"

    def first_element(
        self,
        alias: str,
        names: tuple[str | None, ...],
        leaf: Attribute,
        primary: bool,
        folded: bool,
    ) -> str:
        sub = f"json_extract(j.value, '{_json_path(leaf.name)}')"
        key = fold_sql(sub) if folded else sub
        first = "json_extract(j.value, '$.\"primary\"') IS 1 DESC, " if primary else ""
        return (
            f"(SELECT {key} FROM json_each({alias}.doc, '{_json_path(*names)}') j "  # noqa: S608
            f"WHERE j.type = 'object' AND {sub} IS NOT NULL ORDER BY {first}j.key LIMIT 1)"
        )


def _pg_path(names: tuple[str | None, ...]) -> str:
    """A PostgreSQL text[] path literal of quoted keys; names come from schema.py."""
    keys = [n for n in names if n is not None]
    if any(c in k for k in keys for c in "\"'{},\\"):
        raise ValueError(f"refusing to quote {keys!r} into a JSON path")
    return "'{" + ",".join(f'"{k}"' for k in keys) + "}'"


def _like(text: str) -> str:
    """`text` as a LIKE pattern matching itself (PostgreSQL's default escape is \\)."""
    return text.translate({ord(c): f"\\{c}" for c in "\\%_"})


class _PostgresJson:
    """Where document values live, in PostgreSQL: jsonb operators over `doc_ci`, the
    document whose case-insensitive strings Python already folded (scim/comparable.py), so
    no fold happens in SQL. Text compares under COLLATE "C" (code points, as in Python)."""

    false = "FALSE"

    def _value(self, json: str, attribute: Attribute) -> Column:
        if attribute.type in ("integer", "decimal"):
            return Column(f"({json})::numeric", folded=True, numeric=True)
        return Column(f"(({json}) #>> '{{}}') COLLATE \"C\"", folded=True)

    def scalar(self, base: str, names: tuple[str | None, ...], attribute: Attribute) -> Column:
        # A row's document is read in its folded copy (`u.doc` → `u.doc_ci`).
        json = f"{base}_ci" if base.endswith(".doc") else base
        return self._value(f"{json} #> {_pg_path(names)}", attribute)

    def each(self, alias: str, names: tuple[str | None, ...]) -> tuple[str, str]:
        array = f"{alias}.doc_ci #> {_pg_path(names)}"
        return (
            "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN "  # noqa: S608
            f"jsonb_typeof({array}) = 'array' THEN {array} END) j(value) "
            "WHERE jsonb_typeof(j.value) = 'object' AND "
        ), "j.value"

    def is_object(self, alias: str, names: tuple[str | None, ...]) -> tuple[str, str]:
        return f"(jsonb_typeof({alias}.doc_ci #> {_pg_path(names)}) = 'object' AND ", f"{alias}.doc"

    def tree(self, alias: str, names: tuple[str | None, ...]) -> tuple[str, Column]:
        opening = (
            f"EXISTS (SELECT 1 FROM jsonb_path_query({alias}.doc_ci #> {_pg_path(names)}, "  # noqa: S608
            "'strict $.**') t(atom) WHERE "
        )
        atom = (
            "CASE WHEN jsonb_typeof(t.atom) IN ('string', 'number', 'boolean') "
            "THEN t.atom #>> '{}' END"
        )
        return opening, Column(atom, folded=True)

    def substring(
        self, op: Op, expr: str, text: str, value: Column, bind: Callable[[object], str]
    ) -> str:
        # LIKE on a column with a trigram index (Column.in_text) lets pg_trgm answer;
        # strpos()/left()/right() take the literal as data otherwise.
        if value.in_text and text:
            pattern = {"co": f"%{_like(text)}%", "sw": f"{_like(text)}%", "ew": f"%{_like(text)}"}
            return f"{expr} LIKE {bind(pattern[op])}"
        return _substring(self, op, expr, text, value, bind)

    def contains(self, expr: str, needle: str) -> str:
        return f"strpos({expr}, {needle}) > 0"

    def head(self, expr: str, length: str) -> str:
        return f"left({expr}, {length})"

    def tail(self, expr: str, length: str) -> str:
        return f"right({expr}, {length})"

    def fold(self, expr: str) -> str:
        raise AssertionError(f"PostgreSQL cannot fold {expr} in SQL; read a folded column")

    def present(self, value: Column) -> str:
        return f"{value.expr} IS NOT NULL" if value.numeric else f"{value.expr} <> ''"

    def first_element(
        self,
        alias: str,
        names: tuple[str | None, ...],
        leaf: Attribute,
        primary: bool,
        folded: bool,
    ) -> str:
        key = self._value(f"j.value -> '{leaf.name}'", leaf).expr
        first = "coalesce(j.value -> 'primary' = 'true'::jsonb, FALSE) DESC, " if primary else ""
        array = f"{alias}.doc_ci #> {_pg_path(names)}"
        return (
            "(SELECT " + key + " FROM jsonb_array_elements(CASE WHEN "  # noqa: S608
            f"jsonb_typeof({array}) = 'array' THEN {array} END) WITH ORDINALITY j(value, n) "
            f"WHERE jsonb_typeof(j.value) = 'object' AND {key} IS NOT NULL "
            f"ORDER BY {first}j.n LIMIT 1)"
        )


_Json = _SQLiteJson | _PostgresJson


def _substring(
    json: _Json, op: Op, expr: str, text: str, value: Column, bind: Callable[[object], str]
) -> str:
    """`co` / `sw` / `ew` with the literal as data, in the dialect's spelling; `sw` on an
    indexed column is a range the index answers."""
    if op == "co" or not text:
        return json.contains(expr, bind(text))
    if op == "sw":
        upper = _prefix_upper_bound(text) if value.indexed else None
        if upper is not None:
            return f"({expr} >= {bind(text)} AND {expr} < {bind(upper)})"
        return f"{json.head(expr, bind(len(text)))} = {bind(text)}"
    return f"{json.tail(expr, bind(len(text)))} = {bind(text)}"


_DIALECTS: dict[str, _Json] = {SQLITE.name: _SQLiteJson(), POSTGRES.name: _PostgresJson()}


class _Compiler:
    def __init__(
        self, resource: ResourceType, use_text: Callable[[str], bool], dialect: Dialect
    ) -> None:
        self.resource = resource
        self.table = kind_of(resource)
        self.params: list[object] = []
        self.use_text = use_text
        self.narrowed = False  # inside an OR that users_text already narrowed
        self.json = _DIALECTS[dialect.name]
        self.postgres = dialect.name == POSTGRES.name

    def text_phrase(self, literal: CompValue) -> str | None:
        phrase = _phrase(literal)
        return phrase if phrase is not None and self.use_text(phrase) else None

    def bind(self, value: object) -> str:
        self.params.append(value)
        return "?"

    def node(self, f: Filter, scope: _Scope) -> str:
        if isinstance(f, Or) and scope == self.top and not self.narrowed:
            phrase = self.shared_phrase(f)
            if phrase is not None:
                # `userName co "x" or displayName co "x" or …` (the console's plain-text
                # search): one set of candidates for the whole OR, then the exact tests.
                candidates = self.candidates(phrase)
                self.narrowed = True
                try:
                    return f"({candidates} AND {self.node(f, scope)})"
                finally:
                    self.narrowed = False
        if isinstance(f, And | Or):
            joiner = " AND " if isinstance(f, And) else " OR "
            return "(" + joiner.join(self.node(x, scope) for x in operands(f)) + ")"
        if isinstance(f, Not):
            return f"NOT coalesce({self.node(f.inner, scope)}, {self.json.false})"
        if isinstance(f, ValueFilter):
            return self.value_filter(f)
        return self.leaf(f, scope)

    def leaf(self, f: Compare | Present, scope: _Scope) -> str:
        negate, leaf = positive(f)
        attribute, opening, value = scope(leaf.path)
        if isinstance(leaf, Present):
            # RFC 7644 §3.4.2.2 pr: not null and not empty ("" folds to "").
            test = self.json.present(value)
        else:
            test = self.compare(leaf.op, leaf.value, attribute, value)
        own = None if self.narrowed else self.phrase_of(leaf, value)
        if (own is not None or self.narrowed) and opening == _EMAILS_OPENING:
            opening = _EMAILS_OF_USER  # tested only for the candidates, not for every email
        sql = f"{opening}{test})" if opening else test
        if own is not None:
            # The candidates include every row the test holds for, so the answer is the
            # same; SQLite reads their rowids instead of testing every user.
            sql = f"({sql} AND {self.candidates(own)})"
        return f"NOT coalesce({sql}, {self.json.false})" if negate else sql

    def phrase_of(self, leaf: Compare | Present, value: Column) -> str | None:
        """The users_text phrase that narrows this substring test, if there is one."""
        if value.in_text and isinstance(leaf, Compare) and leaf.op in ("co", "ew"):
            return self.text_phrase(leaf.value)
        return None

    def shared_phrase(self, f: Or) -> str | None:
        """The phrase every operand of f would be narrowed by, when they share one."""
        phrases = set()
        for x in operands(f):
            if not isinstance(x, Compare):
                return None
            phrase = self.phrase_of(x, self.top(x.path)[2])
            if phrase is None:
                return None
            phrases.add(phrase)
        return phrases.pop() if len(phrases) == 1 else None

    def candidates(self, phrase: str) -> str:
        return _TEXT_CANDIDATES.replace("?", self.bind(phrase))

    def compare(self, op: Op, literal: CompValue, attribute: Attribute, value: Column) -> str:
        expr = value.expr
        if folds(attribute) and isinstance(literal, str):
            literal = fold(literal)
            if not value.folded:
                expr = self.json.fold(expr)
        if self.postgres and isinstance(literal, bool) and not value.numeric:
            literal = "true" if literal else "false"  # as jsonb's #>> spells a boolean
        if op in _SQL_OPS:
            return f"{expr} {_SQL_OPS[op]} {self.bind(literal)}"
        # co / sw / ew: the parser only allows string literals here.
        return self.json.substring(op, expr, str(literal), value, self.bind)

    def top(self, path: AttrPath) -> tuple[Attribute, str, Column]:
        """Resolve a resource-level path to where its values live."""
        top, leaf = lookup(path, self.resource)
        table = self.table
        alias = table.alias
        if path.urn is None:
            column = table.filter_columns.get((top.name, path.sub_attr))
            if column is not None:
                return leaf, "", column
            if top.name == table.refs_attr:
                if path.sub_attr not in (None, "value"):
                    raise UnsupportedFilter(
                        f'filtering on "{top.name}.{path.sub_attr}" is not supported; '
                        f'filter on "{top.name}.value"'
                    )
                return leaf, table.membership_opening, table.membership_value
            if top.name == "meta":
                raise UnsupportedFilter(
                    f'filtering on "meta.{path.sub_attr}" is not supported; '
                    'filter on "meta.created" or "meta.lastModified"'
                )
            if table.emails and top.name == "emails" and path.sub_attr == "value":
                return leaf, _EMAILS_OPENING, replace(_EMAIL_VALUE, in_text=True)
        if top.type == "complex" and path.sub_attr is None:
            opening, atom = self.json.tree(alias, (path.urn, top.name))
            return leaf, opening, atom
        if top.multi_valued:
            opening, element = self.json.each(alias, (path.urn, top.name))
            return leaf, opening, self.json.scalar(element, (path.sub_attr,), leaf)
        return leaf, "", self.json.scalar(f"{alias}.doc", (path.urn, top.name, path.sub_attr), leaf)

    def value_filter(self, f: ValueFilter) -> str:
        """`attr[filter]`: one element must satisfy the whole inner filter."""
        inner = f.filter
        if isinstance(inner, Compare | Present) and not positive(inner)[0]:
            # A single positive condition is the same as `attr.sub op value`, which may
            # have an index. (Not for ne/null: `emails[value ne "x"]` is "some element
            # differs", while `emails.value ne "x"` is "no element equals".)
            sub = inner.path.attr
            return self.leaf(replace(inner, path=replace(f.path, sub_attr=sub)), self.top)
        top, _ = lookup(f.path, self.resource)
        table = self.table
        if table.emails and f.path.urn is None and top.name == "emails":
            indexed = self._emails_from_index(inner)
            if indexed is not None:
                return indexed
        if f.path.urn is None and top.name == table.refs_attr:
            opening = table.membership_opening

            def scope(path: AttrPath) -> tuple[Attribute, str, Column]:
                sub = top.sub(path.attr)
                if sub is None or sub.name != "value":
                    raise UnsupportedFilter(
                        f'filtering on "{top.name}.{path.attr}" is not supported; '
                        f'filter on "{top.name}.value"'
                    )
                return sub, "", table.membership_value

            return f"{opening}{self.node(inner, scope)})"
        prefix: tuple[str | None, ...]
        if top.multi_valued:
            opening, base = self.json.each(table.alias, (f.path.urn, top.name))
            prefix = ()
        else:
            opening, base = self.json.is_object(table.alias, (f.path.urn, top.name))
            prefix = (f.path.urn, top.name)

        def element(path: AttrPath) -> tuple[Attribute, str, Column]:
            sub = top.sub(path.attr)
            if sub is None:
                raise ValueError(f"{top.name} has no sub-attribute {path.attr}")
            return sub, "", self.json.scalar(base, (*prefix, sub.name), sub)

        return f"{opening}{self.node(inner, element)})"

    def _emails_from_index(self, inner: Filter) -> str | None:
        """`emails[type eq "work" and value eq "x"]` through the user_emails index.

        Only for an AND of positive comparisons on value and type that includes one on
        value: such an element has a string value, so it has its row in user_emails,
        and the answer is the same as over the JSON document.
        """
        leaves = operands(inner) if isinstance(inner, And) else [inner]
        if not all(
            isinstance(leaf, Compare)
            and leaf.path.attr in _EMAIL_COLUMNS
            and leaf.value is not None
            and not positive(leaf)[0]
            for leaf in leaves
        ):
            return None
        if not any(isinstance(leaf, Compare) and leaf.path.attr == "value" for leaf in leaves):
            return None
        emails = lookup(AttrPath(None, "emails"), self.resource)[0]

        def column(path: AttrPath) -> tuple[Attribute, str, Column]:
            sub = emails.sub(path.attr)
            assert sub is not None
            return sub, "", _EMAIL_COLUMNS[sub.name]

        return f"{_EMAILS_OPENING}{self.node(inner, column)})"


def compile_filter(
    f: Filter,
    resource: ResourceType,
    *,
    use_text: Callable[[str], bool] = lambda _: True,
    dialect: Dialect = SQLITE,
) -> tuple[str, list[object]]:
    """A WHERE fragment over alias `u` (users) or `g` (groups) and its `?` parameters.

    `use_text(phrase)` says whether a substring test may read its candidates from
    users_text (see text_phrases). Raises UnsupportedFilter for attributes the store cannot
    answer (e.g. members.display): a filter we cannot answer is a 400, never an
    unfiltered list.
    """
    if not dialect.text_index:
        use_text = lambda _: False  # noqa: E731 - no users_text on this engine
    shaped = _shape(f)
    template = None
    if shaped is not None:
        shape, values = shaped
        key = (shape, resource.id, dialect.name)
        template = _TEMPLATES.get(key)
        if template is None:
            template = _template(f, len(values), resource, dialect)
            if template is not None:
                if len(_TEMPLATES) >= _TEMPLATES_KEPT:
                    _TEMPLATES.pop(next(iter(_TEMPLATES)))  # the oldest shape
                _TEMPLATES[key] = template
    if template is None:
        compiler = _Compiler(resource, use_text, dialect)
        return compiler.node(f, compiler.top), compiler.params
    sql, slots = template
    return sql, [fold(values[i]) if folded else values[i] for i, folded in slots]


# Compiled filters by shape: the lookups IdPs send (`userName eq "…"`, `emails[type eq
# "work"].value eq "…"`) differ only in their strings, and compiling one cost as much as
# the SQLite statement that answers it. A shape is the filter with its strings taken out;
# only shapes whose comparisons are all `eq` or `ne` on a string qualify, because their SQL
# cannot depend on the strings (no substring test asks users_text, no null test). Each
# template is also checked when made (see _template).
_TEMPLATES: dict[tuple[object, ...], tuple[str, list[tuple[int, bool]]]] = {}
_TEMPLATES_KEPT = 256
_SHAPE_NODES = 16  # larger filters are rare enough to compile each time
_MARK = "\ue000M"  # a private-use character and a letter that folding changes


def _shape(f: Filter) -> tuple[tuple[object, ...], list[str]] | None:
    """The filter's shape (its nodes in pre-order, strings left out) and its strings in
    the same order; None when it does not qualify for a template."""
    shape: list[object] = []
    values: list[str] = []
    stack: list[Filter] = [f]
    while stack:
        node = stack.pop()
        if len(shape) == _SHAPE_NODES:
            return None
        if isinstance(node, Compare):
            if node.op not in ("eq", "ne") or not isinstance(node.value, str):
                return None
            path = node.path  # as strings: they hash in C, an AttrPath in Python
            shape.append((path.urn, path.attr, path.sub_attr, node.op))
            values.append(node.value)
        elif isinstance(node, Present):
            path = node.path
            shape.append((path.urn, path.attr, path.sub_attr, "pr"))
        elif isinstance(node, And | Or):
            shape.append(type(node).__name__)
            stack += (node.right, node.left)  # left is taken first
        elif isinstance(node, Not):
            shape.append("not")
            stack.append(node.inner)
        else:
            path = node.path
            shape.append((path.urn, path.attr, path.sub_attr, "["))
            stack.append(node.filter)
    return tuple(shape), values


def _template(
    f: Filter, strings: int, resource: ResourceType, dialect: Dialect
) -> tuple[str, list[tuple[int, bool]]] | None:
    """The SQL of `f`'s shape and, for each parameter, which string it binds and whether
    folded; made by compiling `f` with distinct marks for its strings. None (compile each
    time) unless every parameter is a mark or a mark's fold and no mark is in the SQL."""
    marks = [f"{_MARK}{i}" for i in range(strings)]
    folded = [fold(m) for m in marks]
    left = iter(marks)
    marked = with_values(f, lambda c: next(left) if isinstance(c.value, str) else c.value)
    compiler = _Compiler(resource, lambda _: False, dialect)
    sql = compiler.node(marked, compiler.top)
    slots: list[tuple[int, bool]] = []
    for param in compiler.params:
        if param in marks:
            slots.append((marks.index(param), False))
        elif param in folded:
            slots.append((folded.index(param), True))
        else:
            return None
    if _MARK[0] in sql:
        return None
    return sql, slots


def text_phrases(f: Filter, resource: ResourceType) -> set[str]:
    """The users_text phrases compile_filter may use for f.

    The index pays off for a needle few users contain; for one most users contain, a
    MATCH yields nearly every rowid and scanning the rows is cheaper. SQLite cannot tell
    the two apart, so the store counts each phrase's matches (cheaply, with a LIMIT) and
    passes compile_filter the verdict.
    """
    asked: set[str] = set()

    def ask(phrase: str) -> bool:
        asked.add(phrase)
        return False

    compiler = _Compiler(resource, ask, SQLITE)
    compiler.node(f, compiler.top)
    return asked


def compile_sort(path: AttrPath, resource: ResourceType, dialect: Dialect = SQLITE) -> str:
    """An ORDER BY expression for sortBy (RFC 7644 §3.4.2.3).

    Case-insensitive attributes sort by their fold; a multi-valued attribute sorts by its
    primary value, else its first. Missing values are NULL: RFC 7644 §3.4.2.3 puts them
    last when ascending and first when descending, so callers should append
    `ASC NULLS LAST` / `DESC NULLS FIRST`, then a unique tiebreaker (`, u.seq`).
    """
    table = kind_of(resource)
    json = _DIALECTS[dialect.name]
    top, leaf = lookup(path, resource)
    if top.type == "complex" and path.sub_attr is None:
        value = top.sub("value")
        if value is None:
            raise UnsupportedSort(f'cannot sort by "{top.name}": name one of its sub-attributes')
        path, leaf = replace(path, sub_attr=value.name), value
    name = f"{top.name}.{path.sub_attr}" if path.sub_attr else top.name
    if leaf.returned == "never":
        raise UnsupportedSort(f'cannot sort by "{name}"')
    if path.urn is None:
        column = table.filter_columns.get((top.name, path.sub_attr))
        if column is not None:
            return json.fold(column.expr) if folds(leaf) and not column.folded else column.expr
        if top.name in (table.refs_attr, "meta"):
            raise UnsupportedSort(f'cannot sort by "{name}"')
        if table.emails and name == "emails.value":
            return _EMAIL_SORT_KEY
    names = (path.urn, top.name)
    if top.multi_valued:
        primary = top.sub("primary") is not None
        return json.first_element(table.alias, names, leaf, primary, folds(leaf))
    key = json.scalar(f"{table.alias}.doc", (*names, path.sub_attr), leaf)
    return json.fold(key.expr) if folds(leaf) and not key.folded else key.expr
