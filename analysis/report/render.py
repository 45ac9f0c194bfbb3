"""The report's data through its Jinja2 templates, to HTML and to Markdown.

The templates are package data (``analysis/report/templates``, read with importlib.resources):

- ``body.j2``: the document, once for both formats: sections, headings, tables, prose. Its text
  marks code with `backticks`; it writes no markup itself but calls the macros of ``fmt``:
- ``html.j2`` / ``md.j2``: those macros (heading, paragraph, table, figure, contents, footer) in
  each format;
- ``report.html.j2`` (the page around the body, ``report.css`` inlined) and ``report.md.j2``.

HTML is autoescaped (with the entities of :func:`html.escape`); Markdown escapes through the
``md`` filters. Only http(s) addresses become links (the ``web_address`` test).
"""

from __future__ import annotations

import base64
import html
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from analysis.report import compare
from analysis.report.queries import Link

TEMPLATES = resources.files("analysis.report") / "templates"


def _template_source(name: str) -> tuple[str, None, Any]:
    try:
        source = (TEMPLATES / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise jinja2.TemplateNotFound(name) from None
    return source, None, lambda: True


def web_address(url: Any) -> bool:
    """Only http(s) addresses become links (a `javascript:` or `data:` URL in the data stays text)."""
    return isinstance(url, str) and re.match(r"https?://", url, re.IGNORECASE) is not None


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "section"


def joined(items: Any, separator: str = ", ") -> str:
    """``separator.join`` as plain text (the built-in join marks its result safe in HTML)."""
    return separator.join(str(i) for i in items)


def _plain(text: Any) -> str:
    return str(text.unescape()) if isinstance(text, Markup) else str(text)


# ------------------------------------------------------------------------------------------- HTML


def _escape(value: Any) -> Markup:
    """Every ``{{ value }}`` of the HTML templates: escaped as html.escape does (&quot; &#x27;)."""
    if hasattr(value, "__html__"):
        return Markup(value)
    return Markup(html.escape(str(value), quote=True))


def inline_html(text: Any) -> Markup:
    """Text whose `backticks` mark code, escaped."""
    parts = _plain(text).split("`")
    return Markup("".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts)))


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


# --------------------------------------------------------------------------------------- Markdown

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#])")


def md(text: Any) -> str:
    """Plain text for Markdown: HTML escaped (so no tag survives), Markdown's own marks backslashed,
    whitespace runs one space (a caption cannot break a table row)."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(re.sub(r"\s+", " ", str(text)), quote=False))


def inline_md(text: Any) -> str:
    """Text whose `backticks` mark code: the code kept, the rest as :func:`md`."""
    parts = str(text).split("`")
    return "".join(f"`{p}`" if i % 2 else md(p) for i, p in enumerate(parts))


def md_url(url: str) -> str:
    """A link target inside ``<…>``."""
    return url.replace(">", "%3E").replace(" ", "%20")


# ------------------------------------------------------------------------------------------ render


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_source),
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        finalize=_escape if autoescape else None,
    )
    env.filters.update(
        count=compare.count,
        score=compare.score,
        slug=slug,
        joined=joined,
        md=md,
        inline_md=inline_md,
        md_url=md_url,
        inline=inline_html,
        data_uri=data_uri,
    )
    env.tests.update(web_address=web_address, link=lambda value: isinstance(value, Link))
    env.globals.update(NONE=compare.NONE)
    return env


def render_html(doc: Any, title: str = "semspace report") -> str:
    """The self-contained page: CSS inline, the figures as data URIs."""
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return _environment(True).get_template("report.html.j2").render(doc=doc, title=title, css=Markup(css))


def render_markdown(doc: Any, md_dir: str | os.PathLike[str]) -> str:
    """The Markdown file, its figures linked relative to ``md_dir`` (where it is written)."""
    env = _environment(False)
    env.filters["relpath"] = lambda path: os.path.relpath(path, md_dir).replace(os.sep, "/")
    return env.get_template("report.md.j2").render(doc=doc)
