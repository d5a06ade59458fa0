"""Reading `STREAM_RETENTION`: policies, patterns, the most specific match, refusals."""

from __future__ import annotations

import pytest

from marcus_eventstore.retention import (
    DEFAULT_RETENTION,
    KEEP,
    RetentionError,
    RetentionPolicy,
    format_duration,
    is_dead_letter_stream,
    parse_policy,
    parse_retention,
)

DAY = 86_400


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ("7d", RetentionPolicy(max_age_s=7 * DAY)),
        ("36h", RetentionPolicy(max_age_s=36 * 3600)),
        ("15m", RetentionPolicy(max_age_s=900)),
        ("90s", RetentionPolicy(max_age_s=90)),
        ("1.5d", RetentionPolicy(max_age_s=1.5 * DAY)),
        ("1000000", RetentionPolicy(max_length=1_000_000)),
        ("7d,1000000", RetentionPolicy(max_age_s=7 * DAY, max_length=1_000_000)),
        (" 1000 , 2H ", RetentionPolicy(max_age_s=7200, max_length=1000)),
        ("keep", KEEP),
        ("none", KEEP),
        ("KEEP", KEEP),
    ],
)
def test_a_policy_is_an_age_a_length_both_or_keep(text: str, policy: RetentionPolicy) -> None:
    assert parse_policy(text) == policy


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty policy"),
        ("7w", "neither an age"),
        ("-5", "neither an age"),
        ("0", "at least 1"),
        ("0d", "more than 0"),
        ("7d,8d", "two ages"),
        ("10,20", "two lengths"),
        ("keep,7d", "cannot be combined"),
        ("7 d", "neither an age"),
    ],
)
def test_a_bad_policy_says_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(RetentionError, match=why):
        parse_policy(text)


def test_the_most_specific_pattern_wins() -> None:
    retention = parse_retention(
        "events.*=7d;events.orders=7d,1000000;dlq.*=30d;events.cat*=2d;events.c*=3d"
    )
    assert retention.policy_for("events.orders") == RetentionPolicy(7 * DAY, 1_000_000)
    assert retention.policy_for("events.catalog") == RetentionPolicy(2 * DAY)
    assert retention.policy_for("events.cart") == RetentionPolicy(3 * DAY)
    assert retention.policy_for("events.indexer") == RetentionPolicy(7 * DAY)
    assert retention.policy_for("dlq.indexer") == RetentionPolicy(30 * DAY)
    assert retention.policy_for("snapshots.catalog.1") == KEEP, "no pattern: kept"
    rule = retention.rule_for("events.orders")
    assert rule is not None and rule.pattern == "events.orders"


def test_equally_specific_patterns_keep_the_first_written() -> None:
    retention = parse_retention("events.?atalog=1d;events.c?talog=2d")
    assert retention.policy_for("events.catalog") == RetentionPolicy(DAY)


def test_keep_overrides_a_wider_pattern() -> None:
    retention = parse_retention("events.*=7d;events.catalog=keep")
    assert retention.policy_for("events.catalog").keeps_all
    assert not retention.policy_for("events.orders").keeps_all


def test_the_default_keeps_events_six_days_and_dead_letters_a_month() -> None:
    retention = parse_retention(DEFAULT_RETENTION)
    assert retention.policy_for("events.catalog") == RetentionPolicy(max_age_s=6 * DAY)
    assert retention.policy_for("dlq.orders") == RetentionPolicy(max_age_s=30 * DAY)
    assert str(retention) == DEFAULT_RETENTION, "written back as read"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("events.*", "expected pattern=policy"),
        ("=7d", "expected pattern=policy"),
        ("events.*=7d;events.*=8d", "given twice"),
        ("events.*=7x", r"events\.\*: .*neither an age"),
        ("dlq.*=", "dlq.*: empty policy"),
    ],
)
def test_a_bad_setting_names_the_part_that_is_wrong(text: str, why: str) -> None:
    with pytest.raises(RetentionError, match=why):
        parse_retention(text)


def test_empty_parts_are_ignored_and_nothing_set_keeps_everything() -> None:
    assert parse_retention("events.*=7d;;").policy_for("events.x") == RetentionPolicy(7 * DAY)
    assert parse_retention("").policy_for("events.catalog") == KEEP


def test_policies_read_back_for_people() -> None:
    assert format_duration(7 * DAY) == "7d" and format_duration(5400) == "90m"
    assert format_duration(1.5) == "1.5s"
    assert RetentionPolicy(7 * DAY, 1000).describe() == "7d or 1000 entries"
    assert str(RetentionPolicy(7 * DAY, 1000)) == "7d,1000"
    assert KEEP.describe() == "keep"


def test_dead_letter_streams_are_known_by_name_under_any_prefix() -> None:
    assert is_dead_letter_stream("dlq.indexer")
    assert is_dead_letter_stream("test-1a2b:dlq.indexer")
    assert is_dead_letter_stream("staging.dlq.orders")
    assert not is_dead_letter_stream("events.catalog")
    assert not is_dead_letter_stream("dlq-staging:events.orders")
