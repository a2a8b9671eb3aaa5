"""What a compiled read is asked for, and what each covered field reads, as data.

`Selection` trees are the plan of one read: the fields of the response (keys in order) with
the names of the bound parameters that carry their argument values. The same tree always
builds the same statement, so the tree is the statement cache's key (with the viewer's role).

`TYPE_FIELDS` describes the covered fields of each type once: which column each reads, or
which relation (resolvers/relations.py) through which of its columns. The document walk
(schema/read_plan.py) uses it to decide what is covered, and the statement builder
(resolvers/read_statements.py) to build the SQL.
"""

from dataclasses import dataclass
from enum import Enum

from resolvers import relations
from resolvers.relations import Relation


class NotCovered(Exception):
    """The planner does not build this read; the resolver path answers it."""


@dataclass(frozen=True, slots=True)
class PageArguments:
    """A connection's page, as parameter names (values are bound at execution) and the
    choices that change the statement's text (direction, which cursors, order, filter)."""

    size: str
    rows: str  # size + 1: the extra row tells whether there is another page
    after: tuple[str, str] | None = None  # (sort value, id) parameter names
    before: tuple[str, str] | None = None
    backwards: bool = False
    order: tuple[str, bool] | None = None  # posts: (PostOrderField value, descending)
    criteria: tuple[bool, ...] | None = None  # root posts: PostCriteria.shape()
    search: "SearchTerms | None" = None  # search: what the posts must match


@dataclass(frozen=True, slots=True)
class SearchTerms:
    """`search(query:)`'s text as parameter names: the query for PostgreSQL's
    websearch_to_tsquery, and the FTS5 match expression SQLite's statement uses."""

    query: str
    match: str


@dataclass(frozen=True, slots=True)
class Lookup:
    """One row by a unique column (`post(slug:)`, `post(id:)`), the value a parameter."""

    column: str
    parameter: str


@dataclass(frozen=True, slots=True)
class NodeLookup:
    """One node by global ID (`node`, an item of `nodes`): its type, the parameter holding its
    row id, and what is selected on that type."""

    type_name: str
    parameter: str
    selections: tuple["Selection", ...]


@dataclass(frozen=True, slots=True)
class NodeList:
    items: tuple[NodeLookup, ...]


Arguments = PageArguments | Lookup | NodeLookup | NodeList | None


@dataclass(frozen=True, slots=True)
class Selection:
    key: str  # the response key (alias or field name)
    field: str
    arguments: Arguments = None
    selections: tuple["Selection", ...] = ()


class Kind(Enum):
    GLOBAL_ID = "global_id"
    STRING = "string"
    NULLABLE_STRING = "nullable_string"
    INTEGER = "integer"
    DATETIME = "datetime"
    NULLABLE_DATETIME = "nullable_datetime"
    # Relations: the field's `relation` says which rows it reads; the kind, what it makes of
    # them (and how read_plan.py and read_tags.py treat it).
    AUTHOR = "author"  # to one: a post's or comment's author
    POST = "post"  # to one: a comment's post
    PARENT = "parent"  # to one: a comment's parent comment
    TAGS = "tags"  # a post's tags, by name
    COMMENT_COUNT = "comment_count"  # a post's comments, replies included
    POST_COUNT = "post_count"  # an author's or a tag's posts
    COMMENTS = "comments"  # connection: a post's top-level comments
    REPLIES = "replies"  # connection: a comment's replies
    AUTHOR_POSTS = "author_posts"  # connection: an author's posts
    TAG_POSTS = "tag_posts"  # connection: the posts carrying a tag
    REVISIONS = "revisions"  # connection: a post's revisions, null unless the viewer may read them
    STRING_LIST = "string_list"  # a JSON array of text in a column (a revision's tag names)
    CHANGED_FIELDS = "changed_fields"  # comma-separated names: a list of RevisionField values
    NULLABLE_REVISION_ID = "nullable_revision_id"  # a PostRevision's global ID, or null


@dataclass(frozen=True, slots=True)
class Field:
    kind: Kind
    column: str = ""  # the value's column; for a relation, the column holding its key
    target: str | None = None  # the object type a relation or connection yields
    relation: Relation | None = None


def _columns(**fields: tuple[Kind, str]) -> dict[str, Field]:
    return {name: Field(kind, column) for name, (kind, column) in fields.items()}


def _related(kind: Kind, relation: Relation, target: str | None, column: str = "id") -> Field:
    """A field that reads `relation`'s rows for the key in this row's `column`."""
    return Field(kind, column, target, relation)


