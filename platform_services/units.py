"""Resource quantities: CPU in millicores and memory in bytes, as integers, so sums never drift."""

import re

_CPU = re.compile(r"^(\d+(?:\.\d{1,3})?)(m?)$")
_MEM = re.compile(r"^(\d+(?:\.\d+)?)([KMGTP]i?)?[Bb]?$")
_MEM_FACTORS = {
    None: 1,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
}
# The seed system's CLI reads "8G" as 8 GiB (Kubernetes would say 8Gi); keep its meaning.
_SEED_BINARY = {"K": "Ki", "M": "Mi", "G": "Gi", "T": "Ti", "P": "Pi"}
MAX_MILLICPU = 10**9
MAX_BYTES = 2**60


def parse_cpu(value: str | int | float) -> int:
    """'2.5' -> 2500, '500m' -> 500, 2 -> 2000. Raises ValueError with a message that says the format."""
    if isinstance(value, bool):
        raise ValueError("cpu must be a number of cores like 2 or 2.5, or millicores like 500m")
    text = str(value).strip()
    m = _CPU.match(text)
    if not m:
        raise ValueError(f"cpu {text!r} is not a number of cores like 2 or 2.5, or millicores like 500m")
    number, milli = m.groups()
    millis = int(number) if milli else round(float(number) * 1000)
    if milli and "." in number:
        raise ValueError(f"cpu {text!r}: millicores must be whole")
    if not 0 <= millis <= MAX_MILLICPU:
        raise ValueError(f"cpu {text!r} is out of range")
    return millis


def parse_memory(value: str | int) -> int:
    """'8G' -> 8 GiB (the seed's meaning), '512Mi' -> 512 MiB, 1024 -> 1024 bytes."""
    if isinstance(value, bool | float):
        raise ValueError("memory must be bytes or a size like 512M or 8G")
    text = str(value).strip()
    m = _MEM.match(text)
    if not m:
        raise ValueError(f"memory {text!r} is not a size like 512M, 8G or 8Gi")
    number, unit = m.groups()
    unit = _SEED_BINARY.get(unit, unit)
    size = round(float(number) * _MEM_FACTORS[unit])
    if not 0 <= size <= MAX_BYTES:
        raise ValueError(f"memory {text!r} is out of range")
    return size


def format_cpu(millis: int) -> str:
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis / 1000:g}"


def format_memory(size: int) -> str:
    for unit, factor in (("G", 2**30), ("M", 2**20), ("K", 2**10)):
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)
