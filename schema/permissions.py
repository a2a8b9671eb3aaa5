"""Who may call what: permission classes for fields, and the check of the credentials."""

from collections.abc import Iterator
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
)
from strawberry.extensions import SchemaExtension
from strawberry.permission import BasePermission

from models.tables import Role
from resolvers.authorization import may_moderate, may_write_posts
from resolvers.context import Info
from resolvers.errors import ForbiddenError, UnauthenticatedError


class IsAuthenticated(BasePermission):
    message = "Log in to do this."

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if info.context.viewer.user_id is None:
            raise UnauthenticatedError("Log in to do this: send 'Authorization: Bearer <token>'.")
        return True


# Operations that start or end a session work whatever access token comes along: a client
# whose HTTP layer attaches its expired token must still be able to refresh or log in again.
SESSION_FIELDS = frozenset({"signUp", "logIn", "refreshToken", "logOut"})


def _root_fields(document: DocumentNode | None, operation_name: str | None) -> set[str]:
    names: set[str] = set()
    for definition in document.definitions if document else ():
        if isinstance(definition, OperationDefinitionNode) and (
            operation_name is None or (definition.name and definition.name.value == operation_name)
        ):
            names.update(
                selection.name.value
                for selection in definition.selection_set.selections
                if isinstance(selection, FieldNode)
            )
    return names


class RefuseBadCredentials(SchemaExtension):
    """An operation sent with a bad bearer token is refused before it runs: expired tokens
    with TOKEN_EXPIRED (refresh and retry), anything else with UNAUTHENTICATED."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        error = getattr(context.context, "credentials_error", None)
        root_fields = _root_fields(context.graphql_document, context.operation_name)
        if error is not None and not (root_fields and root_fields <= SESSION_FIELDS):
            self.execution_context.result = ExecutionResult(
                data=None,
                errors=[GraphQLError(error.message, original_error=error)],
            )
        yield


class CanWritePosts(BasePermission):
    message = "Only authors, editors and admins can write posts."

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        viewer = info.context.viewer
        if viewer.user_id is None:
            raise UnauthenticatedError("Log in to write posts.")
        if not may_write_posts(viewer):
            raise ForbiddenError("Only authors, editors and admins can write posts.")
        return True


class CanModerate(BasePermission):
    message = "Only editors and admins can moderate comments."

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        viewer = info.context.viewer
        if viewer.user_id is None:
            raise UnauthenticatedError("Log in to moderate comments.")
        if not may_moderate(viewer):
            raise ForbiddenError("Only editors and admins can moderate comments.")
        return True


class IsAdmin(BasePermission):
    message = "Only admins can do this."

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        viewer = info.context.viewer
        if viewer.user_id is None:
            raise UnauthenticatedError("Log in as an admin to do this.")
        if viewer.role is not Role.ADMIN:
            raise ForbiddenError("Only admins can do this.")
        return True
