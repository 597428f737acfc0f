"""The train job request: the seed SDK's field names, validated strictly (unknown fields are refused)."""

import re
import shlex
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from platform_services.units import parse_cpu, parse_memory

DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
TRAINER_URI_SCHEMES = ("file://", "https://", "s3://")
FRAMEWORKS = {"tensorflow": ["2.15", "2.16"], "pytorch": ["2.3", "2.4"], "python": ["3.11"]}


def _check_cpu(value):
    parse_cpu(value)
    return str(value)


def _check_memory(value):
    parse_memory(value)
    return str(value)


def _args(value):
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"job_args does not parse as shell words: {exc}") from exc
    return value


CpuStr = Annotated[str, BeforeValidator(_check_cpu)]
MemoryStr = Annotated[str, BeforeValidator(_check_memory)]
ShortStr = Annotated[str, Field(max_length=4096)]


class TrainJobSpec(BaseModel):
    """What a client submits. Strings for resources keep the seed's wire format ("2.5", "8G")."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # Patterns documented in the OpenAPI; the validators below check them with messages that say the fix.
    job_name: str = Field(
        max_length=63,
        description="DNS-1123 label, unique in the org",
        json_schema_extra={"pattern": DNS_1123_LABEL.pattern},
    )
    module_name: str = Field(
        max_length=255,
        description="run as `python -m module_name`",
        json_schema_extra={"pattern": MODULE_NAME.pattern},
    )
    trainer_uri: str = Field(
        min_length=1, max_length=2048, description="local path, file://, https:// or s3:// package"
    )
    job_args: Annotated[list[ShortStr], BeforeValidator(_args), Field(max_length=256)] = []
    cpu_limit: CpuStr = "1"
    memory_limit: MemoryStr = "1G"
    gpu_limit: int = Field(0, ge=0, le=16)
    ps_count: int = Field(0, ge=0, le=32)
    worker_count: int = Field(0, ge=0, le=128)
    framework: Literal["tensorflow", "pytorch", "python"] = "tensorflow"
    framework_version: str | None = Field(None, max_length=32)
    tf_chief_name: Literal["master", "chief"] = Field("master", description="name of the master in TF_CONFIG")
    prepare_command: ShortStr | None = None
    finish_command: ShortStr | None = None
    docker_image: str | None = Field(None, max_length=512)
    docker_command: ShortStr | None = None
    node_selector_key: str | None = Field(None, max_length=253)
    node_selector_value: str | None = Field(None, max_length=63)
    client_request_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._:-]{1,128}$",
        description="retrying with the same id returns the same job",
    )
    reject_if_over_quota: bool = Field(False, description="answer 409 instead of waiting in `enqueued`")

    @field_validator("job_name")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not DNS_1123_LABEL.match(value):
            raise ValueError(
                "job_name must be a DNS-1123 label: at most 63 of a-z, 0-9 and '-', "
                "starting and ending with a letter or digit"
            )
        return value

    @field_validator("module_name")
    @classmethod
    def _module(cls, value: str) -> str:
        if not MODULE_NAME.match(value):
            raise ValueError("module_name must be a dotted Python module name like trainer.task")
        return value

    @field_validator("trainer_uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        if "://" in value and not value.startswith(TRAINER_URI_SCHEMES):
            raise ValueError("trainer_uri must be a local path or a file://, https:// or s3:// URI")
        return value

    @model_validator(mode="after")
    def _consistent(self):
        if self.framework_version is not None and self.framework_version not in FRAMEWORKS[self.framework]:
            raise ValueError(
                f"framework_version {self.framework_version!r} is not offered for "
                f"{self.framework}: {', '.join(FRAMEWORKS[self.framework])}"
            )
        if self.framework == "pytorch" and self.ps_count:
            raise ValueError("ps_count must be 0 for framework pytorch (no parameter servers)")
        if (self.node_selector_key is None) != (self.node_selector_value is None):
            raise ValueError("node_selector_key and node_selector_value go together")
        return self

    @property
    def replicas(self) -> int:
        return 1 + self.ps_count + self.worker_count

    def demand(self) -> dict[str, int]:
        """Quota demand: every replica (master + ps + workers) counts; count is one job."""
        n = self.replicas
        return {
            "cpu": n * parse_cpu(self.cpu_limit),
            "memory": n * parse_memory(self.memory_limit),
            "gpu": n * self.gpu_limit,
            "count": 1,
        }
