"""The cache tags of a compiled read, derived from its plan.

A compiled read is one SQL statement: no Python code sees the objects it holds, so it cannot
record `Post:12` for each post as the resolver path does (resolvers/cache_tags.py). Its tags
come from the plan instead, and are always enough for exact invalidation:

- what the plan names by ID (`post(id:)`, `node`, `nodes`) is tagged by that ID
  (`Post:12`, `Comment:40`, ... found or not), from the parameter holding it;
- what a query chooses (lists, counts, lookups by slug or username) is tagged `posts` or
  `authors`, as on the resolver path;
- what is reached through a relation, whose ids only the database knows, is tagged by type:
  posts by `posts` (every post write publishes it), public profiles by `authors` (every
  profile write), comments and comment counts by `comments` (every comment write).
  The comments, comment counts and tags of a post the plan names by ID are the exception:
  every write that changes them publishes that post's tag, which the read holds already.

What this gives up (docs/caching.md): a cached list of posts, or a post read by slug, that
shows comments or comment counts is dropped by every comment write, where the resolver path's
copy is dropped only by comments on the posts it holds; a read showing a post's author, by
every profile write. Why not exact: the statement would have to return the ids it read (a
second output column, aggregated per row in every statement, next to a `data` column that
must stay byte for byte the resolver path's), for the sake of writes, which are rare next to
reads; a miss costs one statement (about 2 ms of CPU in this process for the bench's 20-post
nested query, 7 ms on the resolver path; the walk below about 6 us once per tree, then
2 us per read).

A field this walk does not know (added to the planner before it is added here) gets
ANY_WRITE: coarse, never stale.

The tags depend only on the selection tree (the statement cache's key) and on the values of
the ID parameters, so the walk runs once per tree; a read then only formats its ID tags.
"""

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from resolvers.cache_tags import AUTHORS, COMMENTS, POSTS, node_tag
from resolvers.posts import PostOrderField
from resolvers.read_shapes import (
    TYPE_FIELDS,
    Field,
    Kind,
    Lookup,
    NodeList,
    NodeLookup,
    PageArguments,
    Selection,
)

# Every write publishes at least one of these (or `all`): the tags of a read whose reach this
# walk does not know (a field added to the planner before it is added here).
ANY_WRITE = frozenset({POSTS, AUTHORS, COMMENTS})

_POST_LISTS = frozenset({Kind.AUTHOR_POSTS, Kind.TAG_POSTS})
_COMMENT_LISTS = frozenset({Kind.COMMENTS, Kind.REPLIES})


@dataclass(frozen=True, slots=True)
class TagPlan:
    """A selection tree's tags: fixed ones, and (type, parameter name) pairs whose
    parameter holds the row id of a node the plan names."""

    fixed: frozenset[str]
    nodes: tuple[tuple[str, str], ...]

    def tags(self, parameters: dict[str, Any]) -> set[str]:
        tags = set(self.fixed)
        tags.update(node_tag(type_name, parameters[name]) for type_name, name in self.nodes)
        return tags


def read_tags(selections: tuple[Selection, ...], parameters: dict[str, Any]) -> set[str]:
    """The cache tags of the compiled read of `selections` with these parameter values."""
    return tag_plan(selections).tags(parameters)


@lru_cache(maxsize=512)
def tag_plan(selections: tuple[Selection, ...]) -> TagPlan:
    walk = _Walk()
    for selection in selections:
        walk.root(selection)
    return TagPlan(frozenset(walk.fixed), tuple(walk.nodes))


