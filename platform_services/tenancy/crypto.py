"""Secret keys at rest: Fernet (AES-128-CBC + HMAC-SHA256) under the server key."""

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    def __init__(self, server_key: str):
        self._fernet = Fernet(server_key.encode())

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise RuntimeError("a stored secret key does not decrypt: wrong CLOUDML_SERVER_KEY?") from exc
