"""mentor_data.tools.functions: users' functions as tools; the executor's bounds for them."""

from __future__ import annotations

import sys
import textwrap
import time
from typing import Literal, Optional

import pytest

from mentor_data.tools import MathError, Tool, ToolRegistry, execute
from mentor_data.tools.executor import MAX_OUTPUT_CHARS
from mentor_data.tools.functions import (
    DEFAULT_TOOL_TIMEOUT_S,
    check_unique,
    function_tool,
    load_function_tools,
)

SHOP = '''
"""A shop's tools."""
import asyncio
from os.path import join  # imported: never a tool
from typing import Literal, Optional

RATE = 1.2


def lookup(sku: str) -> str:
    """Find a product by its code.

    Args:
        sku: The product code, e.g. "MUG-1".
    """
    return {"MUG-1": "a red mug"}.get(sku, "unknown")


def _helper(x: int) -> int:
    return x


def price(sku: str, quantity: int = 1, currency: Literal["EUR", "USD"] = "EUR") -> float:
    """The price of some items.

    Args:
        sku: The product code.
        quantity: How many.
        currency: The currency of the price.
    """
    return 2.5 * quantity * (RATE if currency == "USD" else 1)


async def stock(sku: str, warehouse: Optional[str] = None) -> int:
    """Items in stock.

    Args:
        sku: The product code.
        warehouse: One warehouse, or all of them when null.
    """
    await asyncio.sleep(0)
    return 7 if warehouse is None else 3


class Basket:
    pass
'''


def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def shop(tmp_path):
    return write(tmp_path / "shop" / "tools.py", SHOP)


def registry(*tools: Tool) -> ToolRegistry:
    return ToolRegistry(tools)


# -- schemas -------------------------------------------------------------------------------------
def multiply(a: float, b: int = 2) -> float:
    """Multiply two numbers.

    Args:
        a: The first number.
        b: The second number.

    Returns:
        The product.
    """
    return a * b


def test_schema_equals_get_json_schema_without_return():
    from transformers.utils import get_json_schema

    tool = function_tool(multiply)
    expected = get_json_schema(multiply)
    assert expected["function"].pop("return") == {"type": "number", "description": "The product."}
    assert tool.schema == expected
    # TRL renders the registry's wrapper with get_json_schema: the same schema again.
    assert get_json_schema(registry(tool).trl_tools()[0]) == tool.schema
    assert tool.name == "multiply" and tool.fn is multiply
    assert tool.timeout_s == DEFAULT_TOOL_TIMEOUT_S and tool.deterministic
    assert tool.parameters["required"] == ["a"]
    assert tool.parameters["properties"]["b"] == {
        "type": "integer",
        "description": "The second number.",
    }


def test_schema_of_optional_literal_list_dict():
    def search(
        query: str,
        tags: list[str],
        filters: dict[str, int] | None = None,
        limit: Optional[int] = None,  # noqa: UP045 (the typing spelling is supported too)
        order: Literal["asc", "desc"] = "asc",
        extra: dict | None = None,
    ) -> list:
        """Search the catalogue.

        Args:
            query: Words to look for.
            tags: Tags every result has.
            filters: Numeric filters by field.
            limit: At most this many results.
            order: The sort order.
            extra: Anything else.
        """
        return []

    tool = function_tool(search, timeout_s=3, deterministic=False)
    props = tool.parameters["properties"]
    assert tool.parameters["required"] == ["query", "tags"]
    assert props["tags"]["items"] == {"type": "string"} and props["tags"]["type"] == "array"
    assert props["filters"]["additionalProperties"] == {"type": "integer"}
    assert props["filters"]["nullable"] is True and props["limit"]["nullable"] is True
    assert props["order"]["enum"] == ["asc", "desc"]
    assert props["extra"]["type"] == "object"
    assert "return" not in tool.schema["function"]
    assert tool.timeout_s == 3 and not tool.deterministic
    assert tool.description == "Search the catalogue."


def test_async_function_schema_and_call():
    async def wait(seconds: float) -> str:
        """Wait a little.

        Args:
            seconds: How long.
        """
        return f"waited {seconds}"

    tool = function_tool(wait)
    assert tool.parameters["required"] == ["seconds"]
    assert execute("wait", {"seconds": 0}, registry(tool)).output == "waited 0"
    # Without a timeout an async tool still runs to completion (in a thread of its own).
    unbounded = registry(function_tool(wait, timeout_s=None))
    assert execute("wait", {"seconds": 1.5}, unbounded).output == "waited 1.5"


