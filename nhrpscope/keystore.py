"""The ESP SAs a run uses: those the user gave (key files, tcpdump ``-E``
specs) plus those a pcapng capture carries in Decryption Secrets Blocks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from nhrpscope.keys import SADatabase, load_key_file, parse_dsb, parse_tcpdump_spec

# What CaptureReader calls with each Decryption Secrets Block: (type, data, where).
OnSecrets = Callable[[int, bytes, str], None]


@dataclass
class KeyStore:
    """The SAs the user gave plus those found in the capture itself."""

    db: SADatabase
    from_capture: list[str] = field(default_factory=list)  # one note per block used


def load_keys(key_files: tuple[str, ...] | list[str] = (),
              esp_specs: tuple[str, ...] | list[str] = ()) -> KeyStore:
    """Read ``key_files`` (format detected) and ``esp_specs`` (tcpdump -E)."""
    db = SADatabase()
    for path in key_files:
        for sa in load_key_file(path):
            db.add(sa)
    for i, spec in enumerate(esp_specs, 1):
        for sa in parse_tcpdump_spec(spec, where=f"-E #{i}"):
            db.add(sa)
    return KeyStore(db)


def secrets_handler(store: KeyStore, *, use: bool = True) -> OnSecrets:
    """Feeds pcapng Decryption Secrets Blocks into ``store``; with ``use``
    False (--no-capture-keys) ignores them, as someone without the keys would."""

    def on_secrets(stype: int, data: bytes, where: str) -> None:
        if not use:
            return
        sas = parse_dsb(stype, data, where)
        for sa in sas:
            store.db.add(sa)
        if sas:
            store.from_capture.append(f"{where}: {len(sas)} ESP SA(s)")

    return on_secrets
