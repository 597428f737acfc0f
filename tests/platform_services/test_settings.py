import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from platform_services.settings import Settings


@pytest.mark.parametrize(
    "key",
    [
        "changeme",
        "",
        "placeholder-placeholder-placeholder-placeholder",
        "A" * 44,
        "not base64 at all!!",
        Fernet.generate_key().decode()[:-4],
    ],
)
def test_refuses_placeholder_or_malformed_server_key(key):
    with pytest.raises(ValidationError):
        Settings.from_env({"CLOUDML_SERVER_KEY": key})


def test_reads_environment_and_hides_the_key():
    key = Fernet.generate_key().decode()
    settings = Settings.from_env(
        {"CLOUDML_SERVER_KEY": key, "CLOUDML_SKEW_SECONDS": "60", "CLOUDML_DATA_DIR": "/tmp/x"}
    )
    assert settings.skew_seconds == 60 and str(settings.database) == "/tmp/x/cloudml.db"
    assert key not in repr(settings)


def test_requires_a_server_key():
    with pytest.raises(ValidationError):
        Settings.from_env({})