@dataclass
class _Walk:
    fixed: set[str] = field(default_factory=set)
    nodes: list[tuple[str, str]] = field(default_factory=list)

    def root(self, selection: Selection) -> None:
        arguments, name = selection.arguments, selection.field
        if name in ("node", "nodes"):
            items = arguments.items if isinstance(arguments, NodeList) else (arguments,)
            for item in items:
                assert isinstance(item, NodeLookup)
                self.node(item)
        elif name == "post" and isinstance(arguments, Lookup) and arguments.column == "id":
            self.node(NodeLookup("Post", arguments.parameter, selection.selections))
        elif name == "__typename" or (name == "post" and arguments is None):
            pass  # post(id:) of another type's ID: null whatever is written
        elif name in _CHOSEN:  # lists, counts, lookups by slug or username
            tag, node_type = _CHOSEN[name]
            self.fixed.add(tag)
            if isinstance(arguments, PageArguments):
                self.page(arguments)
            if name in _LISTS:
                self.connection(node_type, selection.selections, named=False)
            else:
                self.object(node_type, selection.selections, named=False)
        else:
            self.fixed.update(ANY_WRITE)

    def node(self, lookup: NodeLookup) -> None:
        """A node the plan names by ID: its own tag covers it (found or not), a post's tag
        also its comments, comment count and tags (every write to them publishes it). A
        comment or tag by ID still appears or vanishes with writes to its post or its
        thread, whose ids only the database knows."""
        self.nodes.append((lookup.type_name, lookup.parameter))
        named = lookup.type_name in _COVERED_BY_OWN_TAG
        self.object(lookup.type_name, lookup.selections, named=named)

    def object(self, type_name: str, selections: tuple[Selection, ...], *, named: bool) -> None:
        """One object; `named`: a tag the read holds already covers its own changes (it is a
        post or profile named by ID, or belongs to a post named by ID)."""
        if not named:
            self.fixed.update(_TYPE_TAGS.get(type_name, ANY_WRITE))
        fields = TYPE_FIELDS.get(type_name, {})
        for selection in selections:
            if selection.field in fields:
                self.field(fields[selection.field], selection, named=named)
            elif selection.field != "__typename":
                self.fixed.update(ANY_WRITE)

    def field(self, field: Field, selection: Selection, *, named: bool) -> None:
        kind, children = field.kind, selection.selections
        if kind is Kind.POST_COUNT:
            self.fixed.add(POSTS)
        elif kind is Kind.COMMENT_COUNT:
            self.comments(named=named)
        elif kind in _POST_LISTS:  # an author's or a tag's posts: chosen by a query
            self.fixed.add(POSTS)
            if isinstance(selection.arguments, PageArguments):
                self.page(selection.arguments)
            self.connection("Post", children, named=False)
        elif kind in _COMMENT_LISTS:  # within the post that holds them
            assert field.target is not None
            self.comments(named=named)  # a totalCount alone, too
            self.connection(field.target, children, named=named)
        elif kind is Kind.AUTHOR:
            self.object("Author", children, named=False)
        elif field.target is not None:  # a post's tags, a comment's post or parent
            self.object(field.target, children, named=named)

    def comments(self, *, named: bool) -> None:
        """Comments or a comment count: a comment write publishes the post's tag (if the read
        holds it) and `comments`."""
        if not named:
            self.fixed.add(COMMENTS)

    def page(self, arguments: PageArguments) -> None:
        if arguments.order is not None and arguments.order[0] == PostOrderField.COMMENT_COUNT:
            # Which posts the page holds changes with any post's comment count.
            self.fixed.add(COMMENTS)

    def connection(self, node_type: str, selections: tuple[Selection, ...], *, named: bool) -> None:
        """The rows of a connection; totalCount, pageInfo and cursors show the same rows."""
        for selection in selections:
            if selection.field == "nodes":
                self.object(node_type, selection.selections, named=named)
            elif selection.field == "edges":
                for edge_field in selection.selections:
                    if edge_field.field == "node":
                        self.object(node_type, edge_field.selections, named=named)


# Root fields whose rows a query chooses, and the tag every write changing that choice
# publishes (the tags list: the tags carried by visible posts).
_CHOSEN = {
    "posts": (POSTS, "Post"),
    "search": (POSTS, "Post"),
    "post": (POSTS, "Post"),  # by slug (by ID: above)
    "tags": (POSTS, "Tag"),
    "tag": (POSTS, "Tag"),
    "authors": (AUTHORS, "Author"),
    "author": (AUTHORS, "Author"),
}
_LISTS = frozenset({"posts", "search", "tags", "authors"})
# What an object reached through a relation (its id unknown here) is tagged with: its own
# changes, and those that make it appear or vanish (a comment with its post or its parent,
# a tag with the posts carrying it).
_TYPE_TAGS: dict[str, frozenset[str]] = {
    "Post": frozenset({POSTS}),
    "Author": frozenset({AUTHORS}),
    "Comment": frozenset({COMMENTS, POSTS}),
    "Tag": frozenset({POSTS}),
}
# Nodes by ID whose own tag every write changing them publishes (the others: _TYPE_TAGS).
_COVERED_BY_OWN_TAG = frozenset({"Post", "Author"})