def no_hint(sku, n: int) -> str:
    """Look up.

    Args:
        sku: The code.
        n: How many.
    """
    return sku


def no_entry(sku: str, n: int) -> str:
    """Look up.

    Args:
        sku: The code.
    """
    return sku


def no_doc(sku: str) -> str:
    return sku


def star_args(*codes: str) -> str:
    """Look up.

    Args:
        codes: The codes.
    """
    return ""


def star_kwargs(sku: str, **options: str) -> str:
    """Look up.

    Args:
        sku: The code.
        options: More.
    """
    return ""


def bad_hint(when: set[str]) -> str:
    """Look up.

    Args:
        when: The dates.
    """
    return ""


@pytest.mark.parametrize(
    "fn, message",
    [
        (no_hint, "tool 'no_hint': parameter 'sku' has no type hint; annotate it, e.g. `sku: str`"),
        (no_entry, "parameter 'n' has no entry in the docstring's `Args:` section"),
        (no_doc, "tool 'no_doc' has no docstring"),
        (star_args, "parameter '*codes' is not allowed"),
        (star_kwargs, "parameter '**options' is not allowed"),
        (bad_hint, "parameter 'when' has the type hint set[str]"),
        (lambda x: x, "use `def` instead of a lambda"),
        (len, "not a function"),
    ],
)
def test_refused_functions(fn, message):
    with pytest.raises(ValueError) as info:
        function_tool(fn)
    assert message in str(info.value)


def test_refused_timeout():
    with pytest.raises(ValueError, match="timeout_s=0"):
        function_tool(multiply, timeout_s=0)
    assert function_tool(multiply, timeout_s=None).timeout_s is None


# -- loading -------------------------------------------------------------------------------------
def test_load_file_public_functions_in_source_order(shop):
    tools = load_function_tools(str(shop))
    assert [tool.name for tool in tools] == ["lookup", "price", "stock"]  # no join, _helper, class
    tools_again = load_function_tools(str(shop))
    assert tools_again[0].fn is tools[0].fn  # the module is imported once
    calls = registry(*tools)
    assert execute("lookup", {"sku": "MUG-1"}, calls).output == "a red mug"
    assert execute("price", {"sku": "MUG-1", "quantity": 4}, calls).output == "10"
    assert execute("price", {"sku": "x", "currency": "USD"}, calls).output == "3"
    assert execute("stock", '{"sku": "x"}', calls).output == "7"
    assert execute("stock", {"sku": "x", "warehouse": None}, calls).output == "7"
    assert execute("stock", {"sku": "x", "warehouse": "north"}, calls).output == "3"


def test_load_picks_names_in_order(shop):
    tools = load_function_tools(f"{shop}:stock,lookup", timeout_s=2.5)
    assert [tool.name for tool in tools] == ["stock", "lookup"]
    assert all(tool.timeout_s == 2.5 for tool in tools)


def test_two_files_named_alike_do_not_clash(tmp_path, shop):
    other = write(
        tmp_path / "other" / "tools.py",
        '''
        def lookup(sku: str) -> str:
            """Another lookup.

            Args:
                sku: The code.
            """
            return "other"
        ''',
    )
    first = load_function_tools(f"{shop}:lookup")[0]
    second = load_function_tools(str(other))[0]
    assert first.fn is not second.fn and second.fn(sku="x") == "other"
    assert first.fn.__module__ != second.fn.__module__
    with pytest.raises(ValueError) as info:
        check_unique([first, second])
    message = str(info.value)
    assert "two tools are named 'lookup'" in message and "':name'" in message
    assert str(shop) in message and str(other) in message


def test_load_by_import_path(tmp_path, monkeypatch):
    write(tmp_path / "shop_pkg_a" / "__init__.py", "")
    write(tmp_path / "shop_pkg_a" / "tools.py", SHOP)
    monkeypatch.syspath_prepend(str(tmp_path))
    tools = load_function_tools("shop_pkg_a.tools:price")
    assert [tool.name for tool in tools] == ["price"]
    assert execute("price", {"sku": "MUG-1", "quantity": 2}, registry(*tools)).output == "5"
    assert [t.name for t in load_function_tools("shop_pkg_a.tools")] == ["lookup", "price", "stock"]


