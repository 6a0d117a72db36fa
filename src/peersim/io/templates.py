"""Reports rendered from Jinja2 templates kept in the package (``peersim/templates``).

One environment serves every report: Markdown templates (``*.md.j2``) are
rendered as written, HTML templates (``*.html.j2``) with autoescaping. The
filters format numbers the same way in every report:

* ``num(digits=3)``: a number, ``-`` when missing (``None`` or NaN);
* ``signed(digits=3)``: the same with its sign;
* ``money(currency)``: an amount such as ``GBP 12,345``;
* ``yesno``: ``yes`` or ``no``.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


def number(value: Any, digits: int = 3) -> str:
    """Format a number with ``digits`` decimals; ``-`` when missing."""
    if value is None or isinstance(value, bool):
        return "-" if value is None else str(value)
    value = float(value)
    return "-" if not math.isfinite(value) else f"{value:.{digits}f}"


def signed(value: Any, digits: int = 3) -> str:
    """Format a number with its sign and ``digits`` decimals; ``-`` when missing."""
    if value is None or not math.isfinite(float(value)):
        return "-"
    return f"{float(value):+.{digits}f}"


def money(value: Any, currency: str) -> str:
    """Format an amount, e.g. ``GBP 12,345`` (``-GBP 50`` below zero); ``-`` when missing."""
    if value is None or not math.isfinite(float(value)):
        return "-"
    sign = "-" if value < 0 else ""
    return f"{sign}{currency} {abs(float(value)):,.0f}"


def yes_no(value: Any) -> str:
    """Format a truth value as ``yes`` or ``no``."""
    return "yes" if value else "no"


@cache
def environment() -> Environment:
    """Return the Jinja2 environment of peersim's report templates (built once per process)."""
    env = Environment(
        loader=PackageLoader("peersim", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(num=number, signed=signed, money=money, yesno=yes_no)
    return env


def render(template: str, **context: Any) -> str:
    """Render the package template ``template`` (e.g. ``"plan.md.j2"``) with ``context``."""
    return environment().get_template(template).render(**context)
