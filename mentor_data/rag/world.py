"""A generated fictional world for the retrieval-augmented QA domain: entities and their pages.

The machine that builds the data cannot download Wikipedia, and a model must not answer from
memory anyway, so the built-in corpus describes an invented world: people, cities, countries and
organisations with pronounceable names drawn from syllable tables. Everything follows from
`random.Random` seeded with strings, so a seed always gives the same world, byte for byte.

Each entity has one page (`world_documents`) of 3-6 short sentences. The facts a search snippet
must show (the first `SNIPPET_CHARS` characters of the text) come first; a city's founding year
and population come after at least `LATE_START` characters of history sentences, so only
`open_page` reveals them. Pages name linked entities by their exact titles, so a search for a
linked name finds its page. `mentor_data.rag.questions` builds the multi-hop questions.

Example:
    >>> world = build_world(seed=0)
    >>> len(world.people), len(world.cities), len(world.countries), len(world.organisations)
    (1500, 400, 40, 500)
    >>> world_documents(world)[0]["id"]
    'e0'
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

# What a search result shows of a page (the corpus's snippet length); facts a question reads from
# a search result must lie inside it, facts meant for `open_page` only beyond it.
SNIPPET_CHARS = 300
# Early facts end before this (a margin below SNIPPET_CHARS, in case a snippet is cut at a word);
# late facts start at or after LATE_START (a margin above it).
EARLY_LIMIT = 260
LATE_START = 330
# A fixed ~20% of people and organisations are held-out entities (questions about them are only
# in the held-out split); links between people and organisations stay inside one partition.
HELD_OUT_FRACTION = 0.2
COUNTS = {"people": 1500, "cities": 400, "countries": 40, "organisations": 500}

_PERSON_FIRST = (
    ("Ta", "Ve", "Ori", "Ka", "Zo", "Bre", "Isha", "Que", "Yl", "Dra", "Fe", "Hou", "Ne", "Pa"),
    ("lvek", "drith", "xen", "qor", "zael", "thyr", "vesk", "norr", "lisk", "mbra", "ndor"),
)
_PERSON_LAST = (
    ("Vor", "Bras", "Kel", "Dun", "Ost", "Pell", "Quen", "Rask", "Sor", "Tavr", "Ulm", "Vesh"),
    ("rek", "ovan", "ith", "enko", "adaire", "imar", "ossk", "ulva", "achte", "onde", "eska"),
)
_CITY = (
    ("Bra", "Kor", "Vel", "Ost", "Lum", "Tar", "Qua", "Dre", "Ish", "Mor", "Nal", "Pyr", "Thu"),
    ("sto", "ven", "ad", "ir", "om", "ek", "ul", "esh", "ov", "im", "ar"),
    ("va", "holm", "grad", "ria", "mouth", "dell", "ford", "sk", "port", "wick", "ine"),
)
_COUNTRY_ROOTS = (
    ("Keth", "Alv", "Borm", "Cald", "Dusk", "Fenn", "Grav", "Ith", "Jor", "Lys", "Myr", "Norv"),
    ("Orz", "Pelt", "Quill", "Rhun", "Sarn", "Tov", "Ulv", "Vask", "Wend", "Xer", "Ymr", "Zeph"),
)
# Many roots, few endings: few of the 40 countries share a root, so names stay easy to tell apart.
_COUNTRY = (_COUNTRY_ROOTS[0] + _COUNTRY_ROOTS[1], ("ia", "aria", "ovia", "enia", "ora", "ond"))
_ORG_STEM = (
    ("Vel", "Quar", "Zen", "Mal", "Thal", "Cor", "Bex", "Dyn", "Fal", "Hel", "Kry", "Lum", "Nox"),
    ("kor", "ith", "ada", "ex", "ion", "ara", "enn", "ulo", "ast", "ive", "orm", "ys", "omb"),
)
# Title suffix -> what the page calls the organisation.
_ORG_KINDS = (
    ("Shipyards", "shipbuilding company"),
    ("Institute", "research institute"),
    ("Bank", "bank"),
    ("Press", "publishing house"),
    ("Observatory", "observatory"),
    ("Mills", "textile company"),
    ("Railways", "railway company"),
    ("Foundry", "metalworks"),
    ("Conservatory", "music school"),
    ("Trading Company", "trading company"),
    ("Works", "engineering firm"),
    ("Brewery", "brewery"),
)
_SUFFIXES = tuple(suffix for suffix, _ in _ORG_KINDS)
OCCUPATIONS = (
    "engineer",
    "painter",
    "architect",
    "physician",
    "botanist",
    "cartographer",
    "composer",
    "economist",
    "historian",
    "jurist",
    "mathematician",
    "navigator",
    "poet",
    "sculptor",
    "astronomer",
    "chemist",
    "diplomat",
    "librarian",
)
# Filler sentences carry no names and no digits, so they never add a competing fact.
_CITY_FILLER = (
    "The old town grew up around a {place} beside the river, and many of its narrow streets "
    "still follow the line of the first {wall}.",
    "For centuries the local economy depended on {trade}, and the guild houses built in that "
    "period still line the main square near the {place}.",
    "Travellers often describe the {season} festival, when the squares fill with music, "
    "lanterns and stalls selling {food} late into the night.",
    "A long period of {event} reshaped the city, and a new district of {material} houses was "
    "laid out along the road to the {place}.",
    "The city is known for its {building}, which was rebuilt twice after fires and now houses a "
    "small museum of local history and crafts.",
    "Local chronicles mention frequent disputes with neighbouring towns over {trade}, which were "
    "settled only after a long treaty signed at the {place}.",
)
_ORG_FILLER = (
    "The {kind} is known for its {quality} work and for the archives it keeps of its early years.",
    "Over the decades it opened several branch offices and trained many apprentices in {trade}.",
    "Its main building, with a {material} facade, is a well-known landmark of the district.",
)
_PERSON_FILLER = (
    "Contemporaries described {name} as {adj} and {adj2}, and several letters survive.",
    "Later biographies note that {name} spent long periods travelling and kept detailed diaries.",
    "{name} is also remembered for {quality} contributions to local debates about {trade}.",
)
_COUNTRY_FILLER = (
    "Most of its people live along the {landscape}, and its economy rests on {trade}.",
    "The country is known for its {landscape} and for a long tradition of {trade}.",
)
_WORDS = {
    "place": ("market", "harbour", "stone bridge", "monastery", "ferry landing", "castle"),
    "wall": ("city walls", "earthen ramparts", "wooden palisade", "canal ring"),
    "trade": ("wool", "salt", "timber", "glassmaking", "river shipping", "copper mining"),
    "season": ("spring", "summer", "harvest", "midwinter"),
    "food": ("roasted chestnuts", "honey cakes", "smoked fish", "spiced bread"),
    "event": ("flooding", "rapid growth", "plague and recovery", "trade decline"),
    "material": ("brick", "timber", "sandstone", "limestone"),
    "building": ("clock tower", "covered market", "cathedral", "old bridge", "town hall"),
    "quality": ("careful", "innovative", "meticulous", "ambitious"),
    "adj": ("patient", "stubborn", "generous", "reserved", "witty", "restless"),
    "landscape": ("coastal plains", "river valleys", "high plateau", "northern lakes"),
}


@dataclass
class Person:
    """A person: `employer` and `mentor` are in the same partition (train or held-out)."""

    name: str
    birth_year: int
    birth_city: str
    occupation: str
    held_out: bool
    employer: str = ""
    mentor: str | None = None
    founded: str | None = None  # the organisation this person founded, if any
    mayor_of: str | None = None


@dataclass
class City:
    """A city; `founded` and `population` are the late facts of its page (beyond the snippet)."""

    name: str
    country: str
    population: int
    founded: int
    mayor: str = ""


@dataclass
class Country:
    """A country; its population is at least the sum of its cities'."""

    name: str
    capital: str
    population: int


