"""Quota limits and usage. Internally: cpu in millicores, memory in bytes, gpu and count as integers; -1 means
unlimited. Usage is a set of integer totals kept in the org's ledger (quotas/ledger.py), changed only in the
transaction that adds or removes a job's admitted entry, so it always equals the sum of those entries.
"""

from platform_services.errors import ApiError
from platform_services.units import format_cpu, format_memory, parse_cpu, parse_memory

CATEGORIES = ("train", "model", "dev", "tensorboard", "total")
RESOURCES = ("cpu", "memory", "gpu", "count")
UNLIMITED = -1
# The limits' JSON Schema, for the OpenAPI (parse_limits checks the same, with messages naming the fix).
_LIMIT = {
    "cpu": {"anyOf": [{"type": "string", "pattern": r"^(-1|\d{1,6}(\.\d{1,3})?|\d{1,9}m)$"}, {"enum": [-1]}]},
    "memory": {"anyOf": [{"type": "string", "pattern": r"^(-1|\d{1,6}([KMGT]i?)?[Bb]?)$"}, {"enum": [-1]}]},
    "gpu": {"type": "integer", "minimum": -1, "maximum": 10**9},
    "count": {"type": "integer", "minimum": -1, "maximum": 10**9},
}
QUOTA_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {f"{c}_{r}_quota": _LIMIT[r] for c in CATEGORIES for r in RESOURCES},
}


def default_limits() -> dict[str, int]:
    return {f"{c}_{r}": UNLIMITED for c in CATEGORIES for r in RESOURCES}


def _parse_one(resource: str, value) -> int:
    if value in (-1, "-1"):
        return UNLIMITED
    if resource == "cpu":
        return parse_cpu(value)
    if resource == "memory":
        return parse_memory(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON has one number type: 8.0 is the integer 8
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**9:
        raise ValueError(f"{resource} quota must be a whole number from 0 to 10^9, or -1")
    return value


def parse_limits(body: dict) -> dict[str, int]:
    """`{"train_gpu_quota": 8, "total_memory_quota": "64G"}` -> internal limits. Unknown names are refused."""
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidQuota", "the body must be a JSON object of <category>_<resource>_quota")
    limits = {}
    known = default_limits()
    for name, value in body.items():
        key = name.removesuffix("_quota")
        if not name.endswith("_quota") or key not in known:
            raise ApiError(
                400,
                "UnknownField",
                f"unknown quota {name!r}; names are "
                "<train|model|dev|tensorboard|total>_<cpu|memory|gpu|count>_quota",
                name,
            )
        try:
            limits[key] = _parse_one(key.split("_")[1], value)
        except ValueError as exc:
            raise ApiError(400, "InvalidQuota", str(exc), name) from exc
    return limits


def no_usage() -> dict[str, int]:
    return {f"{c}_{r}": 0 for c in CATEGORIES for r in RESOURCES}


def add_usage(used: dict[str, int], category: str, demand: dict[str, int], sign: int = 1) -> None:
    """Add (sign 1) or remove (sign -1) one admitted job's demand, in place."""
    for resource, amount in demand.items():
        used[f"{category}_{resource}"] += sign * amount
        if resource != "count":
            used[f"total_{resource}"] += sign * amount
    used["total_count"] += sign


def usage(admitted: dict[str, dict]) -> dict[str, int]:
    """The totals of a set of admitted entries ({name: {"category", "demand"}})."""
    used = no_usage()
    for entry in admitted.values():
        add_usage(used, entry["category"], entry["demand"])
    return used


def shortfall(limits: dict, used: dict, category: str, demand: dict[str, int]) -> str | None:
    """None when `demand` fits, else a sentence naming the first resource that does not fit, and by how
    much."""
    for cat in (category, "total"):
        for resource in RESOURCES:
            limit = limits[f"{cat}_{resource}"]
            need = demand.get(resource, 0)
            if limit == UNLIMITED or used[f"{cat}_{resource}"] + need <= limit:
                continue
            free = max(limit - used[f"{cat}_{resource}"], 0)
            return (
                f"quota {cat}_{resource}: needs {_fmt(resource, need)}, {_fmt(resource, free)} of "
                f"{_fmt(resource, limit)} free, short by {_fmt(resource, need - free)}"
            )
    return None


def _fmt(resource: str, amount: int) -> str:
    if resource == "cpu":
        return f"{format_cpu(amount)} cpu"
    if resource == "memory":
        return f"{format_memory(amount)} memory"
    return f"{amount} {resource}"


def view(limits: dict, used: dict) -> dict:
    """The API shape: `<cat>_<res>_quota` and `<cat>_<res>_used`, cpu in cores, memory in bytes."""
    out = {}
    for key, limit in limits.items():
        resource = key.split("_")[1]

        def show(amount, resource=resource):
            return amount / 1000 if resource == "cpu" and amount != UNLIMITED else amount

        out[f"{key}_quota"] = show(limit)
        out[f"{key}_used"] = show(used[key])
    return out
