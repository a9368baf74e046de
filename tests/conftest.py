import os
import socket
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

os.environ.setdefault("KIBAN_MODE", "test")

# `make test` (and so CI) draws the same property-test examples on every run: a failure
# shows on every run, never by the luck of one. KIBAN_HYPOTHESIS=explore draws new random
# examples; a failure found that way is kept as an @example on the test.
hypothesis_settings.register_profile("repeatable", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("KIBAN_HYPOTHESIS", "repeatable"))


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Fail loudly if a test tries to reach anything but this machine."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else str(address)
        if (
            isinstance(host, str)
            and not (
                host.startswith("127.") or host in {"localhost", "::1"} or host.startswith("/")
            )
            and self.family in (socket.AF_INET, socket.AF_INET6)
        ):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys and generated files go to a per-test directory (when Django is in use)."""
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        return
    from django.conf import settings

    monkeypatch.setattr(settings, "KEYS_DIR", tmp_path / "keys")
    monkeypatch.setattr(settings, "FILES_DIR", tmp_path / "files")
