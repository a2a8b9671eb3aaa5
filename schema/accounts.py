"""Accounts as clients see them: the signed-in user, sign-up and log-in, sessions."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Self

import strawberry
from sqlalchemy.engine import Row
from strawberry import relay

from models.tables import Role
from resolvers import accounts, administration, profiles
from resolvers.cache_tags import EVERYTHING, author_changed
from resolvers.context import Info
from resolvers.errors import ForbiddenError, NotFoundError, Problem
from resolvers.events import Event, publish
from resolvers.rate_limits import RateLimitedError
from resolvers.response_cache import invalidate
from schema.connections import Connection
from schema.ids import user_id_of
from schema.inputs import PostOrder
from schema.limits import answer_rate_limited
from schema.permissions import IsAdmin, IsAuthenticated
from schema.types import Post, load_post_connection

RoleEnum = strawberry.enum(Role, name="Role")


@strawberry.type(description="A problem with the input that the user can fix.")
class UserError:
    field: str | None = strawberry.field(description="The input field, when there is one.")
    message: str
    code: str

    @classmethod
    def from_problem(cls, problem: Problem) -> Self:
        return cls(field=problem.field, message=problem.message, code=problem.code)


@strawberry.type(
    description="An account with its email and role: the signed-in user's own, or anyone's for "
    "admins. Its ID is not the ID of the same person's Author profile (two types, two IDs)."
)
class User(relay.Node):
    id: relay.NodeID[int]
    username: str
    email: str
    display_name: str
    bio: str
    avatar_url: str | None
    role: Role
    created_at: datetime

    @strawberry.field(description="Your posts, drafts and scheduled ones included.")
    async def posts(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        order_by: PostOrder | None = None,
    ) -> Connection[Post]:
        loaders = info.context.loaders
        return await load_post_connection(
            info,
            parent_id=self.id,
            order=order_by,
            arguments=(first, after, last, before),
            pages=loaders.post_page_by_author_id,
            counts=loaders.post_count_by_author_id,
        )

    @classmethod
    def from_row(cls, row: Row[Any]) -> Self:
        return cls(
            id=row.id,
            username=row.username,
            email=row.email,
            display_name=row.display_name,
            bio=row.bio,
            avatar_url=row.avatar_url,
            role=Role(row.role),
            created_at=row.created_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        """An account is a node for itself and for admins; for anyone else it does not exist."""
        viewer, database = info.context.viewer, info.context.database
        found: list[Self | None] = []
        for user_id in map(int, node_ids):
            visible = viewer.role is Role.ADMIN or viewer.user_id == user_id
            row = await administration.account_by_id(database, user_id) if visible else None
            found.append(None if row is None else cls.from_row(row))
        return found


@strawberry.type(description="A session: tokens on success, problems otherwise.")
class AuthPayload:
    user: User | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    access_token_expires_at: datetime | None = None
    device_token: str | None = strawberry.field(
        default=None,
        description=(
            "From logIn and signUp: keep it on this client (one per account) and send it with "
            "the next logIn as `deviceToken`. Wrong passwords from clients without one never "
            "delay or lock out a client with one."
        ),
    )
    errors: list[UserError] = strawberry.field(default_factory=list)

    @classmethod
    def from_session(cls, session: accounts.Session) -> Self:
        if session.user is None or session.issued is None:
            return cls(errors=[UserError.from_problem(problem) for problem in session.problems])
        return cls(
            user=User.from_row(session.user),
            access_token=session.issued.access_token,
            refresh_token=session.issued.refresh_token,
            access_token_expires_at=session.issued.access_token_expires_at,
            device_token=session.device_token,
        )


@strawberry.input
class SignUpInput:
    username: str
    email: str
    password: str
    display_name: str


@strawberry.input
class LogInInput:
    username_or_email: str
    password: str
    device_token: str | None = strawberry.field(
        default=None,
        description=(
            "The deviceToken an earlier logIn or signUp gave this client for this account: "
            "its failed attempts then have a budget of their own. Optional; an invalid or "
            "expired one counts as none."
        ),
    )


@strawberry.type
class AccountQuery:
    @strawberry.field(description="The signed-in user; null for an anonymous caller.")
    async def me(self, info: Info) -> User | None:
        # "Who am I?" has an answer without a session: nobody. A bad or expired token still
        # refuses the whole operation (RefuseBadCredentials), so the client learns to refresh.
        user_id = info.context.viewer.user_id
        if user_id is None:
            return None
        row = await accounts.active_user(info.context.database, user_id)
        return None if row is None else User.from_row(row)

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="An account with its email and role: your own, or anyone's for admins.",
    )
    async def user(self, info: Info, id: strawberry.ID) -> User | None:
        target = user_id_of(id, "id")
        if target != _signed_in(info) and info.context.viewer.role is not Role.ADMIN:
            raise ForbiddenError("Only admins can see other people's accounts.")
        row = await administration.account_by_id(info.context.database, target)
        return None if row is None else User.from_row(row)


@strawberry.input
class UpdateProfileInput:
    display_name: str | None = None
    bio: str | None = None
    avatar_url: str | None = strawberry.field(
        default=None, description="An https:// address; an empty string removes it."
    )


@strawberry.type
class ProfilePayload:
    user: User | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AccountMutation:
    @strawberry.mutation(description="Create a reader account and start a session.")
    async def sign_up(self, info: Info, input: SignUpInput) -> AuthPayload:
        context = info.context
        try:
            session = await accounts.sign_up(
                context.database,
                settings=context.settings,
                passwords=context.passwords,
                rate_limiter=context.rate_limiter,
                client_address=context.client_address,
                sign_up=accounts.SignUp(
                    username=input.username,
                    email=input.email,
                    password=input.password,
                    display_name=input.display_name,
                ),
            )
        except RateLimitedError as error:
            answer_rate_limited(context.response, error)
            raise
        if session.user is not None:
            # A new profile: author(username:) no longer answers null for it.
            await invalidate(context.invalidator, author_changed(session.user.id))
        return AuthPayload.from_session(session)

    @strawberry.mutation(description="Start a session with a username or email and password.")
    async def log_in(self, info: Info, input: LogInInput) -> AuthPayload:
        context = info.context
        session = await accounts.log_in(
            context.database,
            settings=context.settings,
            passwords=context.passwords,
            throttle=context.throttle,
            client_address=context.client_address,
            username_or_email=input.username_or_email,
            password=input.password,
            device_token=input.device_token,
        )
        return AuthPayload.from_session(session)

    @strawberry.mutation(
        description="Trade a refresh token for new tokens. Each refresh token works once."
    )
    async def refresh_token(self, info: Info, refresh_token: str) -> AuthPayload:
        session = await accounts.refresh_session(
            info.context.database, settings=info.context.settings, refresh_token=refresh_token
        )
        return AuthPayload.from_session(session)

    @strawberry.mutation(description="End the session the refresh token belongs to.")
    async def log_out(self, info: Info, refresh_token: str) -> bool:
        return await accounts.log_out(info.context.database, refresh_token=refresh_token)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="End every session of your account."
    )
    async def log_out_everywhere(self, info: Info) -> int:
        user_id = _signed_in(info)
        ended = await profiles.log_out_everywhere(info.context.database, user_id=user_id)
        await publish(info.context, Event("credentials_changed", user_id))
        return ended

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Change your password; every other session ends.",
    )
    async def change_password(
        self, info: Info, current_password: str, new_password: str
    ) -> AuthPayload:
        context = info.context
        session = await profiles.change_password(
            context.database,
            settings=context.settings,
            passwords=context.passwords,
            throttle=context.throttle,
            user_id=_signed_in(info),
            current_password=current_password,
            new_password=new_password,
        )
        if session.issued is not None:
            await publish(context, Event("credentials_changed", _signed_in(info)))
        return AuthPayload.from_session(session)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def update_profile(self, info: Info, input: UpdateProfileInput) -> ProfilePayload:
        user, problems = await profiles.update_profile(
            info.context.database,
            user_id=_signed_in(info),
            change=profiles.ProfileChange(
                display_name=input.display_name, bio=input.bio, avatar_url=input.avatar_url
            ),
        )
        if user is not None and not problems:
            await invalidate(info.context.invalidator, author_changed(user.id))
        return ProfilePayload(
            user=None if user is None else User.from_row(user),
            errors=[UserError.from_problem(problem) for problem in problems],
        )


@strawberry.type
class AdministrationMutation:
    @strawberry.mutation(permission_classes=[IsAdmin], description="Admins: change a role.")
    async def set_user_role(self, info: Info, user_id: strawberry.ID, role: Role) -> User:
        return await _administer(info, user_id, role=role)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Admins: deactivate (ending every session) or reactivate a user.",
    )
    async def set_user_active(self, info: Info, user_id: strawberry.ID, active: bool) -> User:
        return await _administer(info, user_id, active=active)


async def _administer(
    info: Info, user_id: strawberry.ID, *, role: Role | None = None, active: bool | None = None
) -> User:
    target = user_id_of(user_id, "userId")
    if target == _signed_in(info):
        raise ForbiddenError("Admins cannot change their own role or deactivate themselves.")
    row, changed = await administration.administer_user(
        info.context.database, user_id=target, role=role, active=active
    )
    if row is None:
        raise NotFoundError("No such user.")
    if changed:
        # Which of the user's posts, comments and profile anyone sees may change with it.
        await invalidate(info.context.invalidator, {EVERYTHING})
        await publish(info.context, Event("credentials_changed", target))
    return User.from_row(row)


def _signed_in(info: Info) -> int:
    user_id = info.context.viewer.user_id
    assert user_id is not None, "IsAuthenticated runs first"
    return user_id
