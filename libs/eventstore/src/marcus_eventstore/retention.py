"""Stream retention: how long each Redis stream keeps its entries (issue 24).

History lives in PostgreSQL: each service's event table is the source of truth, and
`make republish` re-publishes any part of it. A stream is a transport with retention,
one policy per stream, set by `STREAM_RETENTION`:

    events.*=7d;events.orders=7d,1000000;dlq.*=30d

Patterns are globs on the stream name without `STREAM_PREFIX`; the most specific match
wins (a name without wildcards over any glob, then the pattern with more literal
characters, then the one written first). A policy is an age (`s`, `m`, `h`, `d`), a
length (a bare integer: the newest entries kept), both (whichever trims more), or `keep`
/ `none` (never trimmed). A stream no pattern matches is kept.

`apply_retention` trims with `XTRIM MINID` and never above the **floor** of
`marcus_eventstore.trimming` (each group's oldest pending entry, else its first
undelivered one): an entry a group has not acknowledged is never removed, whatever the
policy says. A stream without a group is not trimmed (nothing is known to be consumed),
except a dead-letter stream (`dlq.*`), which has no group by design: people read it, so
its policy applies directly.
"""

from __future__ import annotations

import fnmatch
import re
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from marcus_eventstore.trimming import (
    age_id,
    count_below,
    group_floor,
    id_key,
    trim_below,
)

DEFAULT_RETENTION = "events.*=6d;dlq.*=30d"
"""Event streams keep six days (history is in PostgreSQL), dead letters a month. Six, not
seven: less than the consumers' ledgers remember (`LEDGER_RETENTION_S`, a week), so a
group reading a stream from its start never meets an event its ledger has forgotten."""

STREAM_PATTERNS = ("events.*", "dlq.*")
"""The streams retention applies to (under the prefix)."""

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_KEEP = {"keep", "none"}
_GLOB = re.compile(r"[*?\[]")


class RetentionError(ValueError):
    """A retention setting that cannot be read; the message says which part and why."""


@dataclass(frozen=True)
class RetentionPolicy:
    """How much of one stream to keep: entries younger than `max_age_s` and the newest
    `max_length`; either may be absent, and with neither the stream is kept whole."""

    max_age_s: float | None = None
    max_length: int | None = None

    @property
    def keeps_all(self) -> bool:
        return self.max_age_s is None and self.max_length is None

    def __str__(self) -> str:
        parts = []
        if self.max_age_s is not None:
            parts.append(format_duration(self.max_age_s))
        if self.max_length is not None:
            parts.append(str(self.max_length))
        return ",".join(parts) or "keep"

    def describe(self) -> str:
        """For people: `7d`, `7d or 1000000 entries`, `keep`."""
        parts = []
        if self.max_age_s is not None:
            parts.append(format_duration(self.max_age_s))
        if self.max_length is not None:
            parts.append(f"{self.max_length} entries")
        return " or ".join(parts) or "keep"


KEEP = RetentionPolicy()


def format_duration(seconds: float) -> str:
    """The largest unit that writes `seconds` exactly (604800 -> `7d`, 90 -> `90s`)."""
    for unit in ("d", "h", "m"):
        value = seconds / _UNITS[unit]
        if value >= 1 and value == int(value):
            return f"{int(value)}{unit}"
    return f"{seconds:g}s"


def parse_policy(text: str) -> RetentionPolicy:
    """`7d`, `1000000`, `7d,1000000` or `keep`/`none`; RetentionError says what is wrong."""
    items = [item.strip().lower() for item in text.split(",")]
    if items == [""]:
        raise RetentionError("empty policy (an age like 7d, a length like 100000, or keep)")
    if len(items) == 1 and items[0] in _KEEP:
        return KEEP
    age: float | None = None
    length: int | None = None
    for item in items:
        if item in _KEEP:
            raise RetentionError(f"{text!r}: {item!r} cannot be combined with an age or length")
        if match := _AGE.match(item):
            if age is not None:
                raise RetentionError(f"{text!r}: two ages")
            age = float(match.group(1)) * _UNITS[match.group(2)]
            if age <= 0:
                raise RetentionError(f"{text!r}: an age must be more than 0")
        elif item.isdigit():
            if length is not None:
                raise RetentionError(f"{text!r}: two lengths")
            length = int(item)
            if length <= 0:
                raise RetentionError(f"{text!r}: a length must be at least 1 (or keep)")
        else:
            raise RetentionError(
                f"{item!r} is neither an age (a number with s, m, h or d), "
                "a length (an integer) nor keep/none"
            )
    return RetentionPolicy(max_age_s=age, max_length=length)


