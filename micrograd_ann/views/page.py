"""What every page and notebook output shares: its assets, data safe inside <script>, an
iframe for Jupyter (with a note for an untrusted notebook), pictures as <img> and images
as PNG data."""

from __future__ import annotations

import base64
import html
import json
import struct
import zlib
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


def png_uri(width: int, height: int, rgb: bytes) -> str:
    """A data: URI of a PNG image `width` x `height` px: `rgb` holds its rows, top first,
    3 bytes (red, green, blue) per pixel. A page shows it as an image or draws it."""
    if len(rgb) != 3 * width * height:
        raise ValueError(f"{width}x{height} RGB pixels take {3 * width * height:,} bytes, "
                         f"got {len(rgb):,}")
    stride = 3 * width
    rows = b"".join(b"\x00" + rgb[at:at + stride] for at in range(0, len(rgb), stride))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9))
           + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
