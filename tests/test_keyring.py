"""Keys and publishing tokens from the OS keyring (keys.get_key), kept out of every output."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend

from nbvideo import keys
from nbvideo.keys import MissingKey, get_key, redact

MARKER = "tok-MARKER-9f8e7d6c5b4a"


class _Memory(KeyringBackend):
    """An OS keyring in memory, as the tests may not touch the real one."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


class _Broken(_Memory):
    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("the keyring is locked")


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Memory]:
    before = keyring.get_keyring()
    ring = _Memory()
    keyring.set_keyring(ring)
    for var in keys.ENV.values():
        monkeypatch.delenv(var, raising=False)
    try:
        yield ring
    finally:
        keyring.set_keyring(before)
        keys.forget_keys()


def test_a_token_in_the_keyring_is_found_and_redacted(memory_keyring: _Memory) -> None:
    with pytest.raises(MissingKey, match="keyring set nbvideo tiktok"):
        get_key("tiktok")
    memory_keyring.set_password("nbvideo", "tiktok", MARKER)
    assert get_key("tiktok") == MARKER and repr(get_key("tiktok")) == "Secret('***')"
    assert redact(f"POST failed: Bearer {MARKER}") == "POST failed: Bearer ***"


def test_the_environment_wins_over_the_keyring(memory_keyring: _Memory,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    memory_keyring.set_password("nbvideo", "youtube", MARKER)
    monkeypatch.setenv("NBVIDEO_YOUTUBE_TOKEN", "from-the-environment")
    assert get_key("youtube") == "from-the-environment"


def test_a_keyring_that_cannot_be_read_is_no_keyring(memory_keyring: _Memory) -> None:
    keyring.set_keyring(_Broken())
    assert get_key("meta", required=False) is None
    with pytest.raises(MissingKey, match="NBVIDEO_META_TOKEN"):
        get_key("meta")
