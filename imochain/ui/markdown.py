"""Just enough Markdown for the bench report: headings, paragraphs, lists, tables, images, bold, code."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_IMAGE = re.compile(r"!\[([^\]]*)\]\(([A-Za-z0-9_.-]+\.png)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")


def _inline(text: str, image_base: str) -> str:
    out = str(escape(text))
    out = _IMAGE.sub(lambda m: f'<img alt="{m.group(1)}" src="{image_base}{m.group(2)}">', out)
    out = _BOLD.sub(r"<b>\1</b>", out)
    return _CODE.sub(r"<code>\1</code>", out)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def to_html(source: str, image_base: str = "") -> Markup:
    html: list[str] = []
    lines = source.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")), 6)
            html.append(f"<h{level}>{_inline(line[level:].strip(), image_base)}</h{level}>")
            i += 1
        elif line.startswith("|") and i + 1 < len(lines) and set(lines[i + 1].replace("|", "").strip()) <= set("-: "):
            head = "".join(f"<th>{_inline(c, image_base)}</th>" for c in _cells(line))
            rows, i = [], i + 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append("<tr>" + "".join(f"<td>{_inline(c, image_base)}</td>" for c in _cells(lines[i])) + "</tr>")
                i += 1
            html.append(f'<div class="scroll"><table><tr>{head}</tr>{"".join(rows)}</table></div>')
        elif line.lstrip().startswith(("- ", "* ")):
            items = []
            while i < len(lines) and lines[i].lstrip().startswith(("- ", "* ")):
                item = lines[i].lstrip()[2:]
                i += 1
                while i < len(lines) and lines[i].startswith("  ") and lines[i].strip():
                    item += " " + lines[i].strip()
                    i += 1
                items.append(f"<li>{_inline(item, image_base)}</li>")
            html.append(f"<ul>{''.join(items)}</ul>")
        else:
            para = [line.strip()]
            i += 1
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(("#", "|", "- ", "* ")):
                para.append(lines[i].strip())
                i += 1
            html.append(f"<p>{_inline(' '.join(para), image_base)}</p>")
    return Markup("\n".join(html))
