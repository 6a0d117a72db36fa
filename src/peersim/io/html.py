"""Self-contained HTML reports: figures as data URIs, one page rendered from the package's templates.

Every HTML report of peersim (``plan``, ``compare``, the explorer's) extends
``peersim/templates/base.html.j2``, which lays out a header (peersim version
and date), the blocks ``title``, ``answer``, ``evidence`` and ``method``, and
a footer, with its CSS inline: the page fetches nothing, reads on a phone and
prints on A4. :mod:`peersim.io.templates` supplies the environment (HTML
templates are autoescaped) and the number filters.

* :func:`data_uri`: a figure (or a PNG file) as a ``data:image/png;base64,`` URI;
* :func:`render_html`: render an ``*.html.j2`` template with the page defaults;
* :func:`page_defaults`: the values ``base.html.j2`` needs besides the child's own;
* :func:`external_references`: what in a page would fetch from outside it (none, for peersim's).
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peersim.io.provenance import package_version
from peersim.io.templates import render

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PNG_URI_PREFIX = "data:image/png;base64,"
"""How every image of a peersim HTML report starts."""
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIGURE_DPI = 120
"""Resolution (dots per inch) of a figure :func:`data_uri` draws, as :func:`peersim.io.files.save_figure`."""

_REFERENCE = re.compile(
    r"""\b(?:src|href|poster|action|srcset)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I
)
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]*)""", re.I)
_CSS_IMPORT = re.compile(r"""@import\s+['"]?([^'";\s]+)""", re.I)


def data_uri(image: Figure | Path | str | bytes, dpi: int = FIGURE_DPI) -> str:
    """Return a PNG image as a ``data:image/png;base64,...`` URI, to inline it in a page.

    Parameters
    ----------
    image
        A matplotlib figure (drawn as PNG at ``dpi``), the path of a PNG file
        (e.g. one :func:`peersim.io.files.save_figure` wrote), or PNG bytes.
    dpi
        Resolution of a drawn figure, dots per inch (> 0); ignored for a file or bytes.

    Raises
    ------
    ValueError
        If the file or bytes are not a PNG image.
    """
    if isinstance(image, bytes):
        data = image
    elif isinstance(image, (str, Path)):
        data = Path(image).read_bytes()
    else:
        buffer = io.BytesIO()
        image.savefig(buffer, dpi=dpi, format="png")
        data = buffer.getvalue()
    if not data.startswith(PNG_MAGIC):
        raise ValueError(f"{image if isinstance(image, (str, Path)) else 'image'}: not a PNG image")
    return PNG_URI_PREFIX + base64.b64encode(data).decode("ascii")


def page_defaults() -> dict[str, str]:
    """Values ``base.html.j2`` shows in every page: ``version`` (peersim's) and ``generated`` (today, ISO)."""
    return {"version": package_version(), "generated": date.today().isoformat()}


def render_html(template: str, context: Mapping[str, Any]) -> str:
    """Render the package template ``template`` (an ``*.html.j2`` extending ``base.html.j2``), escaped.

    Parameters
    ----------
    template
        The template's name in ``peersim/templates``, e.g. ``"plan.html.j2"``.
    context
        Its values; :func:`page_defaults` fills ``version`` and ``generated``
        unless given. A value the template names but the context lacks is an
        error (the environment's undefined is strict).

    Returns
    -------
    str
        The page: one self-contained HTML document.
    """
    return render(template, **{**page_defaults(), **context})


def external_references(html: str) -> list[str]:
    """Return what in ``html`` would be fetched from elsewhere (a peersim report has nothing).

    That is every ``src``, ``href``, ``srcset``, ``poster`` or ``action`` value
    and CSS ``url()`` that is neither a ``data:`` URI nor an anchor in the page
    (``#...``), and every CSS ``@import``.
    """
    found = [next(g for g in match.groups() if g is not None) for match in _REFERENCE.finditer(html)]
    found += _CSS_URL.findall(html)
    outside = [ref.strip() for ref in found if not ref.strip().startswith(("data:", "#"))]
    return outside + _CSS_IMPORT.findall(html)
