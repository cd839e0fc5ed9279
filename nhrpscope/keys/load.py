"""Key sources of any format: telling the formats apart, key files, and a
capture's Decryption Secrets Blocks."""

from __future__ import annotations

from pathlib import Path

from nhrpscope.capture import BLOCK_DSB, BlockLengthError, CaptureError, CaptureReader
from nhrpscope.dissectors.esp import SecurityAssociation

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


def read_pcapng_secrets(path: str | Path) -> list[tuple[int, bytes, str]]:
    """(secrets type, data, "file (DSB at offset n)") of each Decryption
    Secrets Block in a capture, as the capture reader meets them (one block
    at a time). A damaged secrets block is an error; a capture cut short
    elsewhere keeps the blocks before the cut."""
    path = Path(path)
    found: list[tuple[int, bytes, str]] = []
    try:
        with CaptureReader(path) as reader:
            def keep(stype: int, data: bytes, _where: str) -> None:
                if len(data) > MAX_KEY_FILE:
                    raise KeyFileError(str(path), None, f"pcapng DSB at offset {reader.block_offset} "
                                                        f"holds {len(data)} bytes, more than a key "
                                                        "file may hold")
                found.append((stype, data, f"{path} (DSB at offset {reader.block_offset})"))

            reader.on_secrets = keep
            for _ in reader.batches():
                pass
    except BlockLengthError as e:
        if e.block_type == BLOCK_DSB and e.length > MAX_KEY_FILE:  # reading it would allocate that
            raise KeyFileError(str(path), None, f"pcapng DSB at offset {e.offset} claims {e.length} "
                                                "bytes, more than a key file may hold") from None
        raise KeyFileError(str(path), None, _reason(e, path)) from None
    except CaptureError as e:
        raise KeyFileError(str(path), None, _reason(e, path)) from None
    if reader.bad_secrets:
        offset, what = reader.bad_secrets[0]
        raise KeyFileError(str(path), None, f"pcapng DSB {what} at offset {offset}")
    return found


def _reason(e: CaptureError, path: Path) -> str:
    """A capture error's message without the file name it starts with
    (KeyFileError names the file itself)."""
    msg = str(e)
    return msg.removeprefix(f"{path}: ")


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

