"""Grounding rate of the assistant's replies (`python -m bench.grounding`; issue 23).

A scripted set of model replies about products of the sample catalog
(scripts/seed_data/catalog.json) and an order: correct ones, written as a model that
follows the system prompt would (names, prices, ids, a total it adds up, list lines),
and the same replies with one injected error each: an invented product with an invented
id, a real name with a fake id, a wrong price, a wrong name with a real id, an invented
product with a price but no id, a wrong total, a wrong order total.

Every reply goes through the assistant's `Grounder` twice: whole (JSON mode) and word by
word (as a model streams it). Figures:

- caught: the share of erroneous replies whose shown text no longer carries the
  injected error, and which are marked (goal 100 %);
- untouched: the share of correct replies shown exactly as written, unmarked (goal 100 %);
- parity: streamed and whole give the same text and mark (goal 100 %);
- the time-to-first-token cost of holding streamed text back: how many chunks (words)
  arrive before the first one is shown (unbuffered: the first), and what that is at a
  model's pace of 30 chunks/s; and the CPU time grounding costs per reply.

No services are started: the grounding is pure, in process, and the bench takes a second.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from assistant.chat.facts import Known, money
from assistant.chat.grounding import Grounder, echo
from bench.machine import ROOT, add_out_argument, command, machine, write_result
from marcus_contracts.events.assistant import CitedProduct

CHUNKS_PER_S = 30.0
"""A model's streaming pace for the time figure (chunks of about a word; small hosted
models stream 30-100 tokens/s)."""
CATALOG = ROOT / "scripts" / "seed_data" / "catalog.json"
ORDER_ID = "0c6e4f0e-1111-4000-8000-0000000000a1"
ORDER_TOTAL = Decimal("164.40")


@dataclass(frozen=True)
class Case:
    kind: str
    """`correct`, or the injected error."""
    text: str
    wrong: tuple[str, ...] = ()
    """Strings the shown text must not carry (the injected error)."""
    question: str = ""
    """The customer's message (a reply may repeat the amounts it holds)."""


def products(step: int = 20) -> list[CitedProduct]:
    rows = json.loads(CATALOG.read_text())["products"][::step]
    rng = random.Random(23)
    return [
        CitedProduct(
            product_id=uuid.UUID(int=rng.getrandbits(128), version=4),
            name=row["name"],
            price=Decimal(money(row["price"])),
            currency=row["currency"],
        )
        for row in rows
    ]


def _cite(p: CitedProduct) -> str:
    return f"[product:{p.product_id}]"


def _price(p: CitedProduct, price: Decimal | None = None) -> str:
    return f"{money(p.price if price is None else price)} {p.currency}"


Template = Callable[[CitedProduct, CitedProduct, str, str, str], str]
"""(product, another, name, id reference, price) -> reply."""

TEMPLATES: list[Template] = [
    lambda p, o, name, ref, price: f"The best match is {name} for {price} {ref}.",
    lambda p, o, name, ref, price: (
        f"I recommend the {name} {ref}: it costs {price} and is in stock."
    ),
    lambda p, o, name, ref, price: (
        f"Here is what I found:\n- **{name}** {ref}: {price}\n- **{o.name}** {_cite(o)}: "
        f"{_price(o)}"
    ),
    lambda p, o, name, ref, price: (
        f"Sure! The {name} {ref} costs {price}. Would you like anything else?"
    ),
    lambda p, o, name, ref, price: (
        f"Both would work. {name} {ref} is {price}, and {o.name} {_cite(o)} is {_price(o)}."
    ),
]


