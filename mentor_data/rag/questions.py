"""Multi-hop questions over the generated world (`mentor_data.rag.world`), with reference programs.

Six question types, each answered by a reference program of 2-4 tool calls whose arguments are
literal values read from earlier observations (the solver teacher replays them verbatim and boxes
`program_answer`). The types use different tool sets on purpose, since MENTOR rewards the student
for using the teacher's tools (`TYPE_TOOLS`):

- `bridge` {search}: "In which city was the founder of X born?"
- `comparison` {search}: "Who was born earlier, A or B?"
- `compute` {search, subtract}: "How many years older is A than B?"
- `deep` {search, open_page}: "What is the population of the city where X has its
  headquarters?" (the fact lies beyond the search snippet)
- `aggregate` {search, add}, held-out type: "How many employees do A and B have together?"
- `bridge_compute` {search, open_page, subtract}, held-out type, 3-4 hops.

Splits: the two held-out types are all `held_out` (reason "type", about train entities only, so
the type is the only change); every fifth question of a train type is about held-out people and
organisations only (reason "entity"); `train` questions never name a held-out entity.
`check_world` replays every program against the pages and checks that each value it uses was
visible in an earlier observation.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from mentor_data.rag.world import (
    SNIPPET_CHARS,
    City,
    Organisation,
    Person,
    World,
    build_world,
    world_documents,
)
from mentor_data.tools.arithmetic import add, subtract

QUESTION_COUNTS = {
    "bridge": 1000,
    "comparison": 1000,
    "compute": 1000,
    "deep": 800,
    "aggregate": 400,
    "bridge_compute": 400,
}
HELD_OUT_TYPES = ("aggregate", "bridge_compute")
TYPE_TOOLS = {
    "bridge": ("search",),
    "comparison": ("search",),
    "compute": ("search", "subtract"),
    "deep": ("open_page", "search"),
    "aggregate": ("add", "search"),
    "bridge_compute": ("open_page", "search", "subtract"),
}
# Every HELD_OUT_ENTITY_EVERY-th question of a train type is about held-out entities (20%).
HELD_OUT_ENTITY_EVERY = 5


@dataclass
class _Draft:
    question: str
    answer: str
    entities: list[str]
    program: list[dict]
    template: str
    aliases: tuple[str, ...] = ()


class _Pool:
    """The entities one partition's questions may use (cities and countries are shared)."""

    def __init__(self, world: World, held_out: bool) -> None:
        self.world = world
        self.people = [p for p in world.people if p.held_out == held_out]
        self.orgs = [o for o in world.organisations if o.held_out == held_out]
        self.mentees = [p for p in self.people if p.mentor]
        self.mayors = [p for p in self.people if p.mayor_of]

    def get(self, name: str):
        return self.world.index[name]


def _search(query: str, note: str) -> dict:
    return {"tool": "search", "arguments": {"query": query}, "note": note}


def _open(title: str, note: str) -> dict:
    return {"tool": "open_page", "arguments": {"title": title}, "note": note}


def _math(tool: str, a: int, b: int, note: str) -> dict:
    return {"tool": tool, "arguments": {"a": a, "b": b}, "note": note}


def _number(
    value: int, template: str, entities: list[str], program: list[dict], q: str, count=False
) -> _Draft:
    """A draft whose answer is a number; a count's alias has thousands separators (`1,234`)."""
    alias = (f"{value:,}",) if count and value >= 1000 else ()
    return _Draft(q, str(value), entities, program, template, alias)


def _city_aliases(pool: _Pool, city: str) -> tuple[str, ...]:
    return (f"{city}, {pool.get(city).country}",)


