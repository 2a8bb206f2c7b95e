"""Built-in arithmetic word-problem families: offline, deterministic, with reference programs.

Each family draws a problem from `random.Random(f"{family}/{seed}/{index}")`, so a (family, seed,
index) triple is always the same problem, and writes three things: the question, the exact answer
(computed here with `Fraction`/`Decimal`, independently of the tools) and a reference program of
1-5 calls of the twelve arithmetic tools. `tests/test_problems.py` runs every program with the
real executor and checks it reaches the exact answer.

Families are split to measure generalisation:

- **in_domain** (train on these): shopping, sharing, travel, savings, tally. Tools: add,
  subtract, multiply, divide, floor, sum_numbers; everyday phrasing; 1-5 calls.
- **held_out** (evaluate on these): interest, geometry, clock, temperature, packing, chain.
  Operations never used in domain (power, round_number, sqrt, modulo, abs_value, ceil), other
  phrasing (number-machine instructions) and longer chains.

Where float arithmetic could decide a result differently from exact arithmetic (a rounding tie
such as 1157.625 to cents), the family draws new numbers instead.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

from mentor_data.problems import ARITHMETIC_SCHEMAS, Problem
from mentor_data.tools import render_number

Number = int | float


@dataclass
class Draft:
    """What a family's maker returns: the question, the exact answer and the program."""

    question: str
    answer: Fraction | Decimal | int
    program: list[dict]


class _Program:
    """Collects program steps; `call` returns the reference `"$k"` to the step's output."""

    def __init__(self) -> None:
        self.steps: list[dict] = []

    def call(self, tool: str, note: str, **arguments) -> str:
        self.steps.append({"tool": tool, "arguments": arguments, "note": note})
        return f"${len(self.steps) - 1}"


@dataclass(frozen=True)
class Family:
    """A family of built-in problems.

    Args:
        name (`str`): The family name used in specs (`builtin:NAME`) and ids.
        in_domain (`bool`): True for training families, False for held-out ones.
        description (`str`): What the family tests.
        tools (`tuple[str, ...]`): The tools its reference programs use.
        make (`Callable[[random.Random], Draft]`): Draws one problem.
    """

    name: str
    in_domain: bool
    description: str
    tools: tuple[str, ...]
    make: Callable[[random.Random], Draft]

    @property
    def split(self) -> str:
        """`in_domain` or `held_out`."""
        return "in_domain" if self.in_domain else "held_out"

    def generate(self, index: int, seed: int = 0) -> Problem:
        """Problem number `index` of this family for a problem seed (deterministic).

        Example:
            >>> p = FAMILIES["shopping"].generate(7)
            >>> p.id, p.metadata["split"]
            ('shopping-s0-7', 'in_domain')
        """
        draft = self.make(random.Random(f"{self.name}/{seed}/{index}"))
        return Problem(
            id=f"{self.name}-s{seed}-{index}",
            question=draft.question,
            answer=exact_text(draft.answer),
            domain="arithmetic",
            source=f"builtin:{self.name}",
            tools=ARITHMETIC_SCHEMAS,
            metadata={
                "family": self.name,
                "split": self.split,
                "n_steps": len(draft.program),
                "program": draft.program,
                "seed": seed,
                "index": index,
            },
        )


def exact_text(value: Fraction | Decimal | int) -> str:
    """The answer as the executor renders that number (`render_number` of the nearest float).

    Example:
        >>> exact_text(Fraction(7, 2)), exact_text(Fraction(370, 6)), exact_text(Decimal("12.50"))
        ('3.5', '61.6666666667', '12.5')
    """
    q = Fraction(value)
    return str(q.numerator) if q.denominator == 1 else render_number(float(q))


def _arg(q: Fraction | int) -> Number:
    """A number as a model writes it in JSON: an int when whole, else its decimal float."""
    q = Fraction(q)
    return q.numerator if q.denominator == 1 else float(q)


def _money(q: Fraction | int) -> str:
    q = Fraction(q)
    return f"${q.numerator}" if q.denominator == 1 else f"${float(q):.2f}"


def _round_half_up(q: Fraction, ndigits: int) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 60
        exact = Decimal(q.numerator) / Decimal(q.denominator)
        return exact.quantize(Decimal(1).scaleb(-ndigits), rounding=ROUND_HALF_UP)