@dataclass(frozen=True)
class Rule:
    pattern: str
    policy: RetentionPolicy

    @property
    def specificity(self) -> tuple[int, int]:
        """An exact name beats any glob; then more literal characters win."""
        exact = 0 if _GLOB.search(self.pattern) else 1
        return exact, len(_GLOB.sub("", self.pattern))

    def matches(self, name: str) -> bool:
        return fnmatch.fnmatchcase(name, self.pattern)


@dataclass(frozen=True)
class Retention:
    """Every stream's policy, from one setting string."""

    rules: tuple[Rule, ...]

    def rule_for(self, name: str) -> Rule | None:
        """The most specific rule matching `name` (a stream name without the prefix)."""
        best: Rule | None = None
        for rule in self.rules:  # the first of equally specific rules wins
            if rule.matches(name) and (best is None or rule.specificity > best.specificity):
                best = rule
        return best

    def policy_for(self, name: str) -> RetentionPolicy:
        rule = self.rule_for(name)
        return KEEP if rule is None else rule.policy

    def __str__(self) -> str:
        return ";".join(f"{rule.pattern}={rule.policy}" for rule in self.rules)


def parse_retention(text: str) -> Retention:
    """`pattern=policy;pattern=policy...` (see the module); RetentionError says why not."""
    rules: list[Rule] = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        pattern, sep, policy = part.partition("=")
        pattern = pattern.strip()
        if not sep or not pattern:
            raise RetentionError(
                f"{part!r}: expected pattern=policy, e.g. events.*=7d or dlq.*=30d"
            )
        if any(rule.pattern == pattern for rule in rules):
            raise RetentionError(f"{pattern!r} is given twice")
        try:
            rules.append(Rule(pattern, parse_policy(policy)))
        except RetentionError as exc:
            raise RetentionError(f"{pattern}: {exc}") from None
    return Retention(tuple(rules))


# ---------------------------------------------------------------------- applying
@dataclass(frozen=True)
class RetentionOutcome:
    stream: str
    policy: RetentionPolicy
    removed: int
    """Entries removed, or that would be (`apply=False`)."""
    minid: str | None
    """The XTRIM MINID used (or that would be); None: nothing to trim."""
    held_by: str | None
    """What kept the policy from trimming further: a group's position, `no group`,
    `retention: keep`; None when the policy alone decided."""
    applied: bool

    @property
    def held_by_group(self) -> bool:
        """A group's position stopped the policy (not: no group, or `keep`)."""
        return self.held_by is not None and self.held_by.startswith("group ")

    @property
    def why(self) -> str:
        """What limited this stream's trim, for people ("" when the policy alone did)."""
        if self.held_by == NO_GROUP:
            return "kept: no consumer group, nothing is known to be consumed"
        if self.held_by == KEPT:
            return "kept: retention keep"
        return "" if self.held_by is None else f"held by {self.held_by}"

    def describe(self) -> str:
        verb = "trimmed" if self.applied else "would trim"
        line = f"{self.stream}: {verb} {self.removed} (retention {self.policy.describe()}"
        if self.minid is not None:
            line += f"; below {self.minid}"
        if self.why:
            line += f"; {self.why}"
        return line + ")"


NO_GROUP = "no group"
KEPT = "retention: keep"


def is_dead_letter_stream(stream: str) -> bool:
    """`dlq.<group>` under any prefix (names of services and groups have no dot)."""
    match = re.search(r"(events|dlq)\.[^.]*$", stream)
    return match is not None and match.group(1) == "dlq"