def cases(catalog: list[CitedProduct]) -> list[Case]:
    rng = random.Random(2323)
    made: list[Case] = []
    for n, p in enumerate(catalog):
        o = catalog[(n + 1) % len(catalog)]
        for t, template in enumerate(TEMPLATES):
            real = template(p, o, p.name, _cite(p), _price(p))
            made.append(Case("correct", real))
            fake = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            invented = f"Quantum {p.name.split()[-1]} 9000"
            if (n + t) % 2:
                wrong_price = p.price + Decimal("10.00")
            else:
                wrong_price = (p.price / 10).quantize(Decimal("0.01"))
            made += [
                Case(
                    "invented product, invented id",
                    template(p, o, invented, f"[product:{fake}]", "49.99 EUR"),
                    (invented, fake, "49.99"),
                ),
                Case(
                    "real name, fake id",
                    template(p, o, p.name, f"[product:{fake}]", _price(p)),
                    (fake,),
                ),
                Case(
                    "wrong price",
                    template(p, o, p.name, _cite(p), _price(p, wrong_price)),
                    (f"{money(wrong_price)} {p.currency}",),
                ),
                Case(
                    "wrong name, real id",
                    template(p, o, invented, _cite(p), _price(p)),
                    (invented,),
                ),
            ]
        ref, price = _cite(p), _price(p)
        budget = int(p.price / 2) or 1
        asked = f"Anything under {budget} EUR?"
        wrong_euro = money(p.price + Decimal("1.00"))
        made += [
            Case("correct", f"The {p.name} {ref} is €{money(p.price)}."),
            Case("correct", f"Der {p.name} {ref} kostet {money(p.price).replace('.', ',')} €."),
            Case("correct", f"The {p.name} {ref} costs {price}; only 3 are left in stock."),
            Case("correct", f"The {p.name} {ref} weighs 1.25 kg and costs {price}."),
            Case(
                "correct",
                f"I could not find anything under {budget} EUR. The closest is {p.name} for "
                f"{price} {ref}.",
                question=asked,
            ),
            Case("wrong price", f"The {p.name} {ref} is €{wrong_euro}.", (wrong_euro,)),
            Case(
                "the customer's budget as the price",
                f"The {p.name} {ref} costs {budget}.00 EUR.",
                (f"{budget}.00 EUR",),
                asked,
            ),
        ]
        total = p.price + o.price
        together = (
            f"{p.name} {_cite(p)} costs {_price(p)} and {o.name} {_cite(o)} costs {_price(o)}."
            " Together they cost {total} EUR."
        )
        made.append(Case("correct", together.format(total=money(total))))
        wrong_total = money(total + Decimal("5.00"))
        made.append(Case("wrong total", together.format(total=wrong_total), (wrong_total,)))
        extra = f"Also consider the Quantum Deluxe {n} for {money(p.price / 2)} EUR."
        made.append(
            Case(
                "invented product with a price, no id",
                f"The best match is {p.name} for {_price(p)} {_cite(p)}. {extra}",
                (f"Quantum Deluxe {n}",),
            )
        )
    made.append(Case("correct", "Hello! I can help you find products or check your orders."))
    order = f"Your last order {ORDER_ID} is confirmed, total {money(ORDER_TOTAL)} EUR."
    made.append(Case("correct", order))
    wrong_order = money(ORDER_TOTAL + 1)
    made.append(
        Case("wrong order total", order.replace(money(ORDER_TOTAL), wrong_order), (wrong_order,))
    )
    return made


def known(catalog: list[CitedProduct]) -> Known:
    facts = Known.of(catalog)
    facts.add_order(
        {
            "order_id": ORDER_ID,
            "currency": "EUR",
            "total": str(ORDER_TOTAL),
            "lines": [{"unit_price": "54.80", "quantity": 3}],
        }
    )
    return facts


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == len(words) - 1 else w + " " for i, w in enumerate(words)]


@dataclass
class Run:
    shown: str
    mark: str | None
    first_shown_at: int | None
    """Index of the chunk whose arrival released the first text (0-based)."""
    seconds: float


def ground(text: str, catalog: Known, question: str, *, stream: bool) -> Run:
    facts = catalog.merged(Known())
    echo(facts, question)
    grounder = Grounder(lambda: facts)
    started = time.perf_counter()
    first: int | None = None
    shown = ""
    chunks = _words(text) if stream else [text]
    for index, chunk in enumerate(chunks):
        out = grounder.feed(chunk)
        if out and first is None:
            first = index
        shown += out
    out = grounder.flush()
    if out and first is None:
        first = len(chunks)  # released only when the model's call ended
    shown += out
    seconds = time.perf_counter() - started
    return Run(shown, grounder.outcome(), first, seconds)


