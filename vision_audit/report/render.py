"""
One Jinja2 environment that renders a report's HTML from its templates.

Templates come from ``report_templates/`` (shipped in the wheel as
``vision_audit/_report_templates``) or from a user's own folder with the same file
names. The environment autoescapes every value and makes an undefined name an error,
so that a tag named ``<img src=...>`` renders as text and a typo in a template fails
loudly instead of printing nothing.
"""

from __future__ import annotations

import base64
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Final

import jinja2
from markupsafe import Markup

from vision_audit.exceptions import ReportRenderError
from vision_audit.report._charts import describe_charts, draw_charts
from vision_audit.report.aggregate import counted, for_display

if TYPE_CHECKING:
    from vision_audit.report.aggregate import ReportData

__all__ = ["MAIN_TEMPLATE", "STYLESHEET", "find_templates", "render_html"]

MAIN_TEMPLATE: Final = "report.html.j2"
STYLESHEET: Final = "report.css"


def find_templates(folder: str | Path | None = None) -> Path:
    """
    The templates folder: *folder* when given, else the installed or source copy.

    Raises:
        ReportRenderError: The folder has no ``report.html.j2``.

    .. versionadded:: 0.1.0
    """
    if folder is not None:
        candidates = [Path(folder)]
    else:
        package = Path(__file__).resolve().parents[1]
        candidates = [
            package / "_report_templates",
            package.parent / "report_templates",
        ]
    for candidate in candidates:
        if (candidate / MAIN_TEMPLATE).is_file():
            return candidate.resolve()
    msg = f"no {MAIN_TEMPLATE} in {', '.join(str(c) for c in candidates)}"
    raise ReportRenderError(msg)


def _number(value: float | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.1f}"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def _data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


@functools.lru_cache(maxsize=8)
def _environment(folder: Path) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["number"] = _number
    environment.filters["percent"] = _percent
    environment.filters["counted"] = counted
    return environment


def render_html(data: ReportData, *, templates: Path) -> str:
    """
    Render the report's HTML.

    Args:
        data: Every figure of the report.
        templates: The templates folder (see :func:`find_templates`).

    Returns:
        The HTML document; the stylesheet is linked as ``report.css``.

    Raises:
        ReportRenderError: A template is missing, invalid or uses an unknown name.

    .. versionadded:: 0.1.0
    """
    shown = for_display(data)
    texts = describe_charts(shown)
    charts = {
        name: Markup('<img class="chart" alt="{}" src="{}">').format(
            texts[name], _data_uri(svg)
        )
        for name, svg in draw_charts(data).items()
    }
    try:
        template = _environment(templates).get_template(MAIN_TEMPLATE)
        return template.render(report=shown, charts=charts, stylesheet=STYLESHEET)
    except jinja2.TemplateError as err:
        msg = f"cannot render {templates / MAIN_TEMPLATE}: {err}"
        raise ReportRenderError(msg) from err
