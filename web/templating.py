"""The Jinja2 templates of the dashboard and the site: autoescaped, strict about missing values."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jinja2


def templates() -> jinja2.Environment:
    folder = Path(str(resources.files("web") / "templates"))
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