def measure(step: int = 20) -> dict[str, Any]:
    catalog = products(step)
    facts = known(catalog)
    scripted = cases(catalog)
    by_kind: dict[str, list[bool]] = {}
    misses: list[dict[str, Any]] = []
    parity: list[bool] = []
    held: list[int] = []
    cpu: list[float] = []
    for case in scripted:
        whole = ground(case.text, facts, case.question, stream=False)
        streamed = ground(case.text, facts, case.question, stream=True)
        parity.append((whole.shown, whole.mark) == (streamed.shown, streamed.mark))
        cpu.append(streamed.seconds)
        if streamed.first_shown_at is not None:
            held.append(streamed.first_shown_at)
        if case.kind == "correct":
            ok = streamed.mark is None and streamed.shown == case.text
        else:
            ok = streamed.mark is not None and not any(w in streamed.shown for w in case.wrong)
        by_kind.setdefault(case.kind, []).append(ok)
        if not ok:
            misses.append({"kind": case.kind, "text": case.text, "shown": streamed.shown})
    errors = [ok for kind, oks in by_kind.items() if kind != "correct" for ok in oks]
    correct = by_kind["correct"]
    first = sorted(held)
    return {
        "replies": len(scripted),
        "erroneous": len(errors),
        "correct": len(correct),
        "caught_share": sum(errors) / len(errors),
        "untouched_share": sum(correct) / len(correct),
        "parity_share": sum(parity) / len(parity),
        "by_kind": {kind: [sum(oks), len(oks)] for kind, oks in sorted(by_kind.items())},
        "held_chunks_p50": statistics.median(first),
        "held_chunks_p95": first[int(0.95 * (len(first) - 1))],
        "held_chunks_max": first[-1],
        "chunks_per_s": CHUNKS_PER_S,
        "ttft_cost_ms_p50": 1000 * statistics.median(first) / CHUNKS_PER_S,
        "ttft_cost_ms_p95": 1000 * first[int(0.95 * (len(first) - 1))] / CHUNKS_PER_S,
        "grounding_cpu_us_p50": 1e6 * statistics.median(cpu),
        "grounding_cpu_us_max": 1e6 * max(cpu),
        "misses": misses,
    }


def markdown(result: dict[str, Any]) -> str:
    r = result["results"]
    lines = [
        "# Grounding rate (issue 23)",
        "",
        f"`{result['command']}`: {r['replies']} scripted replies ({r['correct']} correct, "
        f"{r['erroneous']} with one injected error), each grounded whole and word by word.",
        "",
        "| figure | value | goal |",
        "|---|---|---|",
        f"| errors caught (not shown, reply marked) | {r['caught_share']:.1%} | 100 % |",
        f"| correct replies left untouched | {r['untouched_share']:.1%} | 100 % |",
        f"| streamed = whole (text and mark) | {r['parity_share']:.1%} | 100 % |",
        f"| chunks held before the first is shown, p50 / p95 / max | {r['held_chunks_p50']:g}"
        f" / {r['held_chunks_p95']} / {r['held_chunks_max']} | (unbuffered: 0) |",
        f"| time-to-first-token cost at {r['chunks_per_s']:g} chunks/s, p50 / p95 | "
        f"{r['ttft_cost_ms_p50']:.0f} / {r['ttft_cost_ms_p95']:.0f} ms | |",
        f"| grounding CPU per reply, p50 / max | {r['grounding_cpu_us_p50']:.0f} / "
        f"{r['grounding_cpu_us_max']:.0f} µs | |",
        "",
        "| kind | caught or untouched |",
        "|---|---|",
        *(f"| {kind} | {ok} / {n} |" for kind, (ok, n) in r["by_kind"].items()),
        "",
    ]
    for miss in r["misses"]:
        lines += [f"- missed ({miss['kind']}): {miss['text']!r} -> {miss['shown']!r}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--step", type=int, default=20, help="every n-th product of the sample catalog"
    )
    add_out_argument(parser)
    args = parser.parse_args(argv)
    result = {
        "bench": "grounding",
        "command": command("bench.grounding", argv),
        "machine": machine(),
        "results": measure(args.step),
    }
    out: Path | None = args.out
    write_result("grounding", out, result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