# -- bridge: two searches, the answer is a name in the second snippet ---------------------------
def _bridge(pool: _Pool, rng: random.Random) -> _Draft:
    template = rng.choice(("founder_birthplace", "hq_country", "mayor_birthplace", "mentor_org"))
    if template == "founder_birthplace":
        org = rng.choice(pool.orgs)
        f = pool.get(org.founder)
        program = [
            _search(org.name, f"the founder of {org.name}"),
            _search(f.name, f"the birthplace of {f.name}"),
        ]
        q = f"In which city was the founder of {org.name} born?"
        entities = [org.name, f.name, f.birth_city]
        aliases = _city_aliases(pool, f.birth_city)
        return _Draft(q, f.birth_city, entities, program, template, aliases)
    if template == "hq_country":
        org = rng.choice(pool.orgs)
        city = pool.get(org.headquarters)
        program = [
            _search(org.name, f"the headquarters of {org.name}"),
            _search(city.name, f"the country of {city.name}"),
        ]
        q = f"In which country does {org.name} have its headquarters?"
        return _Draft(q, city.country, [org.name, city.name, city.country], program, template)
    if template == "mayor_birthplace":
        mayor = rng.choice(pool.mayors)
        city = mayor.mayor_of
        program = [
            _search(city, f"the mayor of {city}"),
            _search(mayor.name, f"the birthplace of {mayor.name}"),
        ]
        q = f"In which city was the current mayor of {city} born?"
        entities = [city, mayor.name, mayor.birth_city]
        aliases = _city_aliases(pool, mayor.birth_city)
        return _Draft(q, mayor.birth_city, entities, program, template, aliases)
    person = rng.choice(pool.mentees)
    mentor = pool.get(person.mentor)
    program = [
        _search(person.name, f"the mentor of {person.name}"),
        _search(mentor.name, f"the organisation {mentor.name} worked for"),
    ]
    q = f"Which organisation did the mentor of {person.name} work for?"
    entities = [person.name, mentor.name, mentor.employer]
    return _Draft(q, mentor.employer, entities, program, template)


def _two(rng: random.Random, items: list, key: Callable) -> tuple:
    """Two items whose `key` differs (the question would have no answer otherwise)."""
    while True:
        a, b = rng.sample(items, 2)
        if key(a) != key(b):
            return a, b


# -- comparison: two searches, the answer is one of the two names ------------------------------
_COMPARE = {
    # template: (question, entity kind, attribute, note, the smaller value wins)
    "born_earlier": ("Who was born earlier, {a} or {b}?", "people", "birth_year", "birth year"),
    "founded_earlier": (
        "Which was founded earlier, {a} or {b}?",
        "orgs",
        "founded",
        "founding year",
    ),
    "more_employees": (
        "Which has more employees, {a} or {b}?",
        "orgs",
        "employees",
        "number of employees",
    ),
}


def _comparison(pool: _Pool, rng: random.Random) -> _Draft:
    template = rng.choice(tuple(_COMPARE))
    text, kind, attribute, note = _COMPARE[template]
    a, b = _two(rng, getattr(pool, kind), lambda e: getattr(e, attribute))
    pick = max if template == "more_employees" else min
    answer = pick((a, b), key=lambda e: getattr(e, attribute)).name
    program = [_search(e.name, f"the {note} of {e.name}") for e in (a, b)]
    return _Draft(text.format(a=a.name, b=b.name), answer, [a.name, b.name], program, template)


# -- compute: two searches and a subtraction ---------------------------------------------------
def _compute(pool: _Pool, rng: random.Random) -> _Draft:
    template = rng.choice(("founder_age", "years_older", "founded_before"))
    if template == "founder_age":
        org = rng.choice(pool.orgs)
        f = pool.get(org.founder)
        program = [
            _search(org.name, f"the founding year and founder of {org.name}"),
            _search(f.name, f"the birth year of {f.name}"),
            _math("subtract", org.founded, f.birth_year, "the number of years between them"),
        ]
        q = f"How many years after the birth of its founder was {org.name} founded?"
        return _number(org.founded - f.birth_year, template, [org.name, f.name], program, q)
    if template == "years_older":
        a, b = sorted(_two(rng, pool.people, lambda p: p.birth_year), key=lambda p: p.birth_year)
        year, other = "birth_year", "born"
        q = f"How many years older is {a.name} than {b.name}?"
    else:
        a, b = sorted(_two(rng, pool.orgs, lambda o: o.founded), key=lambda o: o.founded)
        year, other = "founded", "founded"
        q = f"How many years before {b.name} was {a.name} founded?"
    first, second = (getattr(e, year) for e in (a, b))
    program = [
        _search(a.name, f"the year {a.name} was {other}"),
        _search(b.name, f"the year {b.name} was {other}"),
        _math("subtract", second, first, "the difference between the two years"),
    ]
    return _number(second - first, template, [a.name, b.name], program, q)


