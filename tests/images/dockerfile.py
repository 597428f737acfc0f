"""A Dockerfile read as (INSTRUCTION, arguments) pairs: continuation lines joined, comments, blanks dropped.
Enough for the offline checks of images/ (no Docker engine here to build them)."""

import re
from pathlib import Path


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    lines = re.sub(r"\\\n", " ", dockerfile.read_text()).splitlines()
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
        for line in lines
        if line.strip() and not line.lstrip().startswith("#")
    ]