def _is_tie(q: Fraction, ndigits: int) -> bool:
    """Whether rounding `q` to `ndigits` places is an exact half (float noise could flip it)."""
    scaled = q * 10**ndigits
    return scaled - (scaled.numerator // scaled.denominator) == Fraction(1, 2)


NAMES = (
    "Maya",
    "Liam",
    "Aisha",
    "Noah",
    "Sofia",
    "Kenji",
    "Priya",
    "Lucas",
    "Amara",
    "Diego",
    "Elena",
    "Omar",
    "Hana",
    "Mateo",
    "Zoe",
    "Ravi",
    "Ingrid",
    "Kofi",
    "Lena",
    "Tariq",
)
ITEMS = (
    ("notebook", "notebooks"),
    ("pen", "pens"),
    ("apple", "apples"),
    ("book", "books"),
    ("ticket", "tickets"),
    ("mug", "mugs"),
    ("candle", "candles"),
    ("scarf", "scarves"),
    ("plant", "plants"),
    ("puzzle", "puzzles"),
    ("lamp", "lamps"),
    ("towel", "towels"),
)
THINGS = ("cookies", "stickers", "marbles", "crayons", "apples", "cards", "beads", "stamps")
BILLS = (5, 10, 20, 50, 100, 200, 500)


def _price(rng: random.Random) -> Fraction:
    """A price: whole dollars or dollars and cents (multiples of 5 cents)."""
    if rng.random() < 0.5:
        return Fraction(rng.randint(1, 40))
    return Fraction(rng.randint(10, 800) * 5, 100)


def _bill(total: Fraction, rng: random.Random) -> int:
    above = [b for b in BILLS if b > total]
    if above:
        return rng.choice(above[:2])
    return (int(total) // 100 + 1 + rng.randint(0, 2)) * 100


# -- in-domain families ----------------------------------------------------------------------
def _shopping(rng: random.Random) -> Draft:
    """Buying items: 1-4 calls of multiply, add, subtract."""
    name = rng.choice(NAMES)
    (_, item1), (_, item2) = rng.sample(ITEMS, 2)
    n1, n2 = rng.randint(2, 15), rng.randint(2, 15)
    p1, p2 = _price(rng), _price(rng)
    two_items, pays = rng.random() < 0.5, rng.random() < 0.5
    prog = _Program()
    cost = prog.call("multiply", f"the cost of the {item1}", a=n1, b=_arg(p1))
    total = n1 * p1
    buys = f"{n1} {item1} at {_money(p1)} each"
    if two_items:
        cost2 = prog.call("multiply", f"the cost of the {item2}", a=n2, b=_arg(p2))
        cost = prog.call("add", "the total cost", a=cost, b=cost2)
        total += n2 * p2
        buys += f" and {n2} {item2} at {_money(p2)} each"
    if pays:
        bill = _bill(total, rng)
        prog.call("subtract", "the change", a=bill, b=cost)
        question = rng.choice(
            (
                f"{name} buys {buys} and pays with a ${bill} bill. "
                f"How much change does {name} get?",
                f"At the market, {name} picks up {buys}. {name} hands over ${bill}. "
                "How much money comes back?",
            )
        )
        return Draft(question, bill - total, prog.steps)
    question = rng.choice(
        (
            f"{name} buys {buys}. How much does {name} spend in total?",
            f"How much do {buys} cost altogether?",
            f"A shop sells {buys.replace(' at ', ' priced at ')}. What is the bill?",
        )
    )
    return Draft(question, total, prog.steps)


def _sharing(rng: random.Random) -> Draft:
    """Equal shares and full groups: 1-3 calls of multiply, divide, floor."""
    name, thing = rng.choice(NAMES), rng.choice(THINGS)
    variant = rng.randrange(4)
    prog = _Program()
    if variant == 0:
        people, each = rng.randint(2, 12), rng.randint(2, 40)
        total = people * each
        prog.call("divide", "the share of each friend", a=total, b=people)
        question = rng.choice(
            (
                f"{name} shares {total} {thing} equally among {people} friends. "
                "How many does each friend get?",
                f"{total} {thing} are split evenly between {people} children. How many {thing} "
                "does each child receive?",
            )
        )
        return Draft(question, Fraction(each), prog.steps)
    if variant == 1:
        people, each = rng.randint(2, 12), rng.randint(2, 30)
        total = people * each
        boxes = rng.choice([d for d in range(2, 16) if total % d == 0] or [1])
        per_box = total // boxes
        t = prog.call("multiply", f"how many {thing} there are", a=boxes, b=per_box)
        prog.call("divide", "the share of each person", a=t, b=people)
        question = (
            f"{name} has {boxes} boxes with {per_box} {thing} in each and shares all of them "
            f"equally among {people} people. How many {thing} does each person get?"
        )
        return Draft(question, Fraction(each), prog.steps)
    size = rng.randint(3, 24)
    if variant == 2:
        total = rng.randint(size + 1, 600)
        q = prog.call("divide", "the exact number of groups", a=total, b=size)
        prog.call("floor", "the number of full groups", x=q)
        question = rng.choice(
            (
                f"{name} packs {total} {thing} into bags of {size}. How many bags can be filled "
                "completely?",
                f"There are {total} {thing}. Each jar holds {size}. How many jars are full?",
            )
        )
        return Draft(question, Fraction(total // size), prog.steps)
    bags, per_bag = rng.randint(2, 20), rng.randint(5, 60)
    t = prog.call("multiply", f"the number of {thing}", a=bags, b=per_bag)
    q = prog.call("divide", "the exact number of boxes", a=t, b=size)
    prog.call("floor", "the number of full boxes", x=q)
    question = (
        f"{name} has {bags} bags of {per_bag} {thing} and repacks them into boxes of {size}. "
        "How many boxes can be filled completely?"
    )
    return Draft(question, Fraction(bags * per_bag // size), prog.steps)


VEHICLES = (("cyclist", 10, 25), ("car", 40, 110), ("train", 60, 160), ("bus", 30, 80))


def _travel(rng: random.Random) -> Draft:
    """Speed, time and distance: 1, 3 or 5 calls of multiply, add, divide."""
    vehicle, lo, hi = rng.choice(VEHICLES)
    s1, s2 = rng.randint(lo, hi), rng.randint(lo, hi)
    h1, h2 = rng.randint(1, 6), rng.randint(1, 6)
    variant = rng.randrange(4)
    prog = _Program()
    if variant == 0:
        prog.call("multiply", "the distance", a=s1, b=h1)
        question = rng.choice(
            (
                f"A {vehicle} travels at {s1} km/h for {h1} hours. "
                "How many kilometres does it cover?",
                f"How far does a {vehicle} going {s1} km per hour get in {h1} hours (in km)?",
            )
        )
        return Draft(question, Fraction(s1 * h1), prog.steps)
    if variant == 1:
        distance = rng.randint(20, 900)
        prog.call("divide", "the travel time", a=distance, b=s1)
        question = (
            f"A {vehicle} moves at a steady {s1} km/h. How many hours does it take to travel "
            f"{distance} km?"
        )
        return Draft(question, Fraction(distance, s1), prog.steps)
    d1 = prog.call("multiply", "the distance of the first part", a=s1, b=h1)
    d2 = prog.call("multiply", "the distance of the second part", a=s2, b=h2)
    d = prog.call("add", "the total distance", a=d1, b=d2)
    legs = f"at {s1} km/h for {h1} hours and then at {s2} km/h for {h2} hours"
    if variant == 2:
        question = f"A {vehicle} travels {legs}. What total distance does it cover, in km?"
        return Draft(question, Fraction(s1 * h1 + s2 * h2), prog.steps)
    t = prog.call("add", "the total time", a=h1, b=h2)
    prog.call("divide", "the average speed", a=d, b=t)
    question = f"A {vehicle} travels {legs}. What is its average speed over the trip, in km/h?"
    return Draft(question, Fraction(s1 * h1 + s2 * h2, h1 + h2), prog.steps)


def _savings(rng: random.Random) -> Draft:
    """Earning and saving money: 2-3 calls of multiply, add, subtract."""
    name = rng.choice(NAMES)
    variant = rng.randrange(3)
    prog = _Program()
    if variant == 2:
        wage, hours, days = rng.randint(8, 40), rng.randint(2, 9), rng.randint(2, 25)
        per_day = prog.call("multiply", "the pay for one day", a=wage, b=hours)
        prog.call("multiply", "the pay for all days", a=per_day, b=days)
        question = rng.choice(
            (
                f"{name} earns ${wage} an hour and works {hours} hours a day for {days} days. "
                f"How much does {name} earn?",
                f"A job pays ${wage} per hour. {name} works {hours} hours on each of {days} days. "
                "What is the total pay?",
            )
        )
        return Draft(question, Fraction(wage * hours * days), prog.steps)
    start, weekly, weeks = rng.randint(0, 500), rng.randint(5, 80), rng.randint(2, 30)
    saved = prog.call("multiply", "the money saved over the weeks", a=weekly, b=weeks)
    total = prog.call("add", "the money in the piggy bank", a=start, b=saved)
    money = start + weekly * weeks
    story = f"{name} has ${start} and saves ${weekly} every week for {weeks} weeks"
    if variant == 0:
        question = f"{story}. How much money does {name} have at the end?"
        return Draft(question, Fraction(money), prog.steps)
    spend = rng.randint(1, money)
    prog.call("subtract", "what is left after the purchase", a=total, b=spend)
    question = rng.choice(
        (
            f"{story}, then spends ${spend} on a bike. How much money is left?",
            f"{story}. After buying a gift for ${spend}, how much does {name} still have?",
        )
    )
    return Draft(question, Fraction(money - spend), prog.steps)


def _tally(rng: random.Random) -> Draft:
    """Counting over days: 1-2 calls of sum_numbers, subtract, divide."""
    thing = rng.choice(THINGS)
    days = rng.randint(3, 7)
    counts = [rng.randint(5, 250) for _ in range(days)]
    listed = ", ".join(str(c) for c in counts[:-1]) + f" and {counts[-1]}"
    variant = rng.randrange(3)
    prog = _Program()
    total = prog.call("sum_numbers", f"the total number of {thing}", numbers=counts)
    if variant == 0:
        question = rng.choice(
            (
                f"A shop sold {listed} {thing} on {days} days. "
                f"How many {thing} did it sell in all?",
                f"Over {days} days a club collected {listed} {thing}. What is the total?",
            )
        )
        return Draft(question, Fraction(sum(counts)), prog.steps)
    if variant == 1:
        stock = sum(counts) + rng.randint(0, 500)
        prog.call("subtract", f"the {thing} left", a=stock, b=total)
        question = (
            f"A store had {stock} {thing} and sold {listed} of them on {days} days. "
            f"How many {thing} are left?"
        )
        return Draft(question, Fraction(stock - sum(counts)), prog.steps)
    prog.call("divide", "the daily average", a=total, b=days)
    question = (
        f"A bakery sold {listed} {thing} on {days} days. How many did it sell per day on average?"
    )
    return Draft(question, Fraction(sum(counts), days), prog.steps)


# -- held-out families -----------------------------------------------------------------------
def _interest(rng: random.Random) -> Draft:
    """Compound growth and decay: power, multiply, round_number (3 calls)."""
    while True:  # redraw on an exact rounding tie (see the module docstring)
        variant = rng.randrange(3)
        years = rng.randint(2, 3)
        if variant == 0:
            principal, rate = rng.randint(1, 200) * 100, rng.randint(1, 12)
            factor, ndigits = Fraction(100 + rate, 100), 2
            question = (
                f"You deposit ${principal} in an account paying {rate}% interest per year, "
                f"compounded yearly. How much is in the account after {years} years, rounded "
                "to the nearest cent?"
            )
        elif variant == 1:
            principal, rate = rng.randint(10, 500) * 100, rng.randint(1, 9)
            factor, ndigits = Fraction(100 + rate, 100), 0
            question = (
                f"A town of {principal} people grows by {rate}% every year. What is its "
                f"population after {years} years, rounded to the nearest whole number?"
            )
        else:
            principal, rate = rng.randint(20, 400) * 100, rng.randint(5, 30)
            factor, ndigits = Fraction(100 - rate, 100), 2
            question = (
                f"A machine bought for ${principal} loses {rate}% of its value every year. What "
                f"is it worth after {years} years, to the nearest cent?"
            )
        exact = principal * factor**years
        if not _is_tie(exact, ndigits):
            break
    prog = _Program()
    f = prog.call("power", "the growth factor over the years", base=_arg(factor), exponent=years)
    v = prog.call("multiply", "the value after the years", a=principal, b=f)
    prog.call("round_number", "the rounded value", x=v, ndigits=ndigits)
    return Draft(question, _round_half_up(exact, ndigits), prog.steps)


TRIPLES = (
    (3, 4, 5),
    (5, 12, 13),
    (8, 15, 17),
    (7, 24, 25),
    (20, 21, 29),
    (9, 40, 41),
    (12, 35, 37),
    (11, 60, 61),
    (28, 45, 53),
    (33, 56, 65),
    (16, 63, 65),
    (48, 55, 73),
)


def _sqrt_decimal(n: int) -> Fraction:
    with localcontext() as ctx:
        ctx.prec = 50
        return Fraction(Decimal(n).sqrt())


def _geometry(rng: random.Random) -> Draft:
    """Squares, cubes and right triangles: 1-5 calls of power, add, sqrt, multiply, round_number."""
    variant = rng.randrange(4)
    prog = _Program()
    if variant == 0:
        a, b, c = rng.choice(TRIPLES)
        k = rng.randint(1, 30)
        a, b, c = (a * k, b * k, c * k) if rng.random() < 0.5 else (b * k, a * k, c * k)
        a2 = prog.call("power", "the square of the first side", base=a, exponent=2)
        b2 = prog.call("power", "the square of the second side", base=b, exponent=2)
        s = prog.call("add", "the sum of the squares", a=a2, b=b2)
        prog.call("sqrt", "the hypotenuse", x=s)
        question = rng.choice(
            (
                f"A ladder stands with its foot {a} m from a wall and reaches {b} m up the wall. "
                "How long is the ladder?",
                f"A right triangle has legs of {a} cm and {b} cm. How long is its hypotenuse?",
                f"A park is a rectangle {a} m by {b} m. How long is the straight path from one "
                "corner to the opposite corner?",
            )
        )
        return Draft(question, Fraction(c), prog.steps)
    if variant == 1:
        while True:
            a, b = rng.randint(2, 60), rng.randint(2, 60)
            n = a * a + b * b
            if int(n**0.5) ** 2 != n:
                break
        a2 = prog.call("power", "the square of the width", base=a, exponent=2)
        b2 = prog.call("power", "the square of the height", base=b, exponent=2)
        s = prog.call("add", "the sum of the squares", a=a2, b=b2)
        d = prog.call("sqrt", "the diagonal", x=s)
        prog.call("round_number", "the diagonal to two decimals", x=d, ndigits=2)
        question = (
            f"A rectangular screen is {a} cm wide and {b} cm tall. How long is its diagonal, "
            "rounded to two decimal places?"
        )
        return Draft(question, _round_half_up(_sqrt_decimal(n), 2), prog.steps)
    if variant == 2:
        side = rng.randint(2, 2000)
        s = prog.call("sqrt", "the side of the square", x=side * side)
        prog.call("multiply", "the length of fence", a=4, b=s)
        question = rng.choice(
            (
                f"A square garden has an area of {side * side} square metres. How many metres of "
                "fence go around it?",
                f"What is the perimeter of a square whose area is {side * side} cm^2?",
            )
        )
        return Draft(question, Fraction(4 * side), prog.steps)
    dim = rng.choice((2, 3))
    side = rng.randint(2, 999 if dim == 2 else 200)
    prog.call("power", "the area" if dim == 2 else "the volume", base=side, exponent=dim)
    question = (
        f"A square tile has sides of {side} cm. What is its area in cm^2?"
        if dim == 2
        else f"A cube-shaped box has edges of {side} cm. What is its volume in cm^3?"
    )
    return Draft(question, Fraction(side**dim), prog.steps)


def _clock(rng: random.Random) -> Draft:
    """Clock and calendar arithmetic: 2-3 calls of add, multiply, modulo."""
    variant = rng.randrange(3)
    prog = _Program()
    if variant == 0:
        hour, later = rng.randint(0, 23), rng.randint(5, 500)
        t = prog.call("add", "the hour count", a=hour, b=later)
        prog.call("modulo", "the hour on the clock", a=t, b=24)
        question = rng.choice(
            (
                f"It is {hour}:00 now. What hour will a 24-hour clock show {later} hours from now?",
                f"A timer started at {hour}:00 goes off after {later} hours. At what hour (0-23) "
                "does it ring?",
            )
        )
        return Draft(question, Fraction((hour + later) % 24), prog.steps)
    if variant == 1:
        name = rng.choice(NAMES)
        hour, shifts, length = rng.randint(0, 23), rng.randint(2, 9), rng.randint(3, 12)
        w = prog.call("multiply", "the hours worked", a=shifts, b=length)
        t = prog.call("add", "the hour count at the end", a=hour, b=w)
        prog.call("modulo", "the hour on the clock", a=t, b=24)
        question = (
            f"{name} starts work at {hour}:00 and does {shifts} shifts of {length} hours back "
            "to back. At what hour of a 24-hour clock does the last shift end?"
        )
        return Draft(question, Fraction((hour + shifts * length) % 24), prog.steps)
    day, later = rng.randint(0, 6), rng.randint(3, 1000)
    t = prog.call("add", "the day count", a=day, b=later)
    prog.call("modulo", "the day of the week", a=t, b=7)
    question = (
        f"The days of the week are numbered 0 (Sunday) to 6 (Saturday). Today is day {day}. "
        f"Which day number is it {later} days from now?"
    )
    return Draft(question, Fraction((day + later) % 7), prog.steps)


def _temperature(rng: random.Random) -> Draft:
    """Signed differences: subtract and abs_value (2 or 5 calls)."""
    variant = rng.randrange(3)
    prog = _Program()
    if variant == 0:
        a, b = rng.randint(-30, 35), rng.randint(-30, 35)
        d = prog.call("subtract", "the signed change", a=b, b=a)
        prog.call("abs_value", "the size of the change", x=d)
        question = rng.choice(
            (
                f"At dawn it was {a} degrees C and at noon {b} degrees C. By how many degrees did "
                "the temperature change?",
                f"A freezer reads {a} degrees and a minute later {b} degrees. How big was the "
                "change in degrees, ignoring its direction?",
            )
        )
        return Draft(question, Fraction(abs(b - a)), prog.steps)
    if variant == 1:
        depth, height = rng.randint(5, 400), rng.randint(5, 900)
        d = prog.call("subtract", "the signed gap", a=-depth, b=height)
        prog.call("abs_value", "the distance", x=d)
        question = (
            f"A submarine is at an altitude of -{depth} m and a helicopter flies at {height} m. "
            "How many metres apart are they vertically?"
        )
        return Draft(question, Fraction(depth + height), prog.steps)
    a, b, c = (rng.randint(-25, 30) for _ in range(3))
    d1 = prog.call("subtract", "the first change", a=b, b=a)
    m1 = prog.call("abs_value", "the size of the first change", x=d1)
    d2 = prog.call("subtract", "the second change", a=c, b=b)
    m2 = prog.call("abs_value", "the size of the second change", x=d2)
    prog.call("add", "the total change", a=m1, b=m2)
    question = (
        f"The temperature went from {a} degrees to {b} degrees and then to {c} degrees. "
        "What is the total amount it moved, counting rises and falls as positive?"
    )
    return Draft(question, Fraction(abs(b - a) + abs(c - b)), prog.steps)


def _packing(rng: random.Random) -> Draft:
    """How many containers are needed: divide, ceil, sometimes multiply (2-3 calls)."""
    variant = rng.randrange(3)
    prog = _Program()
    if variant == 0:
        seats = rng.randint(10, 60)
        people = rng.randint(seats + 1, 800)
        q = prog.call("divide", "the exact number of trips", a=people, b=seats)
        prog.call("ceil", "the whole number of trips needed", x=q)
        question = rng.choice(
            (
                f"{people} students go on a trip and each bus seats {seats}. How many buses are "
                "needed?",
                f"A ferry carries {seats} cars per crossing. How many crossings are needed for "
                f"{people} cars?",
            )
        )
        return Draft(question, Fraction(-(-people // seats)), prog.steps)
    if variant == 1:
        classes, size, room = rng.randint(2, 12), rng.randint(15, 35), rng.randint(20, 90)
        total = prog.call("multiply", "the number of students", a=classes, b=size)
        q = prog.call("divide", "the exact number of rooms", a=total, b=room)
        prog.call("ceil", "the rooms needed", x=q)
        question = (
            f"A school has {classes} classes of {size} students. Each exam room holds {room} "
            "students. How many rooms are needed?"
        )
        return Draft(question, Fraction(-(-(classes * size) // room)), prog.steps)
    area, cover = rng.randint(10, 400), rng.randint(4, 30)
    q = prog.call("divide", "the exact number of cans", a=area, b=cover)
    prog.call("ceil", "the cans to buy", x=q)
    question = (
        f"A wall of {area} square metres needs painting and one can covers {cover} square "
        "metres. How many cans must be bought?"
    )
    return Draft(question, Fraction(-(-area // cover)), prog.steps)


def _chain(rng: random.Random) -> Draft:
    """Number-machine instructions: 4-5 chained calls in an unfamiliar phrasing."""
    x = rng.randint(2, 60)
    n_ops = rng.randint(4, 5)
    prog = _Program()
    value, ref, words = Fraction(x), x, []
    for i in range(n_ops):
        last = i == n_ops - 1
        op = rng.choice(("multiply", "add", "subtract", "divide" if last else "add"))
        k = rng.randint(2, 9) if op in ("multiply", "divide") else rng.randint(1, 99)
        if op == "multiply":
            value, phrase, note = value * k, f"multiply it by {k}", f"the product with {k}"
        elif op == "add":
            value, phrase, note = value + k, f"add {k}", f"the sum with {k}"
        elif op == "subtract":
            value, phrase, note = value - k, f"subtract {k}", f"the value minus {k}"
        else:
            value, phrase, note = value / k, f"divide by {k}", f"the quotient by {k}"
        ref = prog.call(op, note, a=ref, b=k)
        words.append(phrase)
    steps = ", ".join(words[:-1]) + f", and finally {words[-1]}"
    question = rng.choice(
        (
            f"Start with {x}. Now {steps}. What number do you end with?",
            f"A number machine takes {x}; it is told to {steps}. What does the machine output?",
            f"Think of the number {x}: {steps}. Which number results?",
        )
    )
    return Draft(question, value, prog.steps)


_FAMILY_LIST = (
    Family(
        "shopping",
        True,
        "Buying items, totals and change; multiply, add, subtract (1-4 calls).",
        ("multiply", "add", "subtract"),
        _shopping,
    ),
    Family(
        "sharing",
        True,
        "Equal shares and full groups; multiply, divide, floor (1-3 calls).",
        ("multiply", "divide", "floor"),
        _sharing,
    ),
    Family(
        "travel",
        True,
        "Speed, time, distance and average speed; multiply, add, divide (1, 3 or 5 calls).",
        ("multiply", "add", "divide"),
        _travel,
    ),
    Family(
        "savings",
        True,
        "Wages and savings over weeks; multiply, add, subtract (2-3 calls).",
        ("multiply", "add", "subtract"),
        _savings,
    ),
    Family(
        "tally",
        True,
        "Totals, stock left and daily averages of lists; sum_numbers, "
        "subtract, divide (1-2 calls).",
        ("sum_numbers", "subtract", "divide"),
        _tally,
    ),
    Family(
        "interest",
        False,
        "Compound growth and decay with rounding: power, multiply, "
        "round_number (3 calls; held-out operations).",
        ("power", "multiply", "round_number"),
        _interest,
    ),
    Family(
        "geometry",
        False,
        "Right triangles, squares and cubes: power, sqrt, add, multiply, "
        "round_number (1-5 calls; held-out operations).",
        ("power", "sqrt", "add", "multiply", "round_number"),
        _geometry,
    ),
    Family(
        "clock",
        False,
        "24-hour clock and weekday arithmetic: add, multiply, modulo (2-3 "
        "calls; held-out operation).",
        ("add", "multiply", "modulo"),
        _clock,
    ),
    Family(
        "temperature",
        False,
        "Signed differences and distances: subtract, abs_value, add "
        "(2 or 5 calls; held-out operation).",
        ("subtract", "abs_value", "add"),
        _temperature,
    ),
    Family(
        "packing",
        False,
        "Containers needed, rounding up: divide, ceil, multiply (2-3 calls; held-out operation).",
        ("divide", "ceil", "multiply"),
        _packing,
    ),
    Family(
        "chain",
        False,
        "Number-machine instructions: 4-5 chained add/subtract/multiply/"
        "divide calls (held-out phrasing, longer chains).",
        ("multiply", "add", "subtract", "divide"),
        _chain,
    ),
)

FAMILIES: dict[str, Family] = {f.name: f for f in _FAMILY_LIST}
SPLITS: dict[str, tuple[str, ...]] = {
    "in_domain": tuple(f.name for f in _FAMILY_LIST if f.in_domain),
    "held_out": tuple(f.name for f in _FAMILY_LIST if not f.in_domain),
    "all": tuple(FAMILIES),
}
