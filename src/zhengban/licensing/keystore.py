"""Licence keys and serial numbers at rest: Fernet (AES-128-CBC + HMAC-SHA256).

The key is ZHENGBAN_FIELD_KEY (a Fernet key, 32 url-safe base64 bytes) when set, else derived
from SECRET_KEY with HKDF, so that a database dump alone never reveals a licence key. Pages
and exports only ever show the hint (the last characters).
"""

from __future__ import annotations

import base64
import os
from functools import lru_cache

from django.conf import settings

HINT_CHARS = 5


@lru_cache(maxsize=4)
def _fernet(secret: str, explicit: str):
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    if explicit:
        return Fernet(explicit.encode())
    raw = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"zhengban licence serials"
    ).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(raw))


def _cipher():
    return _fernet(settings.SECRET_KEY, os.environ.get("ZHENGBAN_FIELD_KEY", ""))


def hint(serial: str) -> str:
    clean = "".join(ch for ch in serial if ch.isalnum())
    return clean[-HINT_CHARS:]


def encrypt(serial: str) -> str:
    return _cipher().encrypt(serial.encode()).decode() if serial else ""


def decrypt(token: str) -> str:
    return _cipher().decrypt(token.encode()).decode() if token else ""
