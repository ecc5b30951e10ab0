"""Safe YAML with bounds: what a spec file may cost to read is limited before anything is built.

`yaml.safe_load` builds no objects but still lets a few hundred bytes of nested anchors ("billion
laughs") expand into billions of values for whatever walks the result, and lets deep nesting or a
self-referencing alias overflow the stack of the code after it. Here the node graph is composed
first, with limits on nesting depth and alias uses, then measured as if every alias were expanded
(size and depth, each shared node once); only a document within the limits is constructed.
"""

from __future__ import annotations

from typing import Any

from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

MAX_DEPTH = 64  # nesting, aliases expanded; a spec nests about 6 deep
MAX_ALIASES = 100  # alias uses (*name) per document
MAX_VALUES = 200_000  # scalars, sequences and mappings, aliases expanded


class YamlTooComplex(ValueError):
    """The document is beyond the bounds (depth, aliases, expanded size, or a recursive alias)."""


try:  # libyaml parses (fast); the composer below stays Python so it can count
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


class _BoundedLoader(_Parser, Composer, SafeConstructor, Resolver):
    # The C parser brings its own composer; use PyYAML's Python one, which compose_node extends.
    check_node = Composer.check_node
    get_node = Composer.get_node
    get_single_node = Composer.get_single_node

    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.depth = 0
        self.alias_uses = 0
        self.nodes = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(AliasEvent):
            self.alias_uses += 1
            if self.alias_uses > MAX_ALIASES:
                raise YamlTooComplex(f"more than {MAX_ALIASES} alias uses (*name){_where(self.peek_event())}")
        else:
            self.nodes += 1
            if self.nodes > MAX_VALUES:
                raise YamlTooComplex(f"more than {MAX_VALUES} values{_where(self.peek_event())}")
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise YamlTooComplex(f"nested deeper than {MAX_DEPTH} levels{_where(self.peek_event())}")
            return Composer.compose_node(self, parent, index)
        finally:
            self.depth -= 1


def _explicit_tag_checked(tag: str) -> None:
    """PyYAML builds an explicitly tagged scalar (`!!timestamp x`, `!!bool maybe`) without checking it
    has the tag's form, and fails with AttributeError or KeyError; check the form first, with the
    same pattern that resolves untagged scalars to the tag."""
    patterns = {
        regexp for resolvers in Resolver.yaml_implicit_resolvers.values() for t, regexp in resolvers if t == tag
    }
    construct = SafeConstructor.yaml_constructors[tag]

    def checked(loader: SafeConstructor, node: Node) -> Any:
        if isinstance(node, ScalarNode) and not any(p.match(node.value) for p in patterns):
            short_tag = tag.rsplit(":", 1)[-1]
            raise ConstructorError(None, None, f"{node.value[:40]!r} is not a valid !!{short_tag}", node.start_mark)
        return construct(loader, node)

    _BoundedLoader.add_constructor(tag, checked)


for _tag in ("bool", "int", "float", "timestamp"):
    _explicit_tag_checked(f"tag:yaml.org,2002:{_tag}")


def _where(event: Any) -> str:
    mark = getattr(event, "start_mark", None)
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""


def _measure(root: Node) -> None:
    """Size and depth of the document with aliases expanded: linear in the distinct nodes.

    Anchors come before their aliases in document order, so an alias meets an already measured node
    (a memo hit) unless it points into one of its own ancestors: a recursive document, refused.
    """
    measured: dict[int, tuple[int, int]] = {}
    open_nodes: set[int] = set()

    def visit(node: Node) -> tuple[int, int]:
        key = id(node)
        if key in measured:
            return measured[key]
        if key in open_nodes:
            raise YamlTooComplex(f"an alias refers to a node that contains it{_where(node)}")
        open_nodes.add(key)
        if isinstance(node, SequenceNode):
            children: list[Node] = node.value
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        size, depth = 1, 0
        for child in children:
            child_size, child_depth = visit(child)
            size, depth = size + child_size, max(depth, child_depth)
            if size > MAX_VALUES:
                raise YamlTooComplex(f"more than {MAX_VALUES} values once aliases are expanded{_where(node)}")
        if depth + 1 > MAX_DEPTH:
            raise YamlTooComplex(f"nested deeper than {MAX_DEPTH} levels once aliases are expanded{_where(node)}")
        open_nodes.discard(key)
        measured[key] = (size, depth + 1)
        return measured[key]

    visit(root)


def load_bounded(text: str) -> Any:
    """Like `yaml.safe_load(text)` (one document), within MAX_DEPTH, MAX_ALIASES and MAX_VALUES.

    Raises YamlTooComplex beyond a bound, yaml.YAMLError for malformed YAML, and ValueError or
    OverflowError for a scalar PyYAML cannot build (a 5,000-digit integer, a 13th month).
    """
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _measure(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()