@dataclass
class Organisation:
    """An organisation; its founder is in its partition and born 22-60 years before it."""

    name: str
    kind: str
    founded: int
    founder: str
    headquarters: str
    employees: int
    held_out: bool


@dataclass
class World:
    """The generated world: entity lists in a fixed order, and an index by title."""

    seed: int
    people: list[Person]
    cities: list[City]
    countries: list[Country]
    organisations: list[Organisation]
    index: dict[str, Person | City | Country | Organisation] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {e.name: e for group in self.groups() for e in group}

    def groups(self) -> tuple[list, list, list, list]:
        """The entity lists in page order: people, organisations, cities, countries."""
        return self.people, self.organisations, self.cities, self.countries

    def held_out_titles(self) -> set[str]:
        """Titles of the held-out people and organisations."""
        return {e.name for e in self.people + self.organisations if e.held_out}


def _draw_names(rng: random.Random, parts: Sequence[Sequence[str]], n: int, sep: str = "") -> list:
    """Up to `n` distinct names, each one syllable from every table (capitalised), in draw order."""
    names: dict[str, None] = {}
    for _ in range(n * 20):  # bounded: tables too small for n give fewer names, caught later
        name = sep.join("".join(rng.choice(p) for p in group) for group in parts)
        names.setdefault(name.title() if sep else name.capitalize(), None)
        if len(names) == n:
            break
    return list(names)


