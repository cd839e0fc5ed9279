"""atheris harness: the key-file parsers (tcpdump -E and secrets, Wireshark
esp_sa, ip xfrm state, pcapng secrets blocks) on the fuzzer's bytes. A
KeyFileError naming the source and line, quoting no key, is the allowed way
to fail; anything else is a crash. See README.md."""

from __future__ import annotations

import re
import sys

import _common
import atheris

with atheris.instrument_imports():
    from nhrpscope.keys import (
        DSB_ESP_SA,
        KeyFileError,
        parse_dsb,
        parse_key_text,
        parse_tcpdump_spec,
    )

HEX_RUN = re.compile(r"[0-9a-fA-F]{12,}")
ESCAPE = re.compile(r"\\x[0-9a-fA-F]{2}")  # repr() of a control character, not key text


def check(e: KeyFileError, where: str) -> None:
    _common.one_line(e, where)
    if HEX_RUN.search(ESCAPE.sub(" ", str(e)[len(where):])):
        raise AssertionError(f"an error quotes what may be key material: {e}")


def test_one(data: bytes) -> None:
    try:
        parse_dsb(DSB_ESP_SA, data, "dsb")
    except KeyFileError as e:
        check(e, "dsb")
    text = data.decode("utf-8", "replace")
    try:  # files=False: "file PATH" would read (or block on) whatever the fuzzer names
        parse_key_text(text, "keys", files=False)
    except KeyFileError as e:
        check(e, "keys")
    if "file" in text.lower():
        return  # -E follows "file PATH" (the user's own argument): not here
    try:
        parse_tcpdump_spec(text, "-E #1")
    except KeyFileError as e:
        check(e, "-E #1")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
