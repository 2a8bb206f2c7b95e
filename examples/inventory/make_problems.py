"""Write examples/inventory/problems.jsonl: warehouse questions whose answers come from the tools.

    .venv/bin/python examples/inventory/make_problems.py [OUT]

Deterministic (a fixed seed). Each problem's reference program is run, step by step, in a fresh
environment of the domain; every argument is a literal value (the sku read from find_product's
output, the numbers from earlier outputs), so a replay needs no `$k` references, and the answer
is the last step's output.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PER_FAMILY = 9


def load_domain_module():
    """domain.py of this folder, imported by path (as `--domain FILE.py:DOMAIN` does)."""
    spec = importlib.util.spec_from_file_location("inventory_domain", HERE / "domain.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Program:
    """Runs steps in one fresh environment and records them as the reference program."""

    def __init__(self, domain):
        self.env = domain.environment({"tools": domain.default_tools()})
        self.steps: list[dict] = []

    def call(self, tool: str, note: str, **arguments) -> str:
        result = self.env.run(tool, arguments)
        if not result.ok:
            raise RuntimeError(f"{tool}({arguments}) failed: {result.error}")
        self.steps.append({"tool": tool, "arguments": arguments, "note": note})
        return result.output

    def sku(self, name: str) -> str:
        return json.loads(self.call("find_product", f"look up the {name}", name=name))["sku"]


def quote(mod, rng, name):
    qty = rng.choice([2, 3, 4, 5, 6, 10, 12, 15])
    program = Program(mod.DOMAIN)
    sku = program.sku(name)
    answer = program.call("price_quote", f"price of {qty} units", sku=sku, qty=qty)
    question = rng.choice(
        [
            f"How much do {qty} units of the {name} cost?",
            f"A customer asks for a quote for {qty} of the {name}. What is the total price?",
            f"What would {qty} {name} units cost in total, with any bulk discount?",
        ]
    )
    return question, answer, program.steps


def total_stock(mod, rng, name):
    program = Program(mod.DOMAIN)
    sku = program.sku(name)
    north = program.call("stock_level", "units in north", sku=sku, warehouse="north")
    south = program.call("stock_level", "units in south", sku=sku, warehouse="south")
    answer = program.call("add", "both warehouses", a=int(north), b=int(south))
    question = rng.choice(
        [
            f"How many units of the {name} are in stock across both warehouses?",
            f"What is the total stock of the {name} in the north and south warehouses together?",
        ]
    )
    return question, answer, program.steps


def reserve(mod, rng, name):
    sku = _sku_of(mod, name)
    warehouse = rng.choice([w for w in mod.WAREHOUSES if mod.STOCK[sku][w] >= 1])
    qty = rng.randint(1, min(mod.STOCK[sku][warehouse], 8))
    program = Program(mod.DOMAIN)
    sku = program.sku(name)
    program.call("reserve", f"reserve {qty}", sku=sku, warehouse=warehouse, qty=qty)
    answer = program.call("stock_level", "what is left", sku=sku, warehouse=warehouse)
    question = (
        f"Reserve {qty} of the {name} in the {warehouse} warehouse. How many units of it are "
        f"left there afterwards?"
    )
    return question, answer, program.steps


def order(mod, rng, name):
    other = rng.choice([n for n in _names(mod) if n != name])
    skus = [_sku_of(mod, name), _sku_of(mod, other)]
    warehouses = [w for w in mod.WAREHOUSES if all(mod.STOCK[s][w] >= 1 for s in skus)]
    if not warehouses:
        return None  # one of them is out of stock everywhere it could ship from: draw again
    warehouse = rng.choice(warehouses)
    lines = [
        (item, rng.randint(1, min(mod.STOCK[s][warehouse], 6)))
        for item, s in zip((name, other), skus, strict=True)
    ]
    program = Program(mod.DOMAIN)
    prices = []
    for item, qty in lines:
        sku = program.sku(item)
        program.call("reserve", f"reserve {qty} {item}", sku=sku, warehouse=warehouse, qty=qty)
        prices.append(program.call("price_quote", f"price of {qty} {item}", sku=sku, qty=qty))
    answer = program.call("add", "order total", a=float(prices[0]), b=float(prices[1]))
    (n1, q1), (n2, q2) = lines
    question = (
        f"Place an order from the {warehouse} warehouse: reserve {q1} of the {n1} and {q2} of "
        f"the {n2}. What is the total price of the order?"
    )
    return question, answer, program.steps


def _names(mod) -> list[str]:
    return [row[0].lower() for row in mod.CATALOGUE.values()]


def _sku_of(mod, name: str) -> str:
    """The sku of a catalogue name (to pick feasible quantities before the program runs)."""
    return next(sku for sku, row in mod.CATALOGUE.items() if row[0].lower() == name)


FAMILIES = {"quote": quote, "total_stock": total_stock, "reserve": reserve, "order": order}


def make(seed: int = 0) -> list[dict]:
    mod = load_domain_module()
    rng = random.Random(seed)
    names = _names(mod)
    rows, questions = [], set()
    for family, build in FAMILIES.items():
        count = 0
        while count < PER_FAMILY:
            made = build(mod, rng, rng.choice(names))
            if made is None or made[0] in questions:
                continue
            question, answer, program = made
            questions.add(question)
            rows.append(
                {
                    "id": f"inventory-{family}-{count:02d}",
                    "question": question,
                    "answer": answer,
                    "domain": "inventory",
                    "metadata": {"family": family, "program": program},
                }
            )
            count += 1
    return rows


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "problems.jsonl"
    rows = make()
    out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    print(f"wrote {len(rows)} problems to {out}")  # noqa: T201


if __name__ == "__main__":
    main()
