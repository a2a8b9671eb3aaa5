"""Arguments clients pass: filters, orders and the enums they use."""

from datetime import datetime
from enum import Enum

import strawberry

from models.tables import CommentStatus, PostStatus
from resolvers.posts import PostOrderField

PostStatusEnum = strawberry.enum(PostStatus, name="PostStatus")
CommentStatusEnum = strawberry.enum(CommentStatus, name="CommentStatus")
PostOrderFieldEnum = strawberry.enum(PostOrderField, name="PostOrderField")


@strawberry.enum(description="Sort direction.")
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.input(description="How to order posts; ties are always broken by id.")
class PostOrder:
    field: PostOrderField
    direction: OrderDirection = OrderDirection.DESC


DEFAULT_POST_ORDER = PostOrder(field=PostOrderField.PUBLISHED_AT, direction=OrderDirection.DESC)


@strawberry.input(description="Narrow a list of posts. All given conditions must hold.")
class PostFilter:
    status: PostStatus | None = None
    author_username: str | None = None
    tag_slug: str | None = None
    published_before: datetime | None = None
    published_after: datetime | None = None
