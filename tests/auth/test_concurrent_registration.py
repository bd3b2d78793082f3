"""Sign-ups racing for one email: the unique index decides, exactly one account results."""

from __future__ import annotations

import threading

import httpx

from tests.fixtures.database import Db
from tests.fixtures.servers import DEFAULT_PASSWORD, AuthService, unique_email

RACERS = 4


def test_concurrent_registrations_of_one_email_create_exactly_one_user(
    auth: AuthService, db: Db
) -> None:
    email = unique_email("race")
    # Different spellings of one address, so the race is also about case-insensitivity.
    spellings = [email, email.upper(), email.title(), email]
    barrier = threading.Barrier(RACERS, timeout=30)
    statuses: list[int] = []
    lock = threading.Lock()

    def register(spelling: str) -> None:
        with httpx.Client(base_url=auth.url, timeout=60) as client:
            client.get("/health")  # connect before the barrier: the POSTs then start together
            barrier.wait()
            response = client.post(
                "/api/v1/auth/register", json={"email": spelling, "password": DEFAULT_PASSWORD}
            )
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=register, args=(s,)) for s in spellings]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads)

    assert sorted(statuses) == [201] + [409] * (RACERS - 1)
    assert db.scalar("SELECT count(*) FROM auth.users WHERE email = :e", e=email) == 1
    # The winner's personal space was created in the same transaction; the losers left nothing.
    assert (
        db.scalar(
            "SELECT count(*) FROM auth.spaces s JOIN auth.users u ON u.id = s.personal_owner_id "
            "WHERE u.email = :e",
            e=email,
        )
        == 1
    )
    assert (
        db.scalar(
            "SELECT count(*) FROM auth.space_members m JOIN auth.users u ON u.id = m.user_id "
            "WHERE u.email = :e",
            e=email,
        )
        == 1
    )
