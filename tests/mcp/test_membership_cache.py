from __future__ import annotations

import uuid

from mana.mcp.spaces import MembershipCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_confirmed_membership_is_remembered_until_its_time_is_up() -> None:
    clock = Clock()
    cache = MembershipCache(ttl=5.0, monotonic=clock)
    user, space = uuid.uuid4(), uuid.uuid4()
    assert cache.get(user, space) is None
    cache.put(user, space, space)
    cache.put(user, None, space)
    clock.now = 4.9
    assert cache.get(user, space) == space and cache.get(user, None) == space
    assert cache.get(uuid.uuid4(), space) is None  # another user: not theirs
    clock.now = 5.0
    assert cache.get(user, space) is None


def test_a_zero_ttl_caches_nothing_and_the_size_is_bounded() -> None:
    off = MembershipCache(ttl=0)
    user, space = uuid.uuid4(), uuid.uuid4()
    off.put(user, space, space)
    assert off.get(user, space) is None

    small = MembershipCache(ttl=60, max_entries=3)
    users = [uuid.uuid4() for _ in range(5)]
    for u in users:
        small.put(u, None, space)
    assert [small.get(u, None) for u in users] == [None, None, space, space, space]
