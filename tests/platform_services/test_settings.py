import base64
import json

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


def test_accepts_every_generated_key():
    # The placeholder test once refused random keys whose base64 text happened to contain a word like "xxx".
    for _ in range(5000):
        Settings.from_env({"CLOUDML_SERVER_KEY": Fernet.generate_key().decode()})


def test_refuses_a_patterned_key_that_decodes():
    patterned = base64.urlsafe_b64encode(b"abcd" * 8).decode()
    with pytest.raises(ValidationError, match="placeholder"):
        Settings.from_env({"CLOUDML_SERVER_KEY": patterned})


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


def _etcd_env(**extra) -> dict[str, str]:
    return {"CLOUDML_SERVER_KEY": Fernet.generate_key().decode(), "CLOUDML_STORE": "etcd", **extra}


def _client_dir(tmp_path):
    """The consumer directory the etcd role writes: ca.crt, client.crt, client.key, endpoints.json."""
    client = tmp_path / "client"
    client.mkdir()
    for name in ("ca.crt", "client.crt", "client.key"):
        (client / name).write_text(name)
    endpoints = {
        "cluster": "lab",
        "endpoints": ["https://10.0.0.1:2379", "https://10.0.0.2:2379"],
        "members": {"node1": "https://10.0.0.1:2379", "node2": "https://10.0.0.2:2379"},
        "ca": str(client / "ca.crt"),
        "cert": str(client / "client.crt"),
        "key": str(client / "client.key"),
    }
    (client / "endpoints.json").write_text(json.dumps(endpoints))
    return client


def test_etcd_from_the_roles_endpoints_file(tmp_path):
    client = _client_dir(tmp_path)
    settings = Settings.from_env(_etcd_env(CLOUDML_ETCD_ENDPOINTS_FILE=str(client / "endpoints.json")))
    config = settings.etcd_client_config()
    assert config.endpoints == ("https://10.0.0.1:2379", "https://10.0.0.2:2379")
    assert (config.ca, config.cert, config.key) == tuple(
        client / n for n in ("ca.crt", "client.crt", "client.key")
    )


def test_etcd_endpoints_file_copied_elsewhere_and_explicit_overrides(tmp_path):
    client = _client_dir(tmp_path)
    moved = client.rename(tmp_path / "copied")  # the file's absolute paths no longer exist
    (tmp_path / "other.key").write_text("k")
    settings = Settings.from_env(
        _etcd_env(
            CLOUDML_ETCD_ENDPOINTS_FILE=str(moved / "endpoints.json"),
            CLOUDML_ETCD_ENDPOINTS="https://etcd-a:2379, https://etcd-b:2379",
            CLOUDML_ETCD_KEY=str(tmp_path / "other.key"),
        )
    )
    config = settings.etcd_client_config()
    assert config.endpoints == ("https://etcd-a:2379", "https://etcd-b:2379")
    assert (config.ca, config.cert) == (moved / "ca.crt", moved / "client.crt")
    assert config.key == tmp_path / "other.key"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, "CLOUDML_ETCD_ENDPOINTS"),
        ({"CLOUDML_ETCD_ENDPOINTS": "http://127.0.0.1:2379"}, "not https"),
        ({"CLOUDML_ETCD_ENDPOINTS": "https://127.0.0.1:2379"}, "CLOUDML_ETCD_CA"),
        ({"CLOUDML_ETCD_ENDPOINTS_FILE": "/nonexistent/endpoints.json"}, "CLOUDML_ETCD_ENDPOINTS_FILE"),
        ({"CLOUDML_ETCD_PREFIX": "cloudml/"}, "CLOUDML_ETCD_PREFIX"),
    ],
)
def test_etcd_settings_refuse_incomplete_configuration(extra, message):
    with pytest.raises(ValidationError, match=message):
        Settings.from_env(_etcd_env(**extra))


def test_etcd_settings_name_a_missing_certificate(tmp_path):
    client = _client_dir(tmp_path)
    (client / "client.key").unlink()
    with pytest.raises(ValidationError, match=r"CLOUDML_ETCD_KEY: .*client.key is not a readable file"):
        Settings.from_env(_etcd_env(CLOUDML_ETCD_ENDPOINTS_FILE=str(client / "endpoints.json")))
