"""The service's one settings class. Every setting comes from a `CLOUDML_` environment variable.

It refuses to start with a placeholder or malformed server key: that key encrypts every tenant's secret key at
rest, so a guessable one would make the encryption decorative.
"""

import base64
import os
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_PLACEHOLDER_WORDS = ("change", "placeholder", "example", "secret", "password", "xxx", "todo")


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # 32 url-safe base64 bytes (a Fernet key): `python -m platform_services genkey` prints one.
    server_key: str = Field(repr=False)
    data_dir: Path = Path("/var/lib/cloudml")
    store: Literal["sqlite"] = "sqlite"
    sqlite_path: Path | None = None  # default: <data_dir>/cloudml.db
    # SigV4 credential scope: region and service the clients sign for.
    sigv4_region: str = "local"
    sigv4_service: str = "cloudml"
    # Signed requests may be this far from the server's clock; signatures are remembered twice as long.
    skew_seconds: int = Field(300, ge=1, le=3600)
    max_body_bytes: int = Field(1 << 20, ge=1024)
    # Local backend. runner_enabled=false makes an API-only server (jobs are admitted, never started).
    runner_enabled: bool = True
    python_executable: str = sys.executable
    log_cap_bytes: int = Field(10 << 20, ge=1024)
    reconcile_interval_s: float = Field(0.2, gt=0)
    stop_grace_s: float = Field(5.0, ge=0)
    gpus: int | None = None  # None: count what `nvidia-smi -L` reports

    @field_validator("server_key")
    @classmethod
    def _refuse_placeholder(cls, value: str) -> str:
        lowered = value.lower()
        if any(word in lowered for word in _PLACEHOLDER_WORDS) or len(set(value)) < 8:
            raise ValueError(
                "CLOUDML_SERVER_KEY looks like a placeholder; generate one with "
                "`python -m platform_services genkey`"
            )
        try:
            raw = base64.urlsafe_b64decode(value.encode())
        except ValueError as exc:
            raise ValueError("CLOUDML_SERVER_KEY must be 32 url-safe base64 bytes (a Fernet key)") from exc
        if len(raw) != 32:
            raise ValueError("CLOUDML_SERVER_KEY must be 32 url-safe base64 bytes (a Fernet key)")
        return value

    @property
    def database(self) -> Path:
        return self.sqlite_path or self.data_dir / "cloudml.db"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> "Settings":
        environ = os.environ if environ is None else environ
        values = {}
        for name in cls.model_fields:
            env = f"CLOUDML_{name.upper()}"
            if env in environ:
                values[name] = environ[env]
        values.update(overrides)
        return cls(**values)