TYPE_FIELDS: dict[str, dict[str, Field]] = {
    "Post": {
        "id": Field(Kind.GLOBAL_ID),
        **_columns(
            title=(Kind.STRING, "title"),
            slug=(Kind.STRING, "slug"),
            excerpt=(Kind.STRING, "excerpt"),
            body=(Kind.STRING, "body"),
            html=(Kind.STRING, "html"),
            status=(Kind.STRING, "status"),
            publishedAt=(Kind.NULLABLE_DATETIME, "published_at"),
            updatedAt=(Kind.DATETIME, "updated_at"),
            readingTimeMinutes=(Kind.INTEGER, "reading_time_minutes"),
        ),
        "author": _related(Kind.AUTHOR, relations.AUTHOR, "Author", "author_id"),
        "tags": _related(Kind.TAGS, relations.POST_TAGS, "Tag"),
        "commentCount": _related(Kind.COMMENT_COUNT, relations.POST_COMMENTS, None),
        "comments": _related(Kind.COMMENTS, relations.TOP_LEVEL_COMMENTS, "Comment"),
        "revisions": Field(Kind.REVISIONS, target="PostRevision"),
    },
    "Comment": {
        "id": Field(Kind.GLOBAL_ID),
        **_columns(
            body=(Kind.STRING, "body"),
            status=(Kind.STRING, "status"),
            createdAt=(Kind.DATETIME, "created_at"),
        ),
        "author": _related(Kind.AUTHOR, relations.AUTHOR, "Author", "author_id"),
        "post": _related(Kind.POST, relations.POST, "Post", "post_id"),
        "parent": _related(Kind.PARENT, relations.COMMENT, "Comment", "parent_id"),
        "replies": _related(Kind.REPLIES, relations.REPLIES, "Comment"),
    },
    "Author": {
        "id": Field(Kind.GLOBAL_ID),
        **_columns(
            username=(Kind.STRING, "username"),
            displayName=(Kind.STRING, "display_name"),
            bio=(Kind.STRING, "bio"),
            avatarUrl=(Kind.NULLABLE_STRING, "avatar_url"),
        ),
        "postCount": _related(Kind.POST_COUNT, relations.AUTHOR_POSTS, None),
        "posts": _related(Kind.AUTHOR_POSTS, relations.AUTHOR_POSTS, "Post"),
    },
    "Tag": {
        "id": Field(Kind.GLOBAL_ID),
        **_columns(name=(Kind.STRING, "name"), slug=(Kind.STRING, "slug")),
        "postCount": _related(Kind.POST_COUNT, relations.TAG_POSTS, None),
        "posts": _related(Kind.TAG_POSTS, relations.TAG_POSTS, "Post"),
    },
    # An account (me, user, a User's node): its posts are its author profile's.
    "User": {
        "id": Field(Kind.GLOBAL_ID),
        **_columns(
            username=(Kind.STRING, "username"),
            email=(Kind.STRING, "email"),
            displayName=(Kind.STRING, "display_name"),
            bio=(Kind.STRING, "bio"),
            avatarUrl=(Kind.NULLABLE_STRING, "avatar_url"),
            role=(Kind.STRING, "role"),
            createdAt=(Kind.DATETIME, "created_at"),
        ),
        "posts": _related(Kind.AUTHOR_POSTS, relations.AUTHOR_POSTS, "Post"),
    },
    "PostRevision": {
        "id": Field(Kind.GLOBAL_ID),
        **_columns(
            title=(Kind.STRING, "title"),
            excerpt=(Kind.STRING, "excerpt"),
            body=(Kind.STRING, "body"),
            tags=(Kind.STRING_LIST, "tags"),
            changedFields=(Kind.CHANGED_FIELDS, "changed_fields"),
            createdAt=(Kind.DATETIME, "created_at"),
            restoredFromId=(Kind.NULLABLE_REVISION_ID, "restored_from_id"),
        ),
    },
}

POST_CONNECTION_KINDS = (Kind.AUTHOR_POSTS, Kind.TAG_POSTS)
CONNECTION_KINDS = (Kind.COMMENTS, Kind.REPLIES, Kind.REVISIONS, *POST_CONNECTION_KINDS)
# The root fields a compiled read covers, with their node type; every other root field
# (apiLimits, moderationQueue, webhookEndpoints, introspection) falls back; so do `user` for
# the callers its resolver refuses.
ROOT_FIELDS = {
    "me": "User",
    "user": "User",
    "search": "Post",
    "node": "Node",
    "nodes": "Node",
    "posts": "Post",
    "post": "Post",
    "authors": "Author",
    "author": "Author",
    "tags": "Tag",
    "tag": "Tag",
}
