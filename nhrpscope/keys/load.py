"""Key sources of any format: telling the formats apart, key files, and a
capture's Decryption Secrets Blocks."""

from __future__ import annotations

import struct
from pathlib import Path

from dissectors.esp import SecurityAssociation

from .errors import KeyFileError
from .esp_sa import parse_esp_sa
from .files import MAX_KEY_FILE, decode_text, read_bytes
from .tcpdump import parse_tcpdump_secrets
from .xfrm import SA_START, parse_xfrm

# pcapng Decryption Secrets Block type for ESP SAs: 0x45535053 ("ESPS"),
# SECRETS_TYPE_ESP "ESP SA Key" in Wireshark's wiretap/secrets-types.h. Its
# data is taken to be esp_sa rows (text); any of our text formats is accepted.
DSB_ESP_SA = 0x45535053

def detect_format(text: str) -> str:
    """"esp_sa", "xfrm" or "tcpdump", from the first meaningful line."""
    for raw in text.splitlines():
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith('"'):
            return "esp_sa"
        if SA_START.match(s):
            return "xfrm"
        return "tcpdump"
    return "tcpdump"


def parse_key_text(text: str, where: str, *, files: bool = True) -> list[SecurityAssociation]:
    """Key text in any of the formats, detected. ``files`` False: tcpdump
    ``file PATH`` includes are refused (for text that came from a capture)."""
    text = text.lstrip("\ufeff")
    fmt = detect_format(text)
    if fmt == "esp_sa":
        return parse_esp_sa(text, where)
    if fmt == "xfrm":
        return parse_xfrm(text, where)
    return parse_tcpdump_secrets(text, where, files=files)


_PCAPNG_SHB = 0x0A0D0D0A
_PCAPNG_DSB = 0x0000000A


def read_pcapng_secrets(path: str | Path) -> list[tuple[int, bytes, str]]:
    """(secrets type, data, "file (DSB at offset n)") of each Decryption
    Secrets Block in a pcapng file, read block by block without loading
    packets."""
    path = Path(path)
    out: list[tuple[int, bytes, str]] = []
    try:
        f = open(path, "rb")  # noqa: SIM115
    except OSError as e:
        raise KeyFileError(str(path), None, f"cannot read: {e.strerror or type(e).__name__}") from None
    with f:
        endian = "<"
        offset = 0
        while True:
            head = f.read(8)
            if not head:
                break
            if len(head) < 8:
                raise KeyFileError(str(path), None, f"pcapng block cut short at offset {offset}")
            btype_raw = head[:4]
            if btype_raw == b"\x0a\x0d\x0d\x0a":
                bom = f.read(4)
                if bom == b"\x1a\x2b\x3c\x4d":
                    endian = ">"
                elif bom == b"\x4d\x3c\x2b\x1a":
                    endian = "<"
                else:
                    raise KeyFileError(str(path), None, f"bad pcapng byte-order magic at offset {offset}")
                f.seek(-4, 1)
            btype, blen = struct.unpack(endian + "II", head)
            if blen < 12 or blen % 4:
                raise KeyFileError(str(path), None, f"bad pcapng block length {blen} at offset {offset}")
            if btype == _PCAPNG_DSB:
                if blen > MAX_KEY_FILE:  # read(blen) would first allocate up to 4 GiB
                    raise KeyFileError(str(path), None, f"pcapng DSB at offset {offset} claims "
                                                        f"{blen} bytes, more than a key file may hold")
                body = f.read(blen - 8)
                if len(body) < blen - 8 or len(body) < 12:
                    raise KeyFileError(str(path), None, f"pcapng DSB cut short at offset {offset}")
                stype, slen = struct.unpack_from(endian + "II", body)
                if 8 + slen > len(body) - 4:
                    raise KeyFileError(str(path), None, f"pcapng DSB length wrong at offset {offset}")
                out.append((stype, body[8 : 8 + slen], f"{path} (DSB at offset {offset})"))
            else:
                f.seek(blen - 8, 1)
            offset += blen
    return out


def load_key_file(path: str | Path) -> list[SecurityAssociation]:
    """SAs from a key file, whatever its format: tcpdump secrets, esp_sa,
    ``ip xfrm state`` output, or a pcapng capture's ESP secrets blocks."""
    path = Path(path)
    data = read_bytes(path)
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        sas: list[SecurityAssociation] = []
        for stype, sdata, where in read_pcapng_secrets(path):
            sas.extend(parse_dsb(stype, sdata, where))
        return sas
    text = decode_text(data, str(path))
    return parse_key_text(text, str(path))


def parse_dsb(secrets_type: int, data: bytes, where: str) -> list[SecurityAssociation]:
    """SAs in a pcapng Decryption Secrets Block; [] for other secret types."""
    if secrets_type != DSB_ESP_SA:
        return []
    # A capture is untrusted input: its "file /etc/passwd" line was read (and
    # quoted in the error), its "file FIFO" line hung the command.
    return parse_key_text(decode_text(bytes(data), where), where, files=False)

