"""The query parser: price caps, floors and ranges, "in stock", category words."""

from __future__ import annotations

from decimal import Decimal

import pytest

from assistant.constraints import Category, parse

CATEGORIES = [
    Category("tea", "Tea"),
    Category("books", "Books"),
    Category("home-office", "Home Office"),
    Category("coffee", "Coffee & Brewing"),
    Category("toys", "Toys & Games"),
    Category("bicycles-parts", "Bicycles & Parts"),
    Category("sports-nutrition", "Sports Nutrition"),
]
D = Decimal


@pytest.mark.parametrize(
    ("query", "cap"),
    [
        ("under 100 euros", D("100")),
        ("below 50", D("50")),
        ("less than 30 EUR", D("30")),
        ("cheaper than 25€", D("25")),
        ("at most 12.50 eur", D("12.50")),
        ("up to €80", D("80")),
        ("no more than 2000", D("2000")),
        ("max 45", D("45")),
        ("maximum of 45", None),  # "of" between: not a price phrase
        ("€100 max", D("100")),
        ("100 euros max", D("100")),
        ("100 or less", D("100")),
        ("a kettle, 19,99 or less", D("19.99")),
        ("a budget of 300", D("300")),
        ("headphones for under 1,299.50", D("1299.50")),
        ("a bike under 1.500 euros", D("1500")),
        ("UNDER 40 EUROS", D("40")),
        ("a lamp <= 30", D("30")),
        ("under $60", D("60")),
    ],
)
def test_price_caps(query: str, cap: Decimal | None) -> None:
    parsed = parse(query)
    assert parsed.max_price == cap
    assert parsed.min_price is None


@pytest.mark.parametrize(
    ("query", "floor"),
    [
        ("over 500", D("500")),
        ("above 20 euros", D("20")),
        ("more than 99.90 EUR", D("99.90")),
        ("at least 150", D("150")),
        ("a road bike, 1000 or more", D("1000")),
        ("min 10", D("10")),
    ],
)
def test_price_floors(query: str, floor: Decimal) -> None:
    parsed = parse(query)
    assert parsed.min_price == floor
    assert parsed.max_price is None


@pytest.mark.parametrize(
    "query",
    [
        "between 20 and 40 EUR",
        "between €20 and €40",
        "from 20 to 40 euros",
        "20-40 EUR",
        "€20-€40",
        "20 to 40 euros",
        "between 40 and 20 euros",  # reversed: still 20..40
        "under 40 and over 20",
        "over 20, below 40",
    ],
)
def test_price_ranges(query: str) -> None:
    parsed = parse(query)
    assert (parsed.min_price, parsed.max_price) == (D("20"), D("40"))


@pytest.mark.parametrize(
    "query",
    [
        "toy for under 5 years old",
        "a tent for up to 4 people",
        "panniers that carry over 20 kg",
        "a backpack under 1 kg",
        "a board game for more than 6 players",
        "a speaker that lasts over 12 hours",
        "a screen of at least 27 inches",
        "a kettle of up to 2 litres",
        "fun for over 18s",
        "toy for a 2 year old",
        "the 1984 edition",
        "a 29 inch wheel",
    ],
)
def test_numbers_that_are_not_prices(query: str) -> None:
    parsed = parse(query)
    assert (parsed.max_price, parsed.min_price) == (None, None)
    assert parsed.text == query


def test_the_constraint_phrases_leave_the_searched_text() -> None:
    parsed = parse("gift for my dad who loves cycling, under 100 euros")
    assert parsed.text == "gift for my dad who loves cycling"
    assert parse("headphones for under 200").text == "headphones"
    assert parse("a tent in stock between 100 and 300 euros").text == "a tent"


def test_a_query_of_constraints_only_is_searched_as_it_is() -> None:
    parsed = parse("under 100 euros")
    assert parsed.max_price == D("100") and parsed.text == "under 100 euros"


@pytest.mark.parametrize(
    "query",
    ["in stock", "a tent in-stock", "only in stock please", "available now", "currently available"],
)
def test_in_stock(query: str) -> None:
    assert parse(query).in_stock is True


def test_no_constraints() -> None:
    parsed = parse("something to keep me dry on a hike", CATEGORIES)
    assert not parsed.constrained and parsed.text == "something to keep me dry on a hike"
    assert parse("out of stock items").in_stock is None


@pytest.mark.parametrize(
    ("query", "slug"),
    [
        ("green tea under 10", "tea"),
        ("books about travel", "books"),
        ("a book about birds", "books"),
        ("a desk for my home office", "home-office"),
        ("home-office chair", "home-office"),
        ("toys and games for a rainy day", "toys"),
        ("toys & games", "toys"),
        ("sports nutrition for a marathon", "sports-nutrition"),
        ("anything from the coffee category", "coffee"),
        ("bicycles and parts", "bicycles-parts"),
        ("TEA", "tea"),
    ],
)
def test_category_words(query: str, slug: str) -> None:
    assert parse(query, CATEGORIES).category == slug


@pytest.mark.parametrize(
    "query",
    [
        "something to keep coffee hot",  # one word of "Coffee & Brewing" is not enough
        "a toy for a 2 year old",  # nor of "Toys & Games"
        "a teapot",  # a word containing a name is not the name
        "gift for a cyclist",
        "notebook for the office",
    ],
)
def test_no_category_from_loose_words(query: str) -> None:
    assert parse(query, CATEGORIES).category is None


def test_unknown_categories_are_never_parsed() -> None:
    assert parse("green tea", []).category is None
    assert parse("green tea", [Category("coffee", "Coffee & Brewing")]).category is None


def test_everything_at_once() -> None:
    parsed = parse("green tea in stock between 5 and 15 EUR", CATEGORIES)
    assert parsed.category == "tea" and parsed.in_stock is True
    assert (parsed.min_price, parsed.max_price) == (D("5"), D("15"))
    assert parsed.text == "green tea"


def test_the_tightest_of_two_caps_wins() -> None:
    assert parse("under 100, no more than 80").max_price == D("80")
