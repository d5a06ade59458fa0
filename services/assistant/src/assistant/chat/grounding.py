"""Grounding: the text a customer reads names only products and prices the tools returned.

The model's text is checked one sentence (or list line) at a time against `Known`, the
facts of the conversation, before any of it is emitted, in JSON and in SSE mode alike:

- `[product:<id>]` (and any bare UUID) must be a product a tool returned, an order
  `my_orders` returned, or an id the customer wrote. An unknown id in a sentence that
  names exactly one known product is rewritten to that product's id (a real name with a
  fake id); otherwise the sentence is about an invented product and is dropped.
- A product cited by id whose exact name the sentence lacks: the name the model gave it
  (the capitalised words right before the reference) is rewritten to the tool's name.
- Every price or total (a number with a currency, or with two decimals) must equal,
  after formatting, a price of a product the sentence names (or a sum of them), or an
  amount `my_orders` returned. A wrong one is rewritten to the price of the one product
  (or order) the sentence is about; with none or several, the sentence is dropped.

A reply whose every product or price sentence was dropped says nothing grounded: it is
replaced by the search answer (`chat.fallback`). The reply is marked `corrected` or
`replaced`. What is not detected: a product named with neither an id nor a price.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import combinations
from typing import Literal

from assistant.chat.citations import UUID_PATTERN
from assistant.chat.facts import Known, money, normal_name

Grounding = Literal["corrected", "replaced"]

REFERENCE = re.compile(r"\[product:\s*([^\]\s]*)\s*\]", re.IGNORECASE)
CURRENCY_CODES = frozenset(
    {"EUR", "USD", "GBP", "CHF", "JPY", "SEK", "NOK", "DKK", "PLN", "CZK", "CAD", "AUD"}
)
NUMBER = r"\d{1,3}(?:[,.\u00a0\u202f]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
UNITS = r"(?i:kg|g|mg|l|ml|cl|cm|mm|m|km|kw|w|v|mah|gb|tb|in|inch|ft|lb|oz|h|min|s)\b"
"""A two-decimal number before one of these is a measure ("1.25 kg"), not a price."""
BOUNDARY = re.compile(r"[ \t]*\n+[ \t]*|(?<=[.!?])[ \t]+(?=[^a-z0-9\s])")
"""Where a unit ends: a line break, or . ! ? then space before anything but a lower-case
letter or a digit ("approx. 9.99" stays one unit). Needs the next character: streamed
text is held until it arrives."""
INNER_WORDS = re.compile(
    r"[a-z]{1,2}|of|and|with|de|du|la|le|von|x|&|-|\+|ml|cm|mm|kg|ft|oz|lb", re.UNICODE
)
"""Lower-case words a product name may hold between capitalised ones ("6 x 8 ft", "1 kg")."""
GAP_WORD = re.compile(r"[a-z]{1,12}|#+|[*_()\-\u2013\u2014]+")
"""What may stand between a name and its reference: "Quantum 9000 for 49.99 EUR [product:..]"."""
MAX_GAP = 4
LEADING_WORDS = frozenset(
    {"the", "a", "an", "our", "try", "take", "get", "buy", "consider", "see", "i", "we"}
    | {"my", "your", "it", "this", "that", "also", "best", "pick", "yes", "no", "sure"}
    | {"ok", "here", "both", "and", "or", "but", "then", "for", "with"}
)
MAX_NAME_WORDS = 10
SUM_UP_TO = 4
"""Totals the model adds up itself: sums of 2..4 prices the sentence names are grounded."""


@dataclass(frozen=True)
class Finding:
    kind: str
    """unknown_id | unknown_product | wrong_name | wrong_price | unknown_price"""
    action: str
    """rewrote | dropped"""
    text: str
    """The unit as the model wrote it."""


@dataclass(frozen=True)
class _Amount:
    start: int
    end: int
    value: Decimal


def _decimal(raw: str) -> Decimal | None:
    digits = raw.replace("\u00a0", "").replace("\u202f", "")
    match = re.fullmatch(r"(.*?)(?:[.,](\d{1,2}))?", digits)
    if match is None:
        return None
    whole = re.sub(r"[.,]", "", match.group(1))
    try:
        return Decimal(f"{whole}.{match.group(2) or '0'}")
    except InvalidOperation:
        return None


@functools.lru_cache(maxsize=64)
def _amount_pattern(codes: frozenset[str]) -> re.Pattern[str]:
    names = "|".join(sorted(codes))
    currency = rf"(?<![A-Za-z])(?:{names})(?![A-Za-z])|€|\$|£|(?i:euros?|dollars?)\b"
    number = rf"(?<![\w.,])(?:{NUMBER})"
    return re.compile(
        rf"(?:{currency})\s?(?P<n1>{NUMBER})(?![\d%])"
        rf"|(?P<n2>{number})\s?(?:{currency})"
        rf"|(?P<n3>(?<![\w.,])\d+(?:[.,]\d{{3}})*[.,]\d{{2}})(?![\d%.,])(?!\s?{UNITS})"
    )


def amounts(text: str, codes: frozenset[str]) -> list[_Amount]:
    """Prices in the text: a number with a currency next to it, or with two decimals."""
    found = []
    for match in _amount_pattern(codes).finditer(text):
        raw = match.group("n1") or match.group("n2") or match.group("n3")
        value = _decimal(raw)
        if value is not None:
            found.append(_Amount(match.start(), match.end(), value))
    return found


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    for start, end in spans:
        text = text[:start] + "#" * (end - start) + text[end:]
    return text


def _core(token: str) -> str:
    return token.strip("*_").rstrip(",")


def _name_token(token: str) -> bool:
    core = _core(token)
    if not core or token.rstrip("*_")[-1:] in {":", ";", ".", "!", "?"}:
        return False
    return core[0].isupper() or core[0].isdigit() or bool(INNER_WORDS.fullmatch(core))


def _stated_name(masked: str, at: int) -> tuple[int, int] | None:
    """The span of the name the model gave the product it cites at `at`: the run of
    capitalised words closest before the reference, at most a few lower-case words or
    a (masked) price away. None when there is no such run."""
    tokens = [(m.start(), m.end(), m.group()) for m in re.finditer(r"\S+", masked[:at])]
    i, gap = len(tokens) - 1, 0
    while i >= 0 and gap < MAX_GAP and GAP_WORD.fullmatch(tokens[i][2]):
        i, gap = i - 1, gap + 1
    last = i
    while i >= 0 and _name_token(tokens[i][2]):
        i -= 1
    run = tokens[i + 1 : last + 1]
    while run and (
        not (_core(run[0][2])[:1].isupper() or _core(run[0][2])[:1].isdigit())
        or _core(run[0][2]).casefold() in LEADING_WORDS
    ):
        run = run[1:]
    if (
        not run
        or len(run) > MAX_NAME_WORDS
        or not re.search(r"[A-Za-z]", masked[run[0][0] : run[-1][1]])
    ):
        return None
    first, final = run[0], run[-1]
    start = first[0] + len(first[2]) - len(first[2].lstrip("*_"))
    end = final[1] - (len(final[2]) - len(final[2].rstrip("*_")))
    return start, end


class _Unit:
    """One sentence or list line being grounded."""

    def __init__(self, text: str, known: Known, earlier: frozenset[str] = frozenset()) -> None:
        self.original = text
        self.text = text
        self.known = known
        self.earlier = earlier
        """Products earlier units of the reply named: a total may add up their prices."""
        self.findings: list[Finding] = []
        self.dropped = False

    def _found(self, kind: str, action: str) -> None:
        self.findings.append(Finding(kind, action, self.original))

    def _drop(self, kind: str) -> None:
        self._found(kind, "dropped")
        self.dropped = True

    def ground(self) -> None:
        self._ids()
        if not self.dropped:
            self._names()
            self._prices()

    def _cited(self) -> set[str]:
        return {
            m.group(1).lower()
            for m in REFERENCE.finditer(self.text)
            if m.group(1).lower() in self.known.products
        }

    def _ids(self) -> None:
        known = self.known
        for match in reversed(list(REFERENCE.finditer(self.text))):
            pid = match.group(1).lower()
            if pid in known.products:
                continue
            candidates = known.named_in(self.text) - self._cited()
            if len(candidates) != 1:
                return self._drop("unknown_product")
            [real] = candidates
            self.text = self.text[: match.start()] + f"[product:{real}]" + self.text[match.end() :]
            self._found("unknown_id", "rewrote")
        masked = _mask(self.text, [m.span() for m in REFERENCE.finditer(self.text)])
        for match in reversed(list(UUID_PATTERN.finditer(masked))):
            uid = match.group(0).lower()
            if uid in known.products or uid in known.order_ids or uid in known.echoed_ids:
                continue
            candidates = known.named_in(self.text) - self._cited()
            if len(candidates) != 1:
                return self._drop("unknown_product")
            [real] = candidates
            self.text = self.text[: match.start()] + real + self.text[match.end() :]
            self._found("unknown_id", "rewrote")
        return None

    def _masked(self) -> str:
        """The text with references, ids and prices masked (same length)."""
        codes = CURRENCY_CODES | frozenset(self.known.currencies)
        spans = [m.span() for m in REFERENCE.finditer(self.text)]
        spans += [m.span() for m in UUID_PATTERN.finditer(self.text)]
        masked = _mask(self.text, spans)
        return _mask(masked, [(a.start, a.end) for a in amounts(masked, codes)])

    def _names(self) -> None:
        for match in reversed(list(REFERENCE.finditer(self.text))):
            product = self.known.products[match.group(1).lower()]
            if normal_name(product.name) in normal_name(self.text):
                continue
            span = _stated_name(self._masked(), match.start())
            if span is None:
                continue
            start, end = span
            self.text = self.text[:start] + product.name + self.text[end:]
            self._found("wrong_name", "rewrote")

    def about(self) -> tuple[set[str], set[str]]:
        """(products, orders) the unit names."""
        products = self._cited() | self.known.named_in(self.text)
        for match in UUID_PATTERN.finditer(self.text):
            if match.group(0).lower() in self.known.products:
                products.add(match.group(0).lower())
        orders = {
            m.group(0).lower()
            for m in UUID_PATTERN.finditer(self.text)
            if m.group(0).lower() in self.known.order_ids
        }
        return products, orders

    def _allowed(self, products: set[str]) -> set[Decimal]:
        allowed = set(self.known.order_amounts)
        if not products:
            allowed |= self.known.all_amounts() | self.known.echoed_amounts
        named = products or {pid for pid in self.earlier if pid in self.known.products}
        prices = [self.known.products[pid].price for pid in sorted(named)]
        allowed |= set(prices) if products else set()
        if len(prices) <= 8:
            for size in range(2, min(SUM_UP_TO, len(prices)) + 1):
                allowed |= {sum(group, Decimal(0)) for group in combinations(prices, size)}
        return allowed

    def _prices(self) -> None:
        codes = CURRENCY_CODES | frozenset(self.known.currencies)
        spans = [m.span() for m in REFERENCE.finditer(self.text)]
        spans += [m.span() for m in UUID_PATTERN.finditer(self.text)]
        products, orders = self.about()
        allowed = self._allowed(products)
        for amount in reversed(amounts(_mask(self.text, spans), codes)):
            if amount.value in allowed:
                continue
            if len(products) == 1:
                [pid] = products
                product = self.known.products[pid]
                true = f"{money(product.price)} {product.currency}"
            elif not products and len(orders) == 1 and self._order_total(*orders):
                true = self._order_total(*orders) or ""
            else:
                return self._drop("unknown_price")
            self.text = self.text[: amount.start] + true + self.text[amount.end :]
            self._found("wrong_price", "rewrote")
        return None

    def _order_total(self, order_id: str) -> str | None:
        total = self.known.order_totals.get(order_id)
        return None if total is None else f"{money(total[0])} {total[1]}"

    def substantive(self) -> bool:
        """It states something a tool returned: a product, an order or a price."""
        if self.dropped:
            return False
        products, orders = self.about()
        codes = CURRENCY_CODES | frozenset(self.known.currencies)
        return bool(products or orders or amounts(self.text, codes))


def echo(known: Known, customer_text: str) -> None:
    """Ids and amounts the customer wrote: a reply may repeat them (never cite them)."""
    known.echoed_ids |= {m.group(0).lower() for m in UUID_PATTERN.finditer(customer_text)}
    codes = CURRENCY_CODES | frozenset(known.currencies)
    known.echoed_amounts |= {a.value for a in amounts(customer_text, codes)}


@dataclass
class Grounder:
    """Holds the model's text back until a whole unit can be checked, then releases it
    grounded. `feed` and `flush` return the text that may be shown now."""

    known: Callable[[], Known]
    findings: list[Finding] = field(default_factory=list)
    _buffer: str = ""
    _shown: str = ""
    _substantive: bool = False
    _mentioned: set[str] = field(default_factory=set)
    _pending: str = ""

    def feed(self, delta: str) -> str:
        self._buffer += delta
        out: list[str] = []
        while True:
            match = BOUNDARY.search(self._buffer)
            if match is None:
                break
            unit, sep = self._buffer[: match.start()], match.group(0)
            self._buffer = self._buffer[match.end() :]
            out.append(self._release(unit, sep))
        return "".join(out)

    def flush(self) -> str:
        """The rest, at the end of a model call (before any tool runs): each call's text
        is a paragraph of its own."""
        unit, self._buffer = self._buffer, ""
        shown = self._release(unit, "")
        self._pending = "\n\n"  # the next model call's text starts a paragraph
        return shown

    def _release(self, text: str, sep: str) -> str:
        """A unit's text, grounded; its separator waits for the next kept unit (so a
        dropped last sentence leaves no trailing space)."""
        if not text.strip():
            self._pending += text + sep
            return ""
        unit = _Unit(text, self.known(), frozenset(self._mentioned))
        unit.ground()
        self.findings += unit.findings
        if unit.dropped:
            if "\n" in sep and "\n" not in self._pending and self._shown:
                self._pending = "\n"
            return ""
        self._mentioned |= unit.about()[0]
        self._substantive |= unit.substantive()
        shown = (self._pending if self._shown else "") + unit.text
        self._pending = sep
        return self._show(shown)

    def _show(self, text: str) -> str:
        self._shown += text
        return text

    @property
    def shown(self) -> str:
        return self._shown

    def outcome(self) -> Grounding | None:
        """None: untouched. `replaced`: the text kept says nothing grounded while the
        model tried to (some unit was dropped), or nothing is left."""
        if not self.findings:
            return None
        dropped = any(f.action == "dropped" for f in self.findings)
        if dropped and (not self._substantive or not self._shown.strip()):
            return "replaced"
        return "corrected"