# -- deep: a search, then open_page for a fact beyond the snippet ------------------------------
def _deep(pool: _Pool, rng: random.Random) -> _Draft:
    template = rng.choice(("hq_population", "birth_city_founded", "mayor_city_population"))
    if template == "hq_population":
        org = rng.choice(pool.orgs)
        first, city = _search(org.name, f"the headquarters of {org.name}"), org.headquarters
        q = f"What is the population of the city where {org.name} has its headquarters?"
        start = org.name
    elif template == "birth_city_founded":
        person = rng.choice(pool.people)
        first, city = _search(person.name, f"the birthplace of {person.name}"), person.birth_city
        q = f"In which year was the city where {person.name} was born founded?"
        start = person.name
    else:
        mayor = rng.choice(pool.mayors)
        first, city = _search(mayor.name, f"the city {mayor.name} is mayor of"), mayor.mayor_of
        q = f"What is the population of the city whose current mayor is {mayor.name}?"
        start = mayor.name
    c: City = pool.get(city)
    fact = "the founding year" if template == "birth_city_founded" else "the population"
    program = [first, _open(city, f"{fact} of {city}")]
    value = c.founded if template == "birth_city_founded" else c.population
    count = template != "birth_city_founded"  # a population, not a year
    return _number(value, template, [start, city], program, q, count=count)


# -- aggregate (held-out type): two searches and an addition -----------------------------------
def _aggregate(pool: _Pool, rng: random.Random) -> _Draft:
    if rng.random() < 0.5:
        a, b = rng.sample(pool.orgs, 2)
        x, y = a.employees, b.employees
        template, notes = "employees_total", "number of employees"
        q = f"How many employees do {a.name} and {b.name} have together?"
    else:
        a, b = rng.sample(pool.world.countries, 2)
        x, y = a.population, b.population
        template, notes = "population_total", "population"
        q = f"What is the combined population of {a.name} and {b.name}?"
    program = [
        _search(a.name, f"the {notes} of {a.name}"),
        _search(b.name, f"the {notes} of {b.name}"),
        _math("add", x, y, "the total of the two"),
    ]
    return _number(x + y, template, [a.name, b.name], program, q, count=True)


# -- bridge_compute (held-out type): search(es), open_page, subtract ---------------------------
def _bridge_compute(pool: _Pool, rng: random.Random) -> _Draft:
    template = rng.choice(("born_after_city", "founder_born_after_city", "org_after_hq"))
    program: list[dict] = []
    if template == "org_after_hq":
        org: Organisation = rng.choice(pool.orgs)
        city, year, entities = pool.get(org.headquarters), org.founded, [org.name]
        program.append(_search(org.name, f"the founding year and headquarters of {org.name}"))
        q = f"How many years after the founding of its headquarters city was {org.name} founded?"
    else:
        if template == "born_after_city":
            person: Person = rng.choice(pool.people)
            q = (
                f"How many years after the founding of the city where {person.name} was born "
                f"was {person.name} born?"
            )
            entities = [person.name]
        else:
            org = rng.choice(pool.orgs)
            person = pool.get(org.founder)
            q = (
                f"How many years after the founding of the city where the founder of {org.name} "
                "was born was that founder born?"
            )
            entities = [org.name, person.name]
            program.append(_search(org.name, f"the founder of {org.name}"))
        program.append(_search(person.name, f"the birth year and birthplace of {person.name}"))
        city, year = pool.get(person.birth_city), person.birth_year
    program.append(_open(city.name, f"the founding year of {city.name}"))
    program.append(_math("subtract", year, city.founded, "the number of years between them"))
    return _number(year - city.founded, template, [*entities, city.name], program, q)


