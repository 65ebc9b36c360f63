"""Reading one configuration file into a plain nested dict (a :data:`RawTree`).

Two formats, chosen by the file name: ``.yaml``/``.yml`` is YAML, anything else is DIRAC's ``.cfg``
format. Both become the same shape: a dict whose values are either ``str`` (an option) or another
such dict (a section), which :class:`~tornadoservice.config.tree.ConfigTree` then merges.

DIRAC ``.cfg``
    Parsed by ``diraccfg``, the parser DIRAC itself uses, so that values come out exactly as
    DIRAC sees them (``+=`` appends ``", value"``, ``a = b = c`` has the value ``b = c``, a
    repeated option keeps its last value). ``diraccfg`` is lenient, though: a stray line such as
    ``[Section]`` is silently glued to the next section's name, and unbalanced braces are
    reported without a line. So the text is first checked against the grammar diraccfg
    implements, line by line: a line that is not ``key = value``, ``key += value``, ``Name {``
    (or ``Name`` then ``{``), ``}``, a ``#`` comment or blank is reported with its number. The
    same pass reports what ``diraccfg`` refuses (a section defined twice, ``+=`` on an undeclared
    option) with a line number too, and, stricter than diraccfg, an option that would silently
    replace a section of the same name, ``/`` in names, and text after ``{`` or around ``}``.

    Inline comments: diraccfg has none. ``HandlerPath = catalog.py  # mine`` has the value
    ``catalog.py  # mine``, so a comment written the way most formats allow silently corrupts the
    value. A ``#`` right after blank space inside a value is therefore refused, with its line;
    a ``#`` glued to other text (``a#b``, ``https://host/#frag``) is data and stays. A value
    that really needs `` #`` can be written in YAML, where quoting makes the intent clear.

YAML
    Read with PyYAML's safe loader (no arbitrary objects), walked node by node rather than through
    ``safe_load`` so that structural problems and duplicate keys are reported with their line.
    Values are normalised to what DIRAC would store, a string:

    * strings stay as they are; integers and floats become ``str(value)``;
    * booleans (YAML 1.1 words: ``true``, ``yes``, ``on`` ...) become ``"yes"``/``"no"``, which
      DIRAC's boolean conversion reads back correctly (``"off"`` would not be);
    * null (``key:`` with nothing, ``~``) becomes ``""``;
    * a list of scalars becomes the comma-joined string ``"a, b"`` (DIRAC's list format);
    * other scalars (dates, ``!!binary``) keep their text as written.

    Lists of mappings or nested lists have no ``.cfg`` equivalent and are errors; so is a top level
    that is not a mapping. An empty YAML document is an empty configuration.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeAlias

import yaml
from diraccfg import CFG

from tornadoservice.config.errors import ConfigError

RawTree: TypeAlias = dict[str, "str | RawTree"]
"""Options (``str`` values) and sections (nested dicts) of one file."""

YAML_SUFFIXES = frozenset({".yaml", ".yml"})

_CFG_EXPECTED = "expected 'key = value', 'Section {', '}' or a '#' comment"


def read_config_file(path: Path) -> RawTree:
    """Read and parse one file; the format follows the file name's suffix."""
    source = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("no such file", source=source) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a configuration file", source=source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", source=source) from exc
    try:
        # utf-8-sig: a byte-order mark written by some editors must not become part of a name.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError("not UTF-8 text", source=source, line=line) from None
    if path.suffix.lower() in YAML_SUFFIXES:
        return parse_yaml(text, source)
    return parse_cfg(text, source)


# --- DIRAC .cfg ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Scope:
    """A section being parsed: where it opened and what it declared so far (name -> kind, line)."""

    name: str
    line: int
    entries: dict[str, tuple[Literal["option", "section"], int]] = field(default_factory=dict)


def parse_cfg(text: str, source: str) -> RawTree:
    """Parse DIRAC ``.cfg`` text; ``source`` names the file in error messages."""
    check_cfg_syntax(text, source)
    try:
        cfg = CFG().loadFromBuffer(text)
    except (ValueError, KeyError) as exc:
        # The syntax check mirrors diraccfg's grammar: this is a safety net, not an expected path.
        raise ConfigError(f"rejected by diraccfg: {exc}", source=source) from exc
    tree: RawTree = cfg.getAsDict()
    return tree


def _first_special(line: str) -> int | None:
    """Index of the first structural token (``{``, ``}``, ``=`` or ``+=``), as diraccfg scans."""
    for index, char in enumerate(line):
        if char in "{}=" or line.startswith("+=", index):
            return index
    return None


