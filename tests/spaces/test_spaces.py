"""Spaces: personal at sign-up, shared ones created by their owner and joined by invitation."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.fixtures.database import Db
from tests.fixtures.servers import AuthService, unique_email


class Person:
    """A signed-up user with an authenticated client."""

    def __init__(self, auth: AuthService, email: str | None = None) -> None:
        self.user, token = auth.user_token(email)
        self.email: str = self.user["email"]
        self.client: httpx.Client = auth.client(token)

    def create_space(self, name: str = "Family", type: str = "family") -> dict[str, Any]:
        response = self.client.post("/api/v1/spaces", json={"name": name, "type": type})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def invite(self, space_id: str, email: str) -> httpx.Response:
        return self.client.post(f"/api/v1/spaces/{space_id}/invitations", json={"email": email})

    def accept(self, invitation_id: str) -> httpx.Response:
        return self.client.post(f"/api/v1/invitations/{invitation_id}/accept")

    def spaces(self) -> list[dict[str, Any]]:
        return list(self.client.get("/api/v1/spaces").json())


MakePerson = Callable[..., Person]


@pytest.fixture
def person(auth: AuthService) -> Iterator[MakePerson]:
    """Makes signed-up users; their clients are closed after the test."""
    people: list[Person] = []

    def make(email: str | None = None) -> Person:
        people.append(Person(auth, email))
        return people[-1]

    yield make
    for someone in people:
        someone.client.close()


def invited(owner: Person, space_id: str, email: str) -> dict[str, Any]:
    response = owner.invite(space_id, email)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_creating_a_shared_space_makes_the_caller_its_owner(person: MakePerson) -> None:
    alice = person()
    space = alice.create_space("Team Rocket", "team")
    assert space["name"] == "Team Rocket"
    assert (space["type"], space["role"]) == ("team", "owner")
    assert [(s["type"], s["role"]) for s in alice.spaces()] == [
        ("personal", "owner"),
        ("team", "owner"),
    ]
    detail = alice.client.get(f"/api/v1/spaces/{space['id']}").json()
    assert [(m["email"], m["role"]) for m in detail["members"]] == [(alice.email, "owner")]


def test_a_personal_space_cannot_be_created_by_hand(person: MakePerson) -> None:
    alice = person()
    response = alice.client.post("/api/v1/spaces", json={"name": "Mine", "type": "personal"})
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["details"]] == ["type"]


def test_space_requests_without_a_token_are_401(auth: AuthService) -> None:
    with auth.client() as anonymous:
        assert anonymous.get("/api/v1/spaces").status_code == 401
        assert (
            anonymous.post("/api/v1/spaces", json={"name": "x", "type": "team"}).status_code == 401
        )


def test_owner_invites_by_email_and_the_invitee_accepts(person: MakePerson) -> None:
    owner, invitee = person(), person()
    space = owner.create_space("The Smiths", "family")

    # The address is matched case-insensitively.
    invitation = invited(owner, space["id"], invitee.email.upper())
    assert invitation["email"] == invitee.email
    assert (invitation["status"], invitation["spaceId"]) == ("pending", space["id"])
    # Inviting again is harmless: the same pending invitation, 200 instead of 201.
    again = owner.invite(space["id"], invitee.email)
    assert again.status_code == 200
    assert again.json()["id"] == invitation["id"]

    pending = invitee.client.get("/api/v1/invitations").json()
    assert [(i["id"], i["spaceName"]) for i in pending] == [(invitation["id"], "The Smiths")]

    accepted = invitee.accept(invitation["id"])
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["id"], accepted.json()["role"]) == (space["id"], "member")
    assert (space["id"], "member") in [(s["id"], s["role"]) for s in invitee.spaces()]
    detail = invitee.client.get(f"/api/v1/spaces/{space['id']}").json()
    assert sorted((m["email"], m["role"]) for m in detail["members"]) == sorted(
        [(owner.email, "owner"), (invitee.email, "member")]
    )
    assert invitee.client.get("/api/v1/invitations").json() == []
    # Accepting twice changes nothing.
    assert invitee.accept(invitation["id"]).status_code == 200
    assert len(invitee.client.get(f"/api/v1/spaces/{space['id']}").json()["members"]) == 2


def test_a_stranger_cannot_accept_someone_elses_invitation(person: MakePerson, db: Db) -> None:
    owner, invitee, stranger = person(), person(), person()
    space = owner.create_space()
    invitation = invited(owner, space["id"], invitee.email)

    response = stranger.accept(invitation["id"])
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert stranger.client.get(f"/api/v1/spaces/{space['id']}").status_code == 404
    assert space["id"] not in [s["id"] for s in stranger.spaces()]
    assert stranger.client.get("/api/v1/invitations").json() == []
    # The invitation is still there for the right person.
    status = db.scalar(
        "SELECT status FROM auth.space_invitations WHERE email = :e", e=invitee.email
    )
    assert status == "pending"
    assert invitee.accept(invitation["id"]).status_code == 200


def test_accepting_an_unknown_invitation_is_404(person: MakePerson) -> None:
    alice = person()
    assert alice.accept(str(uuid.uuid4())).status_code == 404


def test_non_members_get_404_for_a_space_exactly_as_for_a_missing_one(person: MakePerson) -> None:
    owner, outsider = person(), person()
    space = owner.create_space()
    personal = owner.spaces()[0]
    hidden = outsider.client.get(f"/api/v1/spaces/{space['id']}")
    missing = outsider.client.get(f"/api/v1/spaces/{uuid.uuid4()}")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    assert outsider.client.get(f"/api/v1/spaces/{personal['id']}").status_code == 404
    # Nor can a non-member invite anyone into it.
    assert outsider.invite(space["id"], outsider.email).status_code == 404


def test_members_who_are_not_the_owner_get_403_for_owner_actions(person: MakePerson) -> None:
    owner, member = person(), person()
    space = owner.create_space()
    assert member.accept(invited(owner, space["id"], member.email)["id"]).status_code == 200

    response = member.invite(space["id"], unique_email())
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_a_personal_space_cannot_be_shared(person: MakePerson) -> None:
    alice = person()
    personal = alice.spaces()[0]
    assert personal["type"] == "personal"
    assert alice.invite(personal["id"], unique_email()).status_code == 403


def test_inviting_an_existing_member_is_409(person: MakePerson) -> None:
    owner = person()
    space = owner.create_space()
    response = owner.invite(space["id"], owner.email)
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"


def test_an_invitation_waits_for_someone_who_signs_up_later(person: MakePerson) -> None:
    owner = person()
    space = owner.create_space("Practice", "practice")
    email = unique_email("newcomer")
    invitation = invited(owner, space["id"], email)

    newcomer = person(email)
    assert [i["id"] for i in newcomer.client.get("/api/v1/invitations").json()] == [
        invitation["id"]
    ]
    assert newcomer.accept(invitation["id"]).status_code == 200
    assert (space["id"], "member") in [(s["id"], s["role"]) for s in newcomer.spaces()]


def test_an_expired_invitation_cannot_be_accepted_until_renewed(
    auth: AuthService, person: MakePerson
) -> None:
    owner, invitee = person(), person()
    space = owner.create_space()
    invitation = invited(owner, space["id"], invitee.email)

    auth.clock.advance(timedelta(days=15))
    assert invitee.client.get("/api/v1/invitations").json() == []
    response = invitee.accept(invitation["id"])
    assert response.status_code == 409
    assert space["id"] not in [s["id"] for s in invitee.spaces()]

    renewed = owner.invite(space["id"], invitee.email)
    assert renewed.status_code == 201
    assert renewed.json()["id"] == invitation["id"]
    assert invitee.accept(invitation["id"]).status_code == 200


def test_space_names_are_validated(person: MakePerson) -> None:
    alice = person()
    for name in ("", "x" * 121, "nul\u0000byte"):
        response = alice.client.post("/api/v1/spaces", json={"name": name, "type": "team"})
        assert response.status_code == 422, name
        assert [d["field"] for d in response.json()["details"]] == ["name"]
    response = alice.client.post(
        "/api/v1/spaces", json={"name": "x", "type": "team", "ownerId": "1"}
    )
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["details"]] == ["ownerId"]
