"""What every page and notebook output shares: its assets, data safe inside <script>, an
iframe for Jupyter (with a note for an untrusted notebook) and pictures as <img>."""

from __future__ import annotations

import base64
import html
import json
from importlib import resources

JUPYTER_HEIGHT = 500  # px: a notebook at 1366x768 shows about 505 px of one output


def asset(name: str) -> str:
    """The text of assets/`name`: the pages' templates, styles and scripts."""
    return resources.files(__package__).joinpath("assets", name).read_text("utf-8")


def script_json(data: dict) -> str:
    """JSON that is safe inside <script>: no '</', '<!--' or U+2028/9 can end or break it."""
    text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    # ensure_ascii already writes U+2028/U+2029 as \\u escapes; these three stop the HTML
    # parser seeing a tag or comment start inside the script.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def iframe(page: str, height: int, what: str, picture: str | None = None) -> str:
    """`page` in a sandboxed iframe `height` px tall, for Jupyter, then what an untrusted
    notebook shows instead: a note saying how to trust it, and `picture` (SVG text).

    Jupyter drops an untrusted notebook's iframes and scripts but keeps text and images;
    a script, run only where the iframe is shown too, removes the note.
    """
    note = (f"Here is a {what}, but this notebook is not trusted, so Jupyter does not run "
            "it. To see it, trust the notebook -- Notebook 7: File \u25b8 Trust Notebook; "
            "JupyterLab: Trust Notebook in the command palette (Ctrl+Shift+C); or "
            "`jupyter trust NOTEBOOK.ipynb` and reload -- or run the cell again.")
    shown = f"<br>{svg_image(picture)}" if picture else ""
    return (f'<iframe srcdoc="{html.escape(page, quote=True)}" sandbox="allow-scripts" '
            f'title="{html.escape(what, quote=True)}" style="width: 100%; '
            f'height: {int(height)}px; border: 1px solid #ddd; box-sizing: border-box; '
            'display: block"></iframe>'
            f'<div class="mg-untrusted"><p>{html.escape(note)}</p>{shown}</div>'
            "<script>document.currentScript.previousElementSibling.remove();"
            "document.currentScript.remove();</script>")


def svg_image(svg: str) -> str:
    """An <img> showing `svg` (as a data: URI), at most as wide as the page."""
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return (f'<img src="data:image/svg+xml;base64,{data}" alt="the drawing" '
            'style="max-width: 100%">')
