"""The two GraphQL-over-WebSocket protocols (graphql-transport-ws and the legacy graphql-ws),
as Strawberry implements them, with what Quire adds: each operation runs with a context built
from the user's current state, credentials that no longer hold close the socket (4403), a
refused connection_init closes with Quire's own code, and an idle watch starts once the
connection is acknowledged (the policies themselves live in schema/websockets.py)."""

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator
from contextlib import suppress
from typing import Any

from graphql import GraphQLError
from starlette.websockets import WebSocket
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    CompleteMessage,
    ConnectionInitMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    CompleteMessage as LegacyCompleteMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage as LegacyConnectionInitMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.types import ErrorMessage
from strawberry.types.execution import PreExecutionError
from strawberry.utils.aio import aclosing

from resolvers.context import Context, operation_context
from resolvers.errors import QuireError
from resolvers.rate_limits import RateLimitedError, client_key
from schema.limits import answer_rate_limited, document_too_large
from schema.websockets import REVOKED, SocketRefused, Sockets


def _sockets(view: object) -> Sockets:
    sockets = getattr(view, "sockets", None)
    assert isinstance(sockets, Sockets), "the GraphQL view holds the Sockets"
    return sockets


async def _refuse_revoked(context: Context, error: QuireError) -> None:
    """Credentials that no longer hold end the socket, not only the operation."""
    websocket = context.response
    if isinstance(websocket, WebSocket):
        with contextlib.suppress(RuntimeError, OSError):
            await websocket.close(code=REVOKED, reason=f"{error.code}: sign in again.")


async def _admission(context: Context, query: str | None) -> GraphQLError | None:
    """What the view checks over HTTP before anything is parsed, for one operation on a
    socket: the document's size, and one operation spent from the client's and its
    address's budgets, refused documents included (validation is not free)."""
    too_large = document_too_large(query, context.settings)
    if too_large is not None:
        return too_large
    limiter = context.rate_limiter
    if limiter is None:
        return None
    try:
        client = client_key(context.viewer, context.client_address)
        await limiter.spend_operation(client, address=context.client_address)
    except RateLimitedError as error:
        answer_rate_limited(context.response, error)
        return GraphQLError(error.message, extensions=error.extensions)
    return None


def _touch(context: Context, view: object) -> None:
    connection = _sockets(view).connection_of(context)
    if connection is not None:
        connection.active_at = time.monotonic()


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, each operation running as the user is now."""

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except SocketRefused as refusal:
            await self.websocket.close(code=refusal.code, reason=refusal.reason)
            return
        if self.connection_acknowledged:
            _sockets(self.view).watch_idle(self.context, busy=lambda: bool(self.operations))

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        _touch(self.context, self.view)
        refusal = await _admission(self.context, operation.query)
        if refusal is not None:
            await operation.send_initial_errors([refusal])
            return
        try:
            context = await operation_context(self.context)
        except QuireError as error:
            refusal = GraphQLError(error.message, extensions=error.extensions)
            await operation.send_initial_errors([refusal])
            await _refuse_revoked(self.context, error)
            return
        try:
            await self._run_as(operation, context)
        finally:
            _touch(self.context, self.view)
        if context.credentials_error is not None:
            await _refuse_revoked(self.context, context.credentials_error)

    async def _run_as(self, operation: Operation[Context, None], context: Context) -> None:
        """Strawberry's run_operation (0.341.2), with the operation's own context."""
        try:
            result_source = await self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=context,
                root_value=self.root_value,
                operation_name=operation.operation_name,
            )
            async with aclosing(result_source):
                await self._send_result_stream(operation, result_source)
            await operation.send_operation_message(
                CompleteMessage(id=operation.id, type="complete")
            )
        except _OperationStreamClosed:
            return
        except Exception as error:
            await self.handle_task_exception(error)
            with suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """The legacy graphql-ws protocol, each operation running as the user is now."""

    async def handle_connection_init(self, message: LegacyConnectionInitMessage) -> None:
        if self.connection_acknowledged:
            # Strawberry's legacy handler would run each repeat (a lookup, timers, and a
            # socket counted for another user); graphql-transport-ws closes with 4429.
            await self.websocket.close(code=4429, reason="Too many initialisation requests")
            return
        try:
            await super().handle_connection_init(message)
        except SocketRefused as refusal:
            await self.websocket.close(code=refusal.code, reason=refusal.reason)
            return
        if self.connection_acknowledged:
            _sockets(self.view).watch_idle(self.context, busy=lambda: bool(self.tasks))

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        _touch(self.context, self.view)
        refusal = await _admission(self.context, query)
        if refusal is not None:
            self.tasks.pop(operation_id, None)
            await self.send_message(
                ErrorMessage(type="error", id=operation_id, payload=refusal.formatted)
            )
            return
        try:
            context = await operation_context(self.context)
        except QuireError as error:
            self.tasks.pop(operation_id, None)
            payload = GraphQLError(error.message, extensions=error.extensions).formatted
            await self.send_message(ErrorMessage(type="error", id=operation_id, payload=payload))
            await _refuse_revoked(self.context, error)
            return
        try:
            await self._run_as(operation_id, query, operation_name, variables, context)
        finally:
            _touch(self.context, self.view)
        if context.credentials_error is not None:
            await _refuse_revoked(self.context, context.credentials_error)

    async def _run_as(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
        context: Context,
    ) -> None:
        """Strawberry's handle_async_results (0.341.2), with the operation's own context."""
        try:
            result_source: AsyncGenerator[Any, None] = await self.schema.subscribe(
                query=query,
                variable_values=variables,
                operation_name=operation_name,
                context_value=context,
                root_value=self.root_value,
            )
            self.subscriptions[operation_id] = result_source
            is_first_result = True
            async for result in result_source:
                if is_first_result and isinstance(result, PreExecutionError):
                    assert result.errors
                    await self.send_message(
                        ErrorMessage(
                            type="error", id=operation_id, payload=result.errors[0].formatted
                        )
                    )
                    return
                await self.send_data_message(result, operation_id)
                is_first_result = False
            await self.send_message(LegacyCompleteMessage(type="complete", id=operation_id))
        except asyncio.CancelledError:
            await self.send_message(LegacyCompleteMessage(type="complete", id=operation_id))
        finally:
            self.subscriptions.pop(operation_id, None)
            self.tasks.pop(operation_id, None)