async def apply_retention(
    redis: aioredis.Redis,
    stream: str,
    policy: RetentionPolicy,
    *,
    now: float | None = None,
    apply: bool = True,
    dead_letters: bool | None = None,
) -> RetentionOutcome:
    """Trim `stream` to `policy`, never above its groups' floor.

    Age: entries older than `max_age_s` before `now` (seconds since the epoch; the clock
    is read only when `now` is None). Length: all but the newest `max_length`. With both,
    whichever removes more. `apply=False` counts what would go and removes nothing.
    `dead_letters` (default: judged by the name) lets a stream without a group be trimmed.
    """

    def outcome(
        removed: int = 0, minid: str | None = None, held: str | None = None
    ) -> RetentionOutcome:
        return RetentionOutcome(stream, policy, removed, minid, held, apply)

    if policy.keeps_all:
        return outcome(held=KEPT)
    length = int(await redis.xlen(stream))
    if length == 0:
        return outcome()
    floor = await group_floor(redis, stream)
    if dead_letters is None:
        dead_letters = is_dead_letter_stream(stream)
    if floor is None and not dead_letters:
        return outcome(held=NO_GROUP)
    cap = None if floor is None else floor.id

    wanted: list[str] = []
    beyond_floor = False
    if policy.max_age_s is not None:
        moment = time.time() if now is None else now
        wanted.append(age_id(policy.max_age_s / 86_400, moment))
    if policy.max_length is not None and length > policy.max_length:
        first_kept = await _first_kept(redis, stream, length - policy.max_length, cap)
        if first_kept is None:
            beyond_floor = cap is not None
        else:
            wanted.append(first_kept)
    if beyond_floor and floor is not None:
        minid, held = floor.id, floor.describe()
    elif not wanted:
        return outcome()
    else:
        minid, held = max(wanted, key=id_key), None
        if floor is not None and id_key(floor.id) < id_key(minid):
            minid, held = floor.id, floor.describe()
    removed = await (trim_below if apply else count_below)(redis, stream, minid)
    return outcome(removed, minid, held)


async def _first_kept(
    redis: aioredis.Redis, stream: str, excess: int, cap: str | None, *, page: int = 1000
) -> str | None:
    """The id of the oldest entry that stays when the `excess` oldest go; None when it
    lies at or above `cap` (the floor stops trimming there, so no need to read further),
    or the stream got shorter meanwhile."""
    seen, start = 0, "-"
    end = "+" if cap is None else f"({cap}"
    while True:
        want = min(page, excess + 1 - seen)
        entries: list[Any] = await redis.xrange(stream, min=start, max=end, count=want) or []
        seen += len(entries)
        if seen == excess + 1:
            return _decode(entries[-1][0])
        if len(entries) < want:
            return None
        start = "(" + _decode(entries[-1][0])


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --------------------------------------------------------------------- observing
@dataclass(frozen=True)
class StreamStats:
    stream: str
    length: int
    memory_bytes: int | None
    """`MEMORY USAGE key SAMPLES 0` (every node counted); None if Redis would not say."""
    oldest_id: str | None
    oldest_age_s: float | None


async def stream_stats(
    redis: aioredis.Redis, stream: str, *, now: float | None = None
) -> StreamStats:
    """Length, memory and oldest entry of `stream` (what `make status` and the gauges show)."""
    length = int(await redis.xlen(stream))
    memory = await redis.memory_usage(stream, samples=0)
    first: list[Any] = await redis.xrange(stream, min="-", max="+", count=1) or []
    oldest = _decode(first[0][0]) if first else None
    age = None
    if oldest is not None:
        moment = time.time() if now is None else now
        age = max(0.0, moment - id_key(oldest)[0] / 1000)
    return StreamStats(stream, length, None if memory is None else int(memory), oldest, age)


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


async def retention_streams(redis: aioredis.Redis, prefix: str = "") -> list[str]:
    """Every `events.*` and `dlq.*` stream under `prefix` (full key names), sorted."""
    found: set[str] = set()
    for pattern in STREAM_PATTERNS:
        match = _glob_escape(prefix) + pattern
        async for key in redis.scan_iter(match=match, count=1000, _type="stream"):
            found.add(_decode(key))
    return sorted(found)
