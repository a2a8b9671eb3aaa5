"""The demo publication in tests: seeded into the test's (emptied) database, and signed in."""

from models.demo_publication import ACCOUNTS
from models.passwords import create_passwords
from models.seed import DemoAccountPassword, seed_demo_publication
from resolvers.tokens import issue_access_token
from settings import Settings

USER_IDS = {account.username: i for i, account in enumerate(ACCOUNTS, 1)}
ROLES = {account.username: account.role for account in ACCOUNTS}


async def seed_demo(settings: Settings) -> list[DemoAccountPassword]:
    credentials = await seed_demo_publication(
        settings.database_url, passwords=create_passwords(settings), reset=True
    )
    assert credentials is not None
    return credentials


def demo_headers(settings: Settings, username: str | None) -> dict[str, str]:
    """The Authorization header of a demo account; none for `None` (anonymous)."""
    if username is None:
        return {}
    token, _ = issue_access_token(settings, user_id=USER_IDS[username], role=ROLES[username])
    return {"Authorization": f"Bearer {token}"}
