"""The twelve arithmetic tools of the MENTOR math domain, as typed, documented Python functions.

Each function's Google-style docstring is what `transformers.utils.get_json_schema` (and so TRL's
`GRPOTrainer(tools=...)`) turns into the tool schema the model reads; `schemas.py` holds the same
schemas by hand, and a test keeps the two identical. Edit a docstring and its schema together.

Numbers follow three rules:

1. **Exact where possible.** Ints stay ints (`multiply(3, 12) == 36`); `divide` of two ints is
   computed as a `Fraction` and is an int when exact, else the nearest float; `modulo` and
   `round_number` work on the decimal a float is written as (`modulo(0.3, 0.1) == 0.0`,
   `round_number(2.675, 2) == 2.68`), because that is the number the model wrote.
2. **Bounded.** No result may exceed `MAX_MAGNITUDE` (1e100) in magnitude: far beyond any word
   problem, small enough that an int result has at most 101 digits and renders in microseconds.
   `power` estimates the size of its result before computing it, so `power(10, 10**9)` is refused
   at once instead of allocating gigabytes. Inputs are bounded by the executor (`executor.py`).
3. **Loud about mathematics.** Division or modulo by zero, `sqrt` of a negative number, `0` to a
   negative power and a negative base to a non-integer power raise `MathError`; a result above
   the bound raises `TooLargeError`. The executor turns both into error observations.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

# Inputs and results above this magnitude are refused ("too_large"). 1e100 leaves room for any
# arithmetic a word problem needs while keeping ints at <= 333 bits, far from Python's quadratic
# int<->str conversions (and its 4300-digit limit).
MAX_MAGNITUDE = 1e100
MAX_INT = 10**100
BOUND_TEXT = "1e100"  # how messages write MAX_MAGNITUDE ("1e+100" reads worse)
# 2**333 > 1e100, so an int this wide is too large without computing anything else about it.
MAX_INT_BITS = 333
# Longest list `sum_numbers` accepts: word problems sum a handful of numbers, not a data set.
MAX_LIST_LENGTH = 1_000

# round_number: beyond these, rounding no longer changes a number within MAX_MAGNITUDE (a float's
# shortest decimal has at most ~340 decimal places; 1e100 rounds to 0 at ndigits=-101), so
# clamping keeps Decimal's work small without changing any result.
_ROUND_NDIGITS = (-101, 400)


class ToolError(Exception):
    """A tool call failed for a reason the model should read; `code` classifies it."""

    code = "internal_error"


class MathError(ToolError, ValueError):
    """The operation has no real, finite result (division by zero, sqrt(-1), ...)."""

    code = "math_error"


class TooLargeError(ToolError, OverflowError):
    """An input or a result exceeds MAX_MAGNITUDE (or a list exceeds MAX_LIST_LENGTH)."""

    code = "too_large"


def is_too_large(x: int | float) -> bool:
    """Whether a finite number is above MAX_MAGNITUDE; ints are sized by bits before comparing.

    Args:
        x: An int (any size) or a finite float.

    Returns:
        True when `abs(x) > MAX_MAGNITUDE`.
    """
    if isinstance(x, int):
        return x.bit_length() > MAX_INT_BITS or abs(x) > MAX_INT
    return abs(x) > MAX_MAGNITUDE


def _bounded(x: int | float) -> int | float:
    """Return `x` unchanged, or raise TooLargeError when it overflowed or exceeds the bound."""
    if isinstance(x, float) and not math.isfinite(x):
        raise TooLargeError(f"the result overflows (its magnitude is above {BOUND_TEXT})")
    if is_too_large(x):
        raise TooLargeError(f"the result's magnitude is above {BOUND_TEXT}")
    return x


def _exact(q: Fraction) -> int | float:
    """An exact rational as an int when it is one, else the nearest float."""
    return _bounded(q.numerator if q.denominator == 1 else float(q))


def _as_fraction(x: int | float) -> Fraction:
    """The number a value was written as: floats through their shortest repr (0.1 -> 1/10)."""
    return Fraction(x) if isinstance(x, int) else Fraction(repr(x))


def add(a: float, b: float) -> int | float:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.

    Returns:
        The sum a + b.
    """
    return _bounded(a + b)


def subtract(a: float, b: float) -> int | float:
    """Subtract b from a.

    Args:
        a: The number to subtract from.
        b: The number to subtract.

    Returns:
        The difference a - b.
    """
    return _bounded(a - b)


def multiply(a: float, b: float) -> int | float:
    """Multiply two numbers.

    Args:
        a: The first factor.
        b: The second factor.

    Returns:
        The product a * b.
    """
    return _bounded(a * b)


def divide(a: float, b: float) -> int | float:
    """Divide a by b.

    Args:
        a: The dividend.
        b: The divisor, which must not be zero.

    Returns:
        The quotient a / b.
    """
    if b == 0:
        raise MathError("division by zero: the divisor b must not be 0")
    if isinstance(a, int) and isinstance(b, int):
        return _exact(Fraction(a, b))
    return _bounded(a / b)


