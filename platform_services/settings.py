"""The service's one settings class. Every setting comes from a `CLOUDML_` environment variable.

It refuses to start with a placeholder or malformed server key: that key encrypts every tenant's secret key at
rest, so a guessable one would make the encryption decorative.
"""

import base64
import json
import os
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from platform_services.store.etcd import EtcdClientConfig

_PLACEHOLDER_WORDS = ("change", "placeholder", "example", "secret", "password", "xxx", "todo")
_MIN_DISTINCT_KEY_BYTES = 16


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # 32 url-safe base64 bytes (a Fernet key): `python -m platform_services genkey` prints one.
    server_key: str = Field(repr=False)
    data_dir: Path = Path("/var/lib/cloudml")
    store: Literal["sqlite", "etcd"] = "sqlite"
    sqlite_path: Path | None = None  # default: <data_dir>/cloudml.db
    # etcd store (mutual TLS only). Either the endpoints file the etcd role writes for consumers
    # (`endpoints.json`: endpoints and the ca/cert/key paths), or the URLs and files one by one; a setting
    # given here overrides the file's.
    etcd_endpoints_file: Path | None = None
    etcd_endpoints: tuple[str, ...] = ()  # comma-separated https:// client URLs
    etcd_ca: Path | None = None
    etcd_cert: Path | None = None
    etcd_key: Path | None = None
    etcd_prefix: str = "/cloudml"  # every key of the service lives under it
    etcd_timeout_s: float = Field(5.0, gt=0)
    # SigV4 credential scope: region and service the clients sign for.
    sigv4_region: str = "local"
    sigv4_service: str = "cloudml"
    # Signed requests may be this far from the server's clock; signatures are remembered twice as long.
    skew_seconds: int = Field(300, ge=1, le=3600)
    # A server remembers access keys it looked up this long; a key disabled or rotated through another server
    # replica may still be accepted here for up to this long (through this server: never). 0: no cache.
    key_cache_ttl_s: float = Field(5.0, ge=0, le=300)
    max_body_bytes: int = Field(1 << 20, ge=1024)
    # Local backend. runner_enabled=false makes an API-only server (jobs are admitted, never started).
    runner_enabled: bool = True
    python_executable: str = sys.executable
    log_cap_bytes: int = Field(10 << 20, ge=1024)
    reconcile_interval_s: float = Field(0.2, gt=0)
    # Replicas sharing a store elect one reconciler; its claim lasts this long unless renewed (every third of
    # it), so a dead leader is replaced within about 4/3 of it. etcd grants leases of 2 s at least.
    leader_ttl_s: int = Field(15, ge=2, le=300)
    stop_grace_s: float = Field(5.0, ge=0)
    gpus: int | None = None  # None: count what `nvidia-smi -L` reports
    # How replicas' CPU and memory limits are enforced (runner/limits.py): auto picks the first the host
    # offers of systemd, cgroup-v2, cgroup-v1, rlimit; naming one forces it (the server refuses to start
    # without it).
    limits_mechanism: Literal["auto", "systemd", "cgroup-v2", "cgroup-v1", "rlimit"] = "auto"
    cgroup_parent: str = Field("cloudml", pattern=r"^[A-Za-z0-9_.-]+$")  # under the server's own cgroup

    @field_validator("server_key")
    @classmethod
    def _refuse_placeholder(cls, value: str) -> str:
        # Judged on the decoded bytes: a word test on the base64 text also refused about 1 in 800 random keys
        # (e.g. one containing "xxx"). 32 random bytes have ~30 distinct values; a typed pattern far fewer.
        try:
            raw = base64.urlsafe_b64decode(value.encode())
        except ValueError:
            raw = b""
        placeholder = any(word in value.lower() for word in _PLACEHOLDER_WORDS)
        if (len(raw) == 32 and len(set(raw)) < _MIN_DISTINCT_KEY_BYTES) or (len(raw) != 32 and placeholder):
            raise ValueError(
                "CLOUDML_SERVER_KEY looks like a placeholder; generate one with "
                "`python -m platform_services genkey`"
            )
        if len(raw) != 32:
            raise ValueError("CLOUDML_SERVER_KEY must be 32 url-safe base64 bytes (a Fernet key)")
        return value

    @field_validator("etcd_endpoints", mode="before")
    @classmethod
    def _split_endpoints(cls, value):
        if isinstance(value, str):
            return tuple(url.strip() for url in value.split(",") if url.strip())
        return value

    @field_validator("etcd_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if value and (not value.startswith("/") or value.endswith("/")):
            raise ValueError("CLOUDML_ETCD_PREFIX must start with '/' and not end with it (e.g. /cloudml)")
        return value

    @model_validator(mode="after")
    def _check_store(self) -> "Settings":
        if self.store == "etcd":
            self.etcd_client_config()  # refuse to start on an incomplete or unreadable etcd configuration
        return self

    def etcd_client_config(self) -> EtcdClientConfig:
        """Endpoints and client certificate: explicit settings first, then the endpoints file. A path in the
        file that does not exist on this host is looked for beside the file (the role writes the four files
        into one directory, which is what gets copied to the server)."""
        from_file: dict = {}
        if self.etcd_endpoints_file is not None:
            try:
                from_file = json.loads(self.etcd_endpoints_file.read_text())
            except (OSError, ValueError) as exc:
                raise ValueError(f"CLOUDML_ETCD_ENDPOINTS_FILE {self.etcd_endpoints_file}: {exc}") from exc

        def path(name: str) -> Path:
            explicit = getattr(self, f"etcd_{name}")
            if explicit is not None:
                found = explicit
            elif name in from_file:
                found = Path(from_file[name])
                if not found.exists():
                    found = self.etcd_endpoints_file.parent / found.name
            else:
                raise ValueError(f"the etcd store needs CLOUDML_ETCD_{name.upper()} (or an endpoints file)")
            if not found.is_file():
                raise ValueError(f"CLOUDML_ETCD_{name.upper()}: {found} is not a readable file")
            return found

        endpoints = self.etcd_endpoints or tuple(from_file.get("endpoints", ()))
        if not endpoints:
            raise ValueError("the etcd store needs CLOUDML_ETCD_ENDPOINTS or CLOUDML_ETCD_ENDPOINTS_FILE")
        for url in endpoints:
            if not url.startswith("https://"):
                raise ValueError(
                    f"CLOUDML_ETCD_ENDPOINTS: {url!r} is not https:// (the store needs mutual TLS)"
                )
        return EtcdClientConfig(tuple(endpoints), path("ca"), path("cert"), path("key"))

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
