from __future__ import annotations

import hashlib

from mana.kit.hashing import canonical_json, input_hash


def test_input_hash_is_sha256_of_canonical_json() -> None:
    args = {"title": "Grüße", "due": "2026-12-01", "tags": ["b", "a"]}
    expected = hashlib.sha256(
        '{"due":"2026-12-01","tags":["b","a"],"title":"Grüße"}'.encode()
    ).hexdigest()
    assert input_hash(args) == expected


def test_key_order_and_whitespace_do_not_change_the_hash() -> None:
    assert input_hash({"a": 1, "b": {"y": 2, "x": 1}}) == input_hash(
        {"b": {"x": 1, "y": 2}, "a": 1}
    )
    assert canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'


def test_no_arguments_hash_like_an_empty_object() -> None:
    assert input_hash(None) == input_hash({}) == hashlib.sha256(b"{}").hexdigest()
