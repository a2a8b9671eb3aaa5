"""Scenario (e)'s viewer: an access token for an active seeded reader, minted with Quire's own
token code (resolvers/tokens.py) and the secret run.sh gave the servers (QUIRE_SECRET_KEY in
the environment, with the rest of Quire's settings read the way the servers read them).

The bench servers' database role only reads, so nobody can log in through the API (logIn
writes a refresh token): the token is minted here instead. Quire checks it like any other: the
signature, expiry, issuer and audience, then the user row (active, the same token_version).
"""

from dataclasses import dataclass

from models.tables import Role
from resolvers.tokens import issue_access_token
from settings import Settings


@dataclass(frozen=True, slots=True)
class Reader:
    user_id: int
    username: str
    token_version: int


# The active reader with the most comments: a signed-in reader sees their own pending comments,
# so this viewer's visibility rules have rows to decide on.
READER_SQL = """
select json_build_object('user_id', u.id, 'username', u.username,
                         'token_version', u.token_version)
from users u left join comments c on c.author_id = u.id
where u.role = 'READER' and u.is_active
group by u.id
order by count(c.id) desc, u.id
limit 1;
"""


def bearer_authorization(reader: Reader) -> str:
    """A fresh token each call: a long bench outlives one (QUIRE_ACCESS_TOKEN_MINUTES)."""
    token, _expires_at = issue_access_token(
        Settings(),
        user_id=reader.user_id,
        role=Role.READER,
        token_version=reader.token_version,
    )
    return f"Bearer {token}"
