"""The Pulumi program's fixture: the image is checked against the Deployment the program writes."""

from tests.infra.conftest import pulumi_loop  # noqa: F401