def check_cfg_syntax(text: str, source: str) -> None:
    """Raise :class:`ConfigError` at the first line diraccfg would misread or refuse."""
    stack = [_Scope("", 0)]
    pending: tuple[str, int] | None = None  # a bare "Name" line waiting for its "{"

    def fail(message: str, line: int) -> ConfigError:
        return ConfigError(message, source=source, line=line)

    for number, raw_line in enumerate(text.split("\n"), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        index = _first_special(line)
        if index is None:
            if pending is not None:
                raise fail(f"cannot parse {pending[0]!r}: {_CFG_EXPECTED}", pending[1])
            pending = (line, number)
            continue
        head, token = line[:index].strip(), line[index]
        rest = line[index + (2 if token == "+" else 1) :].strip()
        if pending is not None and (token != "{" or head):
            raise fail(f"cannot parse {pending[0]!r}: {_CFG_EXPECTED}", pending[1])
        if token == "{":
            name, opened_at = pending if pending is not None else (head, number)
            pending = None
            if not name:
                raise fail("'{' without a section name", number)
            _declare(stack[-1], name, "section", opened_at, fail)
            stack.append(_Scope(name, opened_at))
            if rest == "}":
                stack.pop()
            elif rest:
                raise fail(f"unexpected text after '{{': {rest!r}", number)
        elif token == "}":
            if head or rest:
                raise fail(f"unexpected text around '}}': {line!r}", number)
            if len(stack) == 1:
                raise fail("'}' without a matching '{'", number)
            stack.pop()
        else:
            if not head:
                raise fail(f"option without a name: {line!r}", number)
            _check_no_inline_comment(head, rest, number, fail)
            if token == "+":
                known = stack[-1].entries.get(head)
                if known is None or known[0] != "option":
                    raise fail(f"'+=' on {head!r}, which is not an option defined before", number)
            else:
                _declare(stack[-1], head, "option", number, fail)
    if pending is not None:
        raise fail(f"cannot parse {pending[0]!r}: {_CFG_EXPECTED}", pending[1])
    if len(stack) > 1:
        scope = stack[-1]
        raise fail(f"section {scope.name!r} is never closed (missing '}}')", scope.line)


_INLINE_COMMENT = re.compile(r"\s#")


def _check_no_inline_comment(
    name: str, value: str, line: int, fail: Callable[[str, int], ConfigError]
) -> None:
    match = _INLINE_COMMENT.search(value)
    if match is not None:
        comment = value[match.start() :].strip()
        raise fail(
            f"the value of {name!r} ends in {comment!r}: .cfg files have no inline comments"
            " (diraccfg would keep it as part of the value); put the comment on a line of its"
            " own, or write '#' without a space before it if it is data",
            line,
        )


def _declare(
    scope: _Scope,
    name: str,
    kind: Literal["option", "section"],
    line: int,
    fail: Callable[[str, int], ConfigError],
) -> None:
    if "/" in name:
        raise fail(f"{kind} name {name!r} must not contain '/'", line)
    known = scope.entries.get(name)
    # A repeated option simply takes the later value, as in diraccfg. diraccfg refuses a repeated
    # section and a section over an option; it lets an option silently replace a whole section,
    # which loses that section's contents, so we refuse that too.
    if known is not None and not (kind == known[0] == "option"):
        raise fail(f"{name!r} is already defined as {known[0]} at line {known[1]}", line)
    scope.entries[name] = (kind, line)


# --- YAML ------------------------------------------------------------------------------------


def parse_yaml(text: str, source: str) -> RawTree:
    """Parse YAML text into a :data:`RawTree`; ``source`` names the file in error messages."""
    try:
        # The reader rejects control characters as soon as it is created.
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        bad_line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(f"invalid YAML: {exc.reason}", source=source, line=bad_line) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise ConfigError(
                "the top level must be a mapping of sections and options",
                source=source,
                line=node.start_mark.line + 1,
            )
        return _yaml_mapping(loader, node, source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # PyYAML splits its messages: context "expected a single document", problem "but found ..."
        reason = ", ".join(part for part in (exc.context, exc.problem) if part) or "syntax error"
        mark_line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"invalid YAML: {reason}", source=source, line=mark_line) from None
    finally:
        loader.dispose()


def _yaml_mapping(
    loader: yaml.SafeLoader,
    node: yaml.MappingNode,
    source: str,
    ancestors: frozenset[int] = frozenset(),
) -> RawTree:
    ancestors = ancestors | {id(node)}
    loader.flatten_mapping(node)  # resolves "<<: *anchor" merge keys, as safe_load would
    result: RawTree = {}
    first_seen: dict[str, int] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode) or not key_node.value:
            raise ConfigError("keys must be non-empty plain names", source=source, line=line)
        # The key as written: "8443" or "yes" stay names, not an int or a bool.
        key = key_node.value
        if "/" in key:
            raise ConfigError(f"name {key!r} must not contain '/'", source=source, line=line)
        if key in first_seen:
            raise ConfigError(
                f"duplicate key {key!r} (first at line {first_seen[key]})", source=source, line=line
            )
        first_seen[key] = line
        # An alias may point back to a mapping that contains it: no tree can hold that.
        if id(value_node) in ancestors:
            raise ConfigError(
                "recursive alias: a mapping contains itself", source=source, line=line
            )
        result[key] = _yaml_value(loader, value_node, source, ancestors)
    return result


def _yaml_value(
    loader: yaml.SafeLoader, node: yaml.Node, source: str, ancestors: frozenset[int]
) -> str | RawTree:
    if isinstance(node, yaml.MappingNode):
        return _yaml_mapping(loader, node, source, ancestors)
    if isinstance(node, yaml.SequenceNode):
        items = []
        for item in node.value:
            if not isinstance(item, yaml.ScalarNode):
                raise ConfigError(
                    "list items must be plain values (a list of lists or of mappings has no"
                    " .cfg equivalent)",
                    source=source,
                    line=item.start_mark.line + 1,
                )
            items.append(_yaml_scalar(loader, item))
        return ", ".join(items)
    assert isinstance(node, yaml.ScalarNode)  # the composer makes no other node kinds
    return _yaml_scalar(loader, node)


def _yaml_scalar(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    value = loader.construct_object(node)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | str):
        return str(value)
    return str(node.value)