def _unique_titles(rng: random.Random) -> dict[str, list[str]]:
    """Names for every entity kind, no title a substring of another (case-insensitively).

    Each kind draws 25% more names than it needs; every name found inside another one (or twice)
    is dropped, which cannot create a new conflict, so one pass leaves a substring-free set.
    """
    extra = {k: n + n // 4 + 10 for k, n in COUNTS.items()}
    drawn = {
        "people": _draw_names(rng, (_PERSON_FIRST, _PERSON_LAST), extra["people"], sep=" "),
        "cities": _draw_names(rng, (_CITY,), extra["cities"]),
        "countries": _draw_names(rng, (_COUNTRY,), extra["countries"]),
        "organisations": _draw_names(rng, (_ORG_STEM, (_SUFFIXES,)), extra["organisations"], " "),
    }
    everything = "\n".join(name.lower() for names in drawn.values() for name in names)
    out = {}
    for kind, names in drawn.items():
        kept = [name for name in names if everything.count(name.lower()) == 1]
        if len(kept) < COUNTS[kind]:
            raise RuntimeError(f"rag world: only {len(kept)} unique {kind} names")
        out[kind] = kept[: COUNTS[kind]]
    return out


def _held_out_flags(rng: random.Random, n: int) -> list[bool]:
    chosen = set(rng.sample(range(n), round(n * HELD_OUT_FRACTION)))
    return [i in chosen for i in range(n)]


def build_world(seed: int = 0) -> World:
    """Generate the world for a seed (deterministic; about 0.1 s).

    Args:
        seed: The world seed; different seeds give different names and facts.

    Returns:
        The `World` with 1,500 people, 400 cities, 40 countries and 500 organisations.
    """
    rng = random.Random(f"rag-world/{seed}")
    titles = _unique_titles(rng)
    countries = [Country(name, "", 0) for name in titles["countries"]]
    # Every country gets the same number of cities (a shuffled round robin).
    order = [countries[i % len(countries)].name for i in range(COUNTS["cities"])]
    rng.shuffle(order)
    cities = [
        City(name, country, int(10 ** rng.uniform(3.5, 6.5)), rng.randint(900, 1750))
        for name, country in zip(titles["cities"], order, strict=True)
    ]
    for country in countries:
        own = [c for c in cities if c.country == country.name]
        country.capital = own[0].name
        country.population = sum(c.population for c in own) + int(10 ** rng.uniform(5, 7))
    flags = _held_out_flags(rng, COUNTS["people"])
    # Born after every city was founded (<= 1750), so "years after the city's founding" is > 0.
    people = [
        Person(
            name,
            rng.randint(1780, 1995),
            rng.choice(cities).name,
            rng.choice(OCCUPATIONS),
            flag,
        )
        for name, flag in zip(titles["people"], flags, strict=True)
    ]
    # Mayors hold office now: the youngest people, one city each.
    youngest = sorted(people, key=lambda p: (-p.birth_year, p.name))[: len(cities)]
    rng.shuffle(youngest)
    for city, mayor in zip(cities, youngest, strict=True):
        city.mayor, mayor.mayor_of = mayor.name, city.name
    organisations = _organisations(rng, titles["organisations"], people, cities)
    _link_people(rng, people, organisations)
    return World(seed, people, cities, countries, organisations)


def _organisations(
    rng: random.Random, names: list[str], people: list[Person], cities: list[City]
) -> list[Organisation]:
    """Organisations with distinct founders from their own partition, born by 1955."""
    kinds = dict(_ORG_KINDS)
    flags = _held_out_flags(rng, len(names))
    pools = {
        flag: [p for p in people if p.held_out == flag and p.birth_year <= 1955]
        for flag in (False, True)
    }
    for pool in pools.values():
        rng.shuffle(pool)
    organisations = []
    for name, flag in zip(names, flags, strict=True):
        founder = pools[flag].pop()  # a founder founds one organisation: unique "founder of"
        founded = founder.birth_year + rng.randint(22, 60)
        founder.founded, founder.employer = name, name
        kind = next(k for suffix, k in kinds.items() if name.endswith(" " + suffix))
        organisations.append(
            Organisation(
                name,
                kind,
                founded,
                founder.name,
                rng.choice(cities).name,
                int(10 ** rng.uniform(1.5, 4.8)),
                flag,
            )
        )
    return organisations


def _link_people(rng: random.Random, people: list[Person], organisations: list[Organisation]):
    """Employers (an organisation that existed in the person's working life) and mentors."""
    for flag in (False, True):
        orgs = sorted((o for o in organisations if o.held_out == flag), key=lambda o: o.founded)
        years = [o.founded for o in orgs]
        group = sorted((p for p in people if p.held_out == flag), key=lambda p: p.birth_year)
        births = [p.birth_year for p in group]
        for person in group:
            if not person.employer:
                # Founded no later than the person's 45th year; else the earliest one.
                hi = bisect.bisect_right(years, person.birth_year + 45)
                lo = bisect.bisect_left(years, person.birth_year - 80, 0, hi)
                person.employer = rng.choice(orgs[lo:hi] if hi > lo else orgs[:1]).name
            # Half the people trained under someone 15-50 years older.
            lo = bisect.bisect_left(births, person.birth_year - 50)
            hi = bisect.bisect_right(births, person.birth_year - 15)
            if hi > lo and rng.random() < 0.5:
                person.mentor = group[rng.randrange(lo, hi)].name


def _fill(rng: random.Random, template: str, **names: str) -> str:
    words = {k: rng.choice(v) for k, v in _WORDS.items()}
    words["adj2"] = rng.choice([a for a in _WORDS["adj"] if a != words["adj"]])
    return template.format(**words, **names)


def _article(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _person_text(rng: random.Random, p: Person) -> tuple[str, str]:
    occupation = _article(p.occupation)
    sentences = [f"{p.name} was born in {p.birth_year} in {p.birth_city}."]
    if p.founded:
        sentences.append(f"{p.name} was {occupation} who founded {p.founded}.")
    else:
        sentences.append(f"{p.name} worked as {occupation} for {p.employer}.")
    if p.mayor_of:
        sentences.append(f"{p.name} is the current mayor of {p.mayor_of}.")
    if p.mentor:
        sentences.append(f"{p.name} trained under {p.mentor}.")
    early = " ".join(sentences)
    return f"{early} {_fill(rng, rng.choice(_PERSON_FILLER), name=p.name)}", early


def _org_text(rng: random.Random, o: Organisation) -> tuple[str, str]:
    early = (
        f"{o.name} is {_article(o.kind)} founded in {o.founded} by {o.founder}. "
        f"It is headquartered in {o.headquarters} and has {o.employees} employees."
    )
    fillers = rng.sample(_ORG_FILLER, rng.randint(1, 2))
    return " ".join([early] + [_fill(rng, f, kind=o.kind) for f in fillers]), early


def _city_text(rng: random.Random, c: City) -> tuple[str, str]:
    early = f"{c.name} is a city in {c.country}, and its current mayor is {c.mayor}."
    text = early
    # History sentences push the founding year and population beyond the snippet.
    for template in rng.sample(_CITY_FILLER, len(_CITY_FILLER)):
        if len(text) >= LATE_START - 1:
            break
        text += " " + _fill(rng, template)
    late = f" {c.name} was founded in {c.founded}. It has a population of {c.population}."
    return text + late, early


def _country_text(rng: random.Random, c: Country) -> tuple[str, str]:
    early = f"{c.name} is a country whose capital is {c.capital}. It has a population of "
    early += f"{c.population}."
    return f"{early} {_fill(rng, rng.choice(_COUNTRY_FILLER))}", early


def world_documents(world: World) -> list[dict]:
    """One page per entity, `{"id": "e<k>", "title", "text"}`, in `World.groups` order.

    Args:
        world: The world from `build_world`.

    Returns:
        The pages; the same world always gives the same texts.

    Raises:
        RuntimeError: An early fact would lie beyond `EARLY_LIMIT`, or a late one before
            `LATE_START` (a bug in the templates, never the data).
    """
    rng = random.Random(f"rag-pages/{world.seed}")
    makers = (_person_text, _org_text, _city_text, _country_text)
    docs = []
    for make, group in zip(makers, world.groups(), strict=True):
        for entity in group:
            text, early = make(rng, entity)
            if len(early) > EARLY_LIMIT:
                raise RuntimeError(f"rag world: early facts of {entity.name} are too long")
            if isinstance(entity, City) and text.index(f"founded in {entity.founded}") < LATE_START:
                raise RuntimeError(f"rag world: late facts of {entity.name} start too early")
            docs.append({"id": f"e{len(docs)}", "title": entity.name, "text": text})
    return docs