_MAKERS: dict[str, Callable[[_Pool, random.Random], _Draft]] = {
    "bridge": _bridge,
    "comparison": _comparison,
    "compute": _compute,
    "deep": _deep,
    "aggregate": _aggregate,
    "bridge_compute": _bridge_compute,
}


def world_questions(world: World, *, seed: int = 0) -> list[dict]:
    """`QUESTION_COUNTS` questions per type, in a fixed order (ids `rag-<type>-0000`...).

    Args:
        world: The world from `build_world`.
        seed: The question seed (independent of the world's).

    Returns:
        Dicts with `id`, `question`, `answer` (== `program_answer`), `aliases`, `type`,
        `template`, `split` (`train`/`held_out`), `held_out_reason` (None, `type` or `entity`),
        `entities` (titles, in the order the program meets them), `program` and
        `program_answer`. No two questions have the same text.

    Raises:
        RuntimeError: A type ran out of distinct questions (the counts are too high).
    """
    pools = {False: _Pool(world, False), True: _Pool(world, True)}
    questions, seen = [], set()
    for kind, count in QUESTION_COUNTS.items():
        rng = random.Random(f"rag-questions/{world.seed}/{seed}/{kind}")
        for i in range(count):
            if kind in HELD_OUT_TYPES:
                split, reason = "held_out", "type"
            elif i % HELD_OUT_ENTITY_EVERY == HELD_OUT_ENTITY_EVERY - 1:
                split, reason = "held_out", "entity"
            else:
                split, reason = "train", None
            pool = pools[reason == "entity"]
            for _ in range(1000):  # bounded retries: a repeat question is drawn again
                draft = _MAKERS[kind](pool, rng)
                if draft.question not in seen:
                    break
            else:
                raise RuntimeError(f"rag: too few distinct {kind} questions for {count}")
            seen.add(draft.question)
            questions.append(
                {
                    "id": f"rag-{kind}-{i:04d}",
                    "question": draft.question,
                    "answer": draft.answer,
                    "aliases": list(draft.aliases),
                    "type": kind,
                    "template": draft.template,
                    "split": split,
                    "held_out_reason": reason,
                    "entities": draft.entities,
                    "program": draft.program,
                    "program_answer": draft.answer,
                }
            )
    return questions


def _fields(question: dict) -> dict:
    """A question from `world_questions`, or a row of questions.jsonl, as one flat dict."""
    return {**question, **question.get("metadata", {})}


def _visible(value: object, text: str) -> bool:
    """Whether a name or number appears in a text as whole words (12 is not in 1912)."""
    # str.find, not a regex: thousands of distinct patterns would defeat re's compile cache.
    value = str(value)
    start = text.find(value)
    while start >= 0:
        end = start + len(value)
        if (start == 0 or not text[start - 1].isalnum()) and (
            end == len(text) or not text[end].isalnum()
        ):
            return True
        start = text.find(value, start + 1)
    return False


def _compare_ok(q: dict, observations: list[str]) -> bool:
    """A comparison's answer is the name whose number (read from its snippet) wins."""
    pattern = {"born_earlier": "born in", "founded_earlier": "founded in"}.get(q["template"])
    regex = rf"{pattern} (\d+)" if pattern else r"has (\d+) employees"
    values = [int(re.search(regex, o).group(1)) for o in observations]
    pick = max if q["template"] == "more_employees" else min
    return q["entities"][values.index(pick(values))] == q["answer"] and values[0] != values[1]


