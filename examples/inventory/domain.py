"""An example user domain: a small warehouse with stateful tools.

Load it with `--domain examples/inventory/domain.py:DOMAIN` (see README.md next to this file).
Copy this file to start your own domain; what it shows:

- tools written as plain typed Python functions with Google-style docstrings: `function_tool`
  builds their OpenAI schemas from the hints and the `Args:` section;
- a built-in tool reused as is (`add` from the arithmetic tools);
- a STATEFUL tool (`reserve` lowers the stock) whose state belongs to one conversation: each
  conversation gets a fresh `InventoryEnv` with its own copy of the stock, so generate, verify
  (which replays a row's calls in order on a fresh state) and eval never see each other's
  reservations;
- the base class's answer judge: the final `\\boxed{}` is compared with the `answer` column.
  Keep answers numeric: the judge compares numbers and formulas, and plain words such as
  "north" are not judged (judge_error).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, Literal

from mentor_data.domains import Domain, ToolEnv, offered_names
from mentor_data.tools import ARITHMETIC, Tool, ToolRegistry
from mentor_data.tools.functions import function_tool

# -- the data: a fixed catalogue ------------------------------------------------------------------
Warehouse = Literal["north", "south"]  # becomes {"type": "string", "enum": [...]} in the schema
WAREHOUSES = ("north", "south")

# sku -> (name, unit price, units in the north warehouse, units in the south warehouse)
CATALOGUE: dict[str, tuple[str, float, int, int]] = {
    "KT-101": ("Blue kettle", 24.50, 14, 6),
    "KT-102": ("Red kettle", 26.00, 3, 11),
    "MG-201": ("Ceramic mug", 6.75, 40, 25),
    "MG-202": ("Travel mug", 12.40, 18, 9),
    "TP-301": ("Cast iron teapot", 39.90, 5, 8),
    "PN-401": ("Frying pan", 31.25, 12, 4),
    "PN-402": ("Saucepan", 27.80, 7, 15),
    "KN-501": ("Chef knife", 45.00, 10, 10),
    "BW-601": ("Mixing bowl", 9.99, 30, 22),
    "BW-602": ("Salad bowl", 14.20, 16, 0),
    "GR-701": ("Pepper grinder", 18.60, 9, 13),
    "TS-801": ("Toaster", 54.95, 6, 2),
}
BULK_QTY, BULK_DISCOUNT = 10, 0.10  # 10% off an order line of 10 units or more

# The starting stock, sku -> warehouse -> units. Never mutated: environments copy it.
STOCK: dict[str, dict[str, int]] = {
    sku: dict(zip(WAREHOUSES, units, strict=True)) for sku, (_, _, *units) in CATALOGUE.items()
}


def _product(sku: str) -> tuple[str, float, int, int]:
    if sku not in CATALOGUE:
        # A raised exception becomes a `tool_error` observation the model can read and recover
        # from ("Error: ValueError: unknown sku ..."); it never crashes the run.
        raise ValueError(f"unknown sku {sku!r}; look it up with find_product first")
    return CATALOGUE[sku]


# -- the tools ------------------------------------------------------------------------------------
def inventory_tools(stock: dict[str, dict[str, int]]) -> list[Tool]:
    """The domain's tools, bound to one stock (sku -> warehouse -> units), which `reserve` edits.

    The functions are closures over `stock`; `function_tool` reads their name, type hints and
    docstring exactly as it would for module-level functions.
    """

    def find_product(name: str) -> str:
        """Look a product up by name; returns its sku, name and unit price as JSON.

        Args:
            name: The product name or a unique part of it, e.g. "blue kettle".
        """
        query = name.strip().lower()
        hits = [sku for sku, (n, *_) in CATALOGUE.items() if query and query in n.lower()]
        exact = [sku for sku in hits if CATALOGUE[sku][0].lower() == query]
        hits = exact or hits
        if len(hits) != 1:
            names = ", ".join(CATALOGUE[sku][0] for sku in hits) or "none"
            raise ValueError(f"{len(hits)} products match {name!r} (matches: {names})")
        sku = hits[0]
        return json.dumps({"sku": sku, "name": CATALOGUE[sku][0], "price": CATALOGUE[sku][1]})

    def stock_level(sku: str, warehouse: Warehouse) -> int:
        """Units of a product in stock in one warehouse, after this conversation's reservations.

        Args:
            sku: The product's sku, e.g. "KT-101".
            warehouse: The warehouse.
        """
        _product(sku)
        return stock[sku][warehouse]

    def reserve(sku: str, warehouse: Warehouse, qty: int) -> str:
        """Reserve units of a product in one warehouse; they leave its stock.

        Args:
            sku: The product's sku, e.g. "KT-101".
            warehouse: The warehouse to take the units from.
            qty: How many units to reserve (at least 1).
        """
        _product(sku)
        if qty < 1:
            raise ValueError(f"qty must be at least 1, got {qty}")
        if stock[sku][warehouse] < qty:
            raise ValueError(f"only {stock[sku][warehouse]} of {sku} in {warehouse}, asked {qty}")
        stock[sku][warehouse] -= qty
        return f"reserved {qty} x {sku} in {warehouse}"

    def price_quote(sku: str, qty: int) -> float:
        """The price of an order line: unit price times quantity, 10% off for 10 units or more.

        Args:
            sku: The product's sku, e.g. "KT-101".
            qty: How many units (at least 1).
        """
        price = _product(sku)[1]
        if qty < 1:
            raise ValueError(f"qty must be at least 1, got {qty}")
        total = price * qty * (1 - BULK_DISCOUNT if qty >= BULK_QTY else 1)
        return round(total, 2)

    # timeout_s bounds each call (user tools run in a worker thread); `reserve` is deterministic
    # too: on the same state the same call gives the same output, which is what verify replays.
    functions = (find_product, stock_level, reserve, price_quote)
    own = [function_tool(fn, timeout_s=5.0) for fn in functions]
    return [*own, ARITHMETIC.get("add")]  # a built-in tool, reused as is (it has no state)


class InventoryEnv(ToolEnv):
    """The tools of one conversation, on a fresh copy of the stock.

    `ToolEnv.run` sends every call through `mentor_data.tools.execute` (argument validation,
    timeout, error results instead of exceptions); `implements` and `deterministic` read the
    registry. Only the tools the row offers are runnable: a call of another one is an
    `unknown_tool` error, as in the base environment.

    Args:
        offered: The row's `tools` column (OpenAI schemas); None runs every inventory tool.
    """

    def __init__(self, offered: Any = None):
        self.stock = copy.deepcopy(STOCK)  # this conversation's stock
        tools = inventory_tools(self.stock)
        if offered is not None:
            names = set(offered_names(offered))
            tools = [tool for tool in tools if tool.name in names]
        super().__init__(ToolRegistry(tools))


# -- the domain -----------------------------------------------------------------------------------
class InventoryDomain(Domain):
    """Warehouse questions answered with the inventory tools, judged on the `\\boxed{}` answer."""

    name = "inventory"  # the `domain` column of its problems and rows
    problem_prefix = None  # problems come from a file (problems.jsonl)
    system_prompt = (
        "You are a warehouse assistant. Answer questions about products, stock and prices with "
        "the provided tools: look a product up by name to get its sku, then use the sku with "
        "the other tools. Warehouses are 'north' and 'south'. Use the tools for every lookup "
        "and calculation, one step at a time, and read each result before the next step. Give "
        "the final answer as a number inside \\boxed{}, for example \\boxed{42}."
    )
    card_summary = "a chat in which a teacher answers a warehouse question with inventory tools"
    card_tags = ("inventory", "stateful-tools")

    def default_registry(self) -> ToolRegistry:
        # The schemas offered to problems that list no tools, and `mentor-data tools list`.
        # Its `reserve` edits a private stock copy that no conversation uses.
        return ToolRegistry(inventory_tools(copy.deepcopy(STOCK)))

    def environment(self, row: Mapping[str, Any]) -> InventoryEnv:
        # A fresh stock per conversation (generate, verify's replay, eval).
        return InventoryEnv(row.get("tools"))


DOMAIN = InventoryDomain()
