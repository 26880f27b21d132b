"""Keep secrets out of output, logs and the journal."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

SECRET_KEY = re.compile(r"pass(word)?|pwd|token|secret|api_?key|private_?key|credential", re.IGNORECASE)
# user:password is everything up to the last '@' of the URL: a password may hold '/', '?', '#', ':' or '@'
# that the user forgot to percent-encode, and masking too much is safer than showing any of it.
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:\s]*?):(?P<pw>\S+)@")
_KEY_VALUE = re.compile(
    # `--var PG_PASSWORD=VALUE` in a hint is the placeholder, not a secret
    r"(?P<key>\b\w*(?:password|passwd|pwd|token|secret|api_?key)\w*\s*[=:]\s*)(?!VALUE\b)(?P<value>[^\s,;&'\"]+)",
    re.IGNORECASE,
)
MASK = "***"

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Remember a value that must never be shown (short values are too common to mask safely)."""
    if isinstance(value, str) and len(value) >= 3:
        with _lock:
            _secrets.add(value)


def register_settings(settings: Mapping[str, Any]) -> None:
    """Register every secret-looking setting and every password inside a URL."""
    for key, value in settings.items():
        if isinstance(value, Mapping):
            register_settings(value)
        elif isinstance(value, str):
            if SECRET_KEY.search(key):
                register_secret(value)
            for match in _URL_PASSWORD.finditer(value):
                register_secret(match.group("pw"))


def redact(text: str) -> str:
    """Mask registered secrets, passwords in URLs and `password=...` pairs."""
    if not text:
        return text
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{MASK}@", text)
    text = _KEY_VALUE.sub(lambda m: f"{m.group('key')}{MASK}", text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text
