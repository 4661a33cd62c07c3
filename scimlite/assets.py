"""Files that ship beside the code: found in an installed wheel, a frozen binary, or a checkout.

The wheel carries `templates/`, `static/` and `scimlite.db.example` under `scimlite/_data/`
(pyproject's hatch `force-include`), and the PyInstaller binary unpacks the same tree; in a
checkout or an editable install they stay at the repository root, where people edit them.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
EXAMPLE_DB = "scimlite.db.example"


def shipped(name: str) -> Path:
    """The path of a shipped file or folder: the installed copy first, else the checkout's."""
    installed = _PACKAGE / "_data" / name
    return installed if installed.exists() else _PACKAGE.parent / name