def check_world(world: World, questions: Iterable[dict]) -> list[str]:
    """Replay every question's program against the pages; list what does not follow from them.

    `search` is an exact title lookup that shows the title and the first `SNIPPET_CHARS`
    characters of the page, `open_page` the whole text, `add`/`subtract` the real tools. Each
    argument must appear (as whole words) in the question or an earlier observation, every
    `open_page` must be needed (a value used later is beyond that page's snippet), the answer
    must equal `program_answer` and be the last output (arithmetic) or appear in the last
    observation, and a comparison's answer must be the winner of the numbers on the two pages.

    Args:
        world: The world the questions were made from.
        questions: Dicts from `world_questions` or rows of questions.jsonl.

    Returns:
        One message per problem found; empty when every question checks out.
    """
    pages = {d["title"]: d["text"] for d in world_documents(world)}
    errors = []
    for raw in questions:
        q = _fields(raw)
        qid, program = q["id"], q["program"]
        if q["answer"] != q["program_answer"]:
            errors.append(f"{qid}: answer differs from program_answer")
        if not set(q["entities"]) <= pages.keys():
            errors.append(f"{qid}: an entity has no page: {q['entities']}")
        if not 2 <= len(program) <= 4:
            errors.append(f"{qid}: {len(program)} steps")
        seen, observations, used_later = [q["question"]], [], []
        for k, step in enumerate(program):
            args = step["arguments"]
            values = list(args.values())
            if not all(any(_visible(v, s) for s in seen) for v in values):
                errors.append(f"{qid}: step {k} uses a value no earlier observation shows")
            used_later.append([str(v) for s in program[k + 1 :] for v in s["arguments"].values()])
            if step["tool"] in ("search", "open_page"):
                title = args.get("query", args.get("title"))
                if title not in pages:
                    errors.append(f"{qid}: step {k}: no page titled {title!r}")
                    break
                text = pages[title]
                full = step["tool"] == "open_page"
                out = f"{title}\n{text if full else text[:SNIPPET_CHARS]}"
                if full and not any(
                    _visible(v, text) and not _visible(v, text[:SNIPPET_CHARS])
                    for v in used_later[k] + [q["answer"]]
                ):
                    errors.append(f"{qid}: step {k}: open_page is not needed")
            else:
                out = str((add if step["tool"] == "add" else subtract)(args["a"], args["b"]))
            seen.append(out)
            observations.append(out)
        else:
            last = observations[-1]
            arithmetic = program[-1]["tool"] in ("add", "subtract")
            if q["type"] == "comparison":
                if not _compare_ok(q, observations):
                    errors.append(f"{qid}: the comparison's answer is not the winner")
            elif (last != q["answer"]) if arithmetic else not _visible(q["answer"], last):
                errors.append(f"{qid}: the answer is not what the last step shows")
    return errors


def _dump(rows: Iterable[dict], path: Path) -> Path:
    """Write JSON lines atomically (a reader never sees half a file); same rows, same bytes."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def write_builtin(out_dir: Path, seed: int = 0) -> tuple[Path, Path]:
    """Write the built-in corpus and questions for a seed: `corpus.jsonl`, `questions.jsonl`.

    Question rows are FlashRAG style: `id`, `question`, `answer`, `golden_answers` (the answer
    and its aliases) and `metadata` (type, family, template, split, held_out_reason, entities,
    program, program_answer). The bytes depend on the seed only.

    Args:
        out_dir: The folder to write (created if missing).
        seed: The world and question seed.

    Returns:
        The paths of the corpus and the questions.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    world = build_world(seed)
    rows = (
        {
            "id": q["id"],
            "question": q["question"],
            "answer": q["answer"],
            "golden_answers": [q["answer"], *q["aliases"]],
            "metadata": {
                "type": q["type"],
                "family": q["type"],
                "template": q["template"],
                "split": q["split"],
                "held_out_reason": q["held_out_reason"],
                "entities": q["entities"],
                "program": q["program"],
                "program_answer": q["program_answer"],
            },
        }
        for q in world_questions(world, seed=seed)
    )
    corpus = _dump(world_documents(world), out_dir / "corpus.jsonl")
    return corpus, _dump(rows, out_dir / "questions.jsonl")
