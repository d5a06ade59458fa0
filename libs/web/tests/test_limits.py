"""Where unstorable text is found in a parsed JSON document (the HTTP behaviour is tested
over real processes in tests/fuzzing/test_input_limits.py)."""

from __future__ import annotations

import json

from marcus_web.limits import body_locations, unstorable_locations


def test_nul_and_unpaired_surrogates_are_found_at_any_depth_keys_included() -> None:
    document = json.loads(
        '{"a": "ok", "b": ["x", {"c": "bad\\u0000"}], "k\\ud800": 1, "d": "\\udfff"}'
    )
    assert unstorable_locations(document) == [("b", "1", "c"), (), ("d",)]


def test_valid_text_emoji_pairs_included_is_not_flagged() -> None:
    body = b'{"name": "\\ud83d\\udeb2 e\\u0301 \\u05e1", "n": 1, "x": null}'
    assert body_locations(body) == []
    assert body_locations(b'{"name": "\\u0000"}') == [("body", "name")]


def test_bodies_that_are_not_json_are_left_to_the_route() -> None:
    assert body_locations(b'{"name": "\\u0000"') == []
    assert body_locations(b"[" * 100_000 + b'"\\u0000"' + b"]" * 100_000) == []