def sum_numbers(numbers: list[float]) -> int | float:
    """Add up a list of numbers.

    Args:
        numbers: The numbers to add up (at most 1000).

    Returns:
        The sum of the numbers (0 for an empty list).
    """
    if len(numbers) > MAX_LIST_LENGTH:
        raise TooLargeError(f"numbers has {len(numbers)} items; at most {MAX_LIST_LENGTH} allowed")
    if all(isinstance(x, int) for x in numbers):
        return _bounded(sum(numbers))
    # fsum is correctly rounded: the order of the numbers cannot change the result.
    return _bounded(math.fsum(numbers))


def floor(x: float) -> int:
    """Round a number down to the nearest integer.

    Args:
        x: The number to round down.

    Returns:
        The largest integer not greater than x.
    """
    return _bounded(math.floor(x))


def ceil(x: float) -> int:
    """Round a number up to the nearest integer.

    Args:
        x: The number to round up.

    Returns:
        The smallest integer not less than x.
    """
    return _bounded(math.ceil(x))


def round_number(x: float, ndigits: int = 0) -> int | float:
    """Round a number to ndigits decimal places, rounding halves away from zero (2.5 -> 3).

    Args:
        x: The number to round.
        ndigits: How many decimal places to keep; negative values round to tens, hundreds, ...

    Returns:
        The rounded number, an integer when ndigits <= 0.
    """
    # Word problems expect school rounding (2.5 -> 3, 2.675 -> 2.68), not Python's round(),
    # which rounds halves to even and works on the binary float (round(2.675, 2) == 2.67).
    ndigits = min(max(ndigits, _ROUND_NDIGITS[0]), _ROUND_NDIGITS[1])
    if isinstance(x, int) and ndigits >= 0:
        return _bounded(x)
    with localcontext() as ctx:
        ctx.prec = 1_000  # enough digits for 1e100 at 400 decimal places: quantize never fails
        exact = Decimal(x) if isinstance(x, int) else Decimal(repr(x))
        rounded = exact.quantize(Decimal(1).scaleb(-ndigits), rounding=ROUND_HALF_UP)
    return _bounded(int(rounded) if ndigits <= 0 else float(rounded))


def power(base: float, exponent: float) -> int | float:
    """Raise base to the power of exponent.

    Args:
        base: The base.
        exponent: The exponent.

    Returns:
        base raised to the power exponent.
    """
    if base == 0 and exponent < 0:
        raise MathError("0 cannot be raised to a negative power")
    if base < 0 and not float(exponent).is_integer():
        raise MathError("a negative base to a non-integer exponent has no real result")
    # 1) Estimate log10|result| before computing, so a huge power is refused in microseconds.
    log10_result = 0.0 if abs(base) in (0, 1) else exponent * math.log10(abs(base))
    if log10_result > math.log10(MAX_MAGNITUDE) + 1e-9:
        raise TooLargeError(
            f"the result's magnitude is about 1e{log10_result:.0f}, above {BOUND_TEXT}"
        )
    # 2) Ints stay exact; a negative int exponent gives an exact fraction, unless it would
    # underflow a float anyway (and its denominator would be a huge int).
    if isinstance(base, int) and isinstance(exponent, int):
        if exponent >= 0:
            return _bounded(base**exponent)
        if log10_result < -400:
            return 0.0
        return _exact(Fraction(base) ** exponent)
    # 3) Floats: math.pow raises OverflowError instead of returning inf.
    try:
        return _bounded(math.pow(base, exponent))
    except OverflowError as exc:
        raise TooLargeError(f"the result's magnitude is above {BOUND_TEXT}") from exc


def sqrt(x: float) -> int | float:
    """Take the square root of a non-negative number.

    Args:
        x: The number, which must not be negative.

    Returns:
        The non-negative square root of x.
    """
    if x < 0:
        raise MathError(f"sqrt of a negative number ({x}) has no real result")
    if isinstance(x, int):
        root = math.isqrt(x)
        if root * root == x:
            return root
    return _bounded(math.sqrt(x))


def abs_value(x: float) -> int | float:
    """Take the absolute value of a number.

    Args:
        x: The number.

    Returns:
        The absolute value of x.
    """
    return _bounded(abs(x))


def modulo(a: float, b: float) -> int | float:
    """Compute the remainder of a divided by b; the result has the sign of b.

    Args:
        a: The dividend.
        b: The divisor, which must not be zero.

    Returns:
        The remainder a mod b.
    """
    if b == 0:
        raise MathError("modulo by zero: the divisor b must not be 0")
    if isinstance(a, int) and isinstance(b, int):
        return _bounded(a % b)
    # On binary floats 0.3 % 0.1 is 0.0999...; on the decimals the model wrote it is 0.
    return float(_as_fraction(a) % _as_fraction(b))


ARITHMETIC_TOOLS = (
    add,
    subtract,
    multiply,
    divide,
    sum_numbers,
    floor,
    ceil,
    round_number,
    power,
    sqrt,
    abs_value,
    modulo,
)
