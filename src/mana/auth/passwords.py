"""Password hashing (argon2id, OWASP parameters) and the sign-up password policy.

Hashing costs ~30 ms of CPU, so it always runs in a worker thread: on the event loop it would
stall every other request for that long.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128

# OWASP's minimum for argon2id: m=19 MiB, t=2, p=1.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the user does not exist, so a missing account costs the same time as a
# wrong password (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash("dummy password for timing equalisation")

# Hashes run on a pool of their own with one thread per core (issue 14): more threads would
# only time-slice the same cores, each with its own 19 MiB working set, and slow the event loop
# they share the cores with; and the event loop's default executor (everything else that uses
# `to_thread`) never queues behind a burst of sign-ins. A sign-in beyond that many waits its
# turn in the queue, off the event loop.
_HASHING = ThreadPoolExecutor(
    max_workers=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    thread_name_prefix="argon2",
)


class WeakPassword(ValueError):
    pass


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("mana.auth").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"must be at most {MAX_PASSWORD_LENGTH} characters")
    if password.lower() in common_passwords():
        raise WeakPassword("is too common; choose a less guessable password")


def hash_password_sync(password: str) -> str:
    return _hasher.hash(password)


def verify_password_sync(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_HASHING, hash_password_sync, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-ish time: with no hash (unknown user) a dummy hash is verified instead."""
    return await asyncio.get_running_loop().run_in_executor(
        _HASHING, verify_password_sync, password_hash, password
    )


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
