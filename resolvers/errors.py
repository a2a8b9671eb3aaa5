"""What clients can act on: refusals (GraphQL errors with a stable `extensions.code`) and
problems (returned in a payload's `errors`, for input the user can fix)."""

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Problem:
    """Something the user can fix, tied to an input field where there is one."""

    field: str | None
    message: str
    code: str


class QuireError(Exception):
    """An expected error: its message and extensions reach the client unmasked."""

    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions: dict[str, Any] = {"code": self.code, **extensions}


class BadUserInputError(QuireError):
    code = "BAD_USER_INPUT"


class BadCursorError(QuireError):
    code = "BAD_CURSOR"


class UnauthenticatedError(QuireError):
    code = "UNAUTHENTICATED"


class TokenExpiredError(QuireError):
    code = "TOKEN_EXPIRED"


class ForbiddenError(QuireError):
    code = "FORBIDDEN"


class TooManyAttemptsError(QuireError):
    code = "TOO_MANY_ATTEMPTS"


class NotFoundError(QuireError):
    code = "NOT_FOUND"


class PreviewTokenInvalidError(QuireError):
    code = "PREVIEW_TOKEN_INVALID"


class PreviewTokenExpiredError(QuireError):
    code = "PREVIEW_TOKEN_EXPIRED"


class PreviewTokenRevokedError(QuireError):
    code = "PREVIEW_TOKEN_REVOKED"
