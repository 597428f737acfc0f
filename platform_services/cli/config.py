"""The CLI's config file (contexts, like kubectl's) and the environment variables that override it.

File: $CLOUDML_CONFIG or ~/.config/cloudml/config.json, mode 0600:
  {"current": "prod", "contexts": {"prod": {"endpoint": ..., "access_key": ..., "secret_key": ...,
   "region": "local"}}}
Environment: CLOUDML_ENDPOINT, CLOUDML_ACCESS_KEY, CLOUDML_SECRET_KEY, CLOUDML_REGION, CLOUDML_CONTEXT.
"""

import json
import os
from pathlib import Path

FIELDS = ("endpoint", "access_key", "secret_key", "region")


class ConfigError(Exception):
    pass


def path() -> Path:
    return Path(os.environ.get("CLOUDML_CONFIG", Path.home() / ".config" / "cloudml" / "config.json"))


def load() -> dict:
    try:
        return json.loads(path().read_text())
    except FileNotFoundError:
        return {"current": None, "contexts": {}}
    except ValueError as exc:
        raise ConfigError(f"{path()} is not valid JSON: {exc}") from exc


def save(config: dict) -> Path:
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(config, f, indent=2)
    return target


def resolve(context: str | None = None) -> dict:
    config = load()
    name = context or os.environ.get("CLOUDML_CONTEXT") or config.get("current")
    values = dict(config.get("contexts", {}).get(name, {})) if name else {}
    if context and not values:
        raise ConfigError(f"no context {context!r} in {path()}")
    for field in FIELDS:
        if env := os.environ.get(f"CLOUDML_{field.upper()}"):
            values[field] = env
    missing = [f for f in ("endpoint", "access_key", "secret_key") if not values.get(f)]
    if missing:
        raise ConfigError(
            f"missing {', '.join(missing)}: run `cloudml init` or set "
            + ", ".join(f"CLOUDML_{m.upper()}" for m in missing)
        )
    values.setdefault("region", "local")
    return values
