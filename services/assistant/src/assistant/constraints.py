"""Constraints a shopper writes in plain words, parsed into search filters (pure).

"gift for my dad who loves cycling, under 100 euros" -> max_price 100 and the text
"gift for my dad who loves cycling". Understood:

- price caps: "under/below/less than/cheaper than/at most/up to/no more than/max/within
  100", "100 euros max", "100 or less", "a budget of 100";
- price floors: "over/above/more than/at least/min/from 500", "500 or more";
- ranges: "between 20 and 40", "20-40 EUR", "from 20 to 40";
- "in stock" (also "in-stock", "available now");
- a category, when the text names one the caller knows: its whole name ("tea",
  "books", "home office", "toys & games"; singular or plural), a slug of two words or
  more, or one of its words right before "category" ("the coffee category"). A word of
  a longer name alone ("coffee" of "Coffee & Brewing") is not enough: "something to keep
  coffee hot" is no request for that category.

A number followed by a unit that is not money ("under 5 years", "below 2 kg") is not a
price. Currency words and signs (EUR, euros, €, $, ...) are optional. The phrases that
set a filter are taken out of `text`, which is what gets searched by meaning; when
nothing is left, the text is the whole query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

CURRENCY = r"(?:€|\$|£|eur\b|euros?\b|usd\b|dollars?\b|bucks\b)"
NUMBER = r"(\d{1,3}(?:[,.]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)(?!\d|[.,]\d)"
AMOUNT = rf"(?:{CURRENCY}\s*)?{NUMBER}(?:\s*{CURRENCY})?"
NOT_MONEY = (
    r"(?!\s*(?:-\s*)?(?:years?|yrs?|y/?o|months?|weeks?|days?|hours?|minutes?|mins?|"
    r"kg|kilos?|g|grams?|lbs?|pounds|cm|mm|m|meters?|metres?|km|inch(?:es)?|in\b|l|"
    r"litres?|liters?|ml|people|persons?|players?|pieces?|pcs|cups?|degrees?|w|watts?|"
    r"gb|tb|mah|speeds?|s)\b)"
)
CAP_WORDS = (
    r"under|below|beneath|less\s+than|cheaper\s+than|lower\s+than|at\s+most|up\s+to|"
    r"no\s+more\s+than|not\s+more\s+than|max(?:imum)?|within|for\s+less\s+than|"
    r"budget\s+(?:of|is)|<=?"
)
FLOOR_WORDS = (
    r"over|above|more\s+than|at\s+least|min(?:imum)?|upwards\s+of|no\s+less\s+than|"
    r"not\s+less\s+than|>=?"
)
DASH = "[-\u2013]"
"""A hyphen or an en dash."""
_RANGE = re.compile(
    rf"\b(?:between|from)\s+{AMOUNT}\s*(?:and|to|{DASH})\s*{AMOUNT}{NOT_MONEY}"
    rf"|(?<![\w.,]){CURRENCY}\s*{NUMBER}\s*(?:{DASH}|to)\s*(?:{CURRENCY}\s*)?{NUMBER}"
    rf"|(?<![\w.,]){NUMBER}\s*(?:{DASH}|to)\s*{NUMBER}\s*{CURRENCY}",
    re.IGNORECASE,
)
_CAP = re.compile(
    rf"(?:(?<!\w)(?:{CAP_WORDS})\s*{AMOUNT}{NOT_MONEY}"
    rf"|(?<![\w.,]){AMOUNT}\s*(?:max(?:imum)?|or\s+less|or\s+under|or\s+below|tops|at\s+most)\b)",
    re.IGNORECASE,
)
_FLOOR = re.compile(
    rf"(?:(?<!\w)(?:{FLOOR_WORDS})\s*{AMOUNT}{NOT_MONEY}"
    rf"|(?<![\w.,]){AMOUNT}\s*(?:or\s+more|or\s+above|and\s+up|plus|minimum|min)\b)",
    re.IGNORECASE,
)
_IN_STOCK = re.compile(
    r"\b(?:(?:that\s+(?:is|are)\s+|which\s+(?:is|are)\s+|only\s+)?in[\s-]stock"
    r"|available\s+(?:now|today|right\s+now)|currently\s+available)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[a-z0-9]+")
_FILLER = re.compile(
    r"(?:^|[\s,;])(?:and|with|for|but|that|which|costing|costs?|priced|price|prices|"
    r"at|of|is|are|only|please|my|a)\s*$",
    re.IGNORECASE,
)
_JOINERS = frozenset({"and", "&", "amp"})


@dataclass(frozen=True)
class Category:
    """A category the caller knows: its slug and display name."""

    slug: str
    name: str


@dataclass(frozen=True)
class ParsedQuery:
    text: str
    max_price: Decimal | None = None
    min_price: Decimal | None = None
    in_stock: bool | None = None
    category: str | None = None

    @property
    def constrained(self) -> bool:
        return any(
            v is not None for v in (self.max_price, self.min_price, self.in_stock, self.category)
        )


def _amount(raw: str) -> Decimal | None:
    """'1,299.50' / '1.299,50' / '19,99' / '40' -> Decimal; None if not a number."""
    grouped = re.fullmatch(r"(\d{1,3}(?:[,.]\d{3})+)(?:[.,](\d{1,2}))?", raw)
    if grouped:
        text = re.sub(r"[,.]", "", grouped.group(1)) + "." + (grouped.group(2) or "0")
    else:
        text = raw.replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() and value >= 0 else None


def _numbers(match: re.Match[str]) -> list[Decimal]:
    return [v for v in (_amount(g) for g in match.groups() if g) if v is not None]


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 2 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _tokens(text: str) -> list[str]:
    return [_singular(w) for w in _WORD.findall(text.lower()) if w not in _JOINERS]


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return n > 0 and any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def match_category(text: str, categories: Iterable[Category]) -> str | None:
    """The slug of the category the text names: by its whole name or slug (singular or
    plural), or one of its words right before "category". Longest name wins."""
    words = _tokens(text)
    best: tuple[int, str] | None = None
    for category in categories:
        forms = [_tokens(category.name)]
        slug = _tokens(category.slug.replace("-", " "))
        if len(slug) > 1:  # a one-word slug of a longer name ("coffee") is too loose
            forms.append(slug)
        for needle in forms:
            if _contains(words, needle) and (best is None or len(needle) > best[0]):
                best = (len(needle), category.slug)
        named = _tokens(category.name) + _tokens(category.slug.replace("-", " "))
        for i, word in enumerate(words[:-1]):
            if words[i + 1] == "category" and word in named and best is None:
                best = (1, category.slug)
    return None if best is None else best[1]


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,.;!?])", r"\1", text)
    text = re.sub(r"([,;])\s*(?=[,;.!?]|$)", "", text).strip(" ,;-")
    while True:
        stripped = _FILLER.sub("", text).strip(" ,;-")
        if stripped == text:
            return text
        text = stripped


def parse(query: str, categories: Iterable[Category] = ()) -> ParsedQuery:
    """The query's constraints and the rest of its text (see the module docstring)."""
    text = query
    max_price: Decimal | None = None
    min_price: Decimal | None = None
    for match in _RANGE.finditer(query):
        values = _numbers(match)
        if len(values) == 2:
            low, high = sorted(values)
            min_price, max_price = low, high
            text = text.replace(match.group(0), " ", 1)
    for match in _CAP.finditer(text):
        values = _numbers(match)
        if values:
            max_price = values[0] if max_price is None else min(max_price, values[0])
            text = text.replace(match.group(0), " ", 1)
    for match in _FLOOR.finditer(text):
        values = _numbers(match)
        if values:
            min_price = values[0] if min_price is None else max(min_price, values[0])
            text = text.replace(match.group(0), " ", 1)
    in_stock: bool | None = None
    if _IN_STOCK.search(text):
        in_stock = True
        text = _IN_STOCK.sub(" ", text)
    category = match_category(query, categories)
    rest = _tidy(text)
    return ParsedQuery(
        text=rest or query.strip(),
        max_price=max_price,
        min_price=min_price,
        in_stock=in_stock,
        category=category,
    )