def test_load_errors(tmp_path, shop, monkeypatch):
    raising = write(tmp_path / "raising.py", "raise RuntimeError('no database')\n")
    empty = write(tmp_path / "empty.py", "from os.path import join\n\ndef _private(): pass\n")
    write(tmp_path / "dep_mod_b.py", "import nosuch_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cases = {
        "nosuch.mod": "--tools 'nosuch.mod': no module named 'nosuch'; give an importable module "
        "path or a .py file",
        str(tmp_path / "missing.py"): "no file",
        str(raising): "raised RuntimeError: no database",
        "dep_mod_b": "raised ModuleNotFoundError: No module named 'nosuch_dependency_xyz'",
        str(empty): "defines no public function",
        f"{shop}:lookup,nope": "the module has no function 'nope'; its public functions: "
        "lookup, price, stock",
        f"{shop}:RATE": "'RATE' is a float, not a function",
        f"{shop}:Basket": "'Basket' is a type, not a function",
        f"{shop}:lookup,lookup": "'lookup' is named twice",
        f"{shop}:": "nothing follows ':'",
    }
    for spec, message in cases.items():
        with pytest.raises(ValueError) as info:
            load_function_tools(spec)
        assert str(info.value).startswith(f"--tools {spec!r}: "), info.value
        assert message in str(info.value), info.value
    assert not any(name.startswith("mentor_user_tools_raising") for name in sys.modules)


def test_load_refuses_two_tools_of_one_name_in_one_spec(tmp_path):
    path = write(
        tmp_path / "made.py",
        '''
        def _make(text: str):
            def lookup(sku: str) -> str:
                """Find.

                Args:
                    sku: The code.
                """
                return text
            return lookup

        lookup_a = _make("a")
        lookup_b = _make("b")
        ''',
    )
    with pytest.raises(ValueError) as info:
        load_function_tools(str(path))
    message = str(info.value)
    assert message.startswith(f"--tools {str(path)!r}: two tools are named 'lookup'")
    assert "pick functions with ':name' or rename one" in message
    assert [t.fn(sku="x") for t in load_function_tools(f"{path}:lookup_b")] == ["b"]


def test_load_refuses_a_bad_function_naming_the_spec(tmp_path):
    path = write(tmp_path / "bad.py", "def lookup(sku):\n    '''Find.'''\n    return sku\n")
    with pytest.raises(ValueError) as info:
        load_function_tools(str(path))
    assert str(info.value) == (
        f"--tools {str(path)!r}: tool 'lookup': parameter 'sku' has no type hint; annotate it, "
        "e.g. `sku: str`"
    )


# -- execution of user tools -------------------------------------------------------------------
def user_tool(fn, schema_props: dict, timeout_s: float | None = 5.0) -> ToolRegistry:
    schema = {
        "type": "function",
        "function": {
            "name": fn.__name__,
            "description": "A test tool.",
            "parameters": {"type": "object", "properties": schema_props},
        },
    }
    return registry(Tool(fn.__name__, fn, schema, timeout_s=timeout_s))


def test_raising_user_tool_is_tool_error_with_its_message():
    def fails(sku: str) -> str:
        raise KeyError(f"no product {sku}")

    result = execute("fails", {"sku": "MUG-9"}, user_tool(fails, {"sku": {"type": "string"}}))
    assert result.code == "tool_error"
    assert result.error == "KeyError: 'no product MUG-9'"

    def loud() -> str:
        raise ValueError("x" * 1000)

    result = execute("loud", {}, user_tool(loud, {}))
    assert result.code == "tool_error" and len(result.error) < 330 and result.error.endswith("...")

    def exits() -> str:
        sys.exit(3)

    assert execute("exits", {}, user_tool(exits, {})).error == "SystemExit: 3"

    def out_of_range(x: float) -> float:
        raise MathError("x must be positive")  # the package's own errors keep their code

    result = execute("out_of_range", {"x": -1}, user_tool(out_of_range, {"x": {"type": "number"}}))
    assert (result.code, result.error) == ("math_error", "x must be positive")


def test_sleeping_user_tool_times_out():
    def slow() -> str:
        time.sleep(3)
        return "late"

    start = time.perf_counter()
    result = execute("slow", {}, user_tool(slow, {}, timeout_s=0.2))
    assert time.perf_counter() - start < 1.0
    assert result.code == "timeout"
    assert result.error == "the tool did not answer within 0.2 s"


def test_hung_async_tool_times_out():
    import asyncio

    async def hangs() -> str:
        await asyncio.sleep(3)
        return "late"

    start = time.perf_counter()
    result = execute("hangs", {}, user_tool(hangs, {}, timeout_s=0.2))
    assert result.code == "timeout" and time.perf_counter() - start < 1.0


def test_output_bounds_and_rendering():
    def big() -> str:
        return "x" * (MAX_OUTPUT_CHARS + 1)

    result = execute("big", {}, user_tool(big, {}))
    assert result.code == "too_large" and f"{MAX_OUTPUT_CHARS + 1:,} characters" in result.error

    def a_set() -> set:
        return {1, 2}

    result = execute("a_set", {}, user_tool(a_set, {}))
    assert result.code == "invalid_output" and "set" in result.error

    def nan() -> list:
        return [float("nan")]

    assert execute("nan", {}, user_tool(nan, {})).code == "invalid_output"

    def structured() -> dict:
        return {"name": "tasse rouge", "price": 2.5, "tags": ("mug", "red")}

    assert execute("structured", {}, user_tool(structured, {})).output == (
        '{"name": "tasse rouge", "price": 2.5, "tags": ["mug", "red"]}'
    )

    def number() -> float:
        return 0.1 + 0.2

    assert execute("number", {}, user_tool(number, {})).output == "0.3"


def test_builtin_tools_keep_internal_error_without_a_thread():
    def broken(x: float) -> float:
        raise RuntimeError("secret detail")

    result = execute("broken", {"x": 1}, user_tool(broken, {"x": {"type": "number"}}, None))
    assert result.code == "internal_error" and "secret" not in result.error


# -- validation of the wider schema subset -------------------------------------------------------
def echo(**kwargs):
    return kwargs


SCHEMA = {
    "point": {
        "type": "object",
        "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
        "required": ["x"],
        "additionalProperties": False,
    },
    "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
    "color": {"type": "string", "enum": ["red", "blue"]},
    "level": {"enum": [1, 2]},
    "ids": {"anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "string"}]},
    "note": {"type": ["string", "null"]},
    "maybe": {"type": "integer", "nullable": True},
    "anything": {"description": "no type: any JSON value"},
    "nothing": {"type": "null"},
}


@pytest.mark.parametrize(
    "arguments, output",
    [
        ({"point": {"x": 1, "y": 2.5}}, '{"point": {"x": 1, "y": 2.5}}'),
        ({"counts": {"a": 2.0}}, '{"counts": {"a": 2}}'),
        ({"color": "blue", "level": 2}, '{"color": "blue", "level": 2}'),
        ({"ids": [1, 2.0]}, '{"ids": [1, 2]}'),
        ({"ids": "all"}, '{"ids": "all"}'),
        ({"note": None, "maybe": None}, '{"note": null, "maybe": null}'),
        (
            {"anything": {"deep": [1, "a"]}, "nothing": None},
            '{"anything": {"deep": [1, "a"]}, "nothing": null}',
        ),
    ],
)
def test_wider_schema_accepts(arguments, output):
    result = execute("echo", arguments, user_tool(echo, SCHEMA))
    assert result.ok and result.output == output, result.error


@pytest.mark.parametrize(
    "arguments, code, message",
    [
        ({"point": [1, 2]}, "invalid_arguments", "argument 'point' must be an object, got array"),
        ({"point": {"y": 1}}, "invalid_arguments", "argument 'point.x' is missing"),
        ({"point": {"x": "1"}}, "invalid_arguments", "argument 'point.x' must be a number"),
        (
            {"point": {"x": 1, "z": 0}},
            "invalid_arguments",
            "argument 'point' has an unexpected key 'z'",
        ),
        ({"counts": {"a": 1.5}}, "invalid_arguments", "argument 'counts.a' must be an integer"),
        (
            {"color": "green"},
            "invalid_arguments",
            'argument \'color\' must be one of "red", "blue"',
        ),
        (
            {"level": True},
            "invalid_arguments",
            "argument 'level' must be one of 1, 2; got boolean true",
        ),
        (
            {"ids": 5},
            "invalid_arguments",
            "argument 'ids' must be an array or a string, got integer 5",
        ),
        ({"ids": [1, "2"]}, "invalid_arguments", "argument 'ids[1]' must be an integer"),
        ({"ids": [10**101]}, "too_large", "argument 'ids[0]' is too large"),
        (
            {"note": 3},
            "invalid_arguments",
            "argument 'note' must be a string or null, got integer 3",
        ),
        ({"maybe": "3"}, "invalid_arguments", "argument 'maybe' must be an integer"),
        ({"nothing": 0}, "invalid_arguments", "argument 'nothing' must be null, got integer 0"),
        ({"counts": {str(i): i for i in range(1001)}}, "too_large", "1001 keys"),
    ],
)
def test_wider_schema_refuses_naming_the_argument(arguments, code, message):
    result = execute("echo", arguments, user_tool(echo, SCHEMA))
    assert result.code == code, result.error
    assert message in result.error
