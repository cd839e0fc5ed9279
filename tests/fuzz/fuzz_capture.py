"""atheris harness: the capture reader (pcap, pcapng, gzip) on a file of the
fuzzer's bytes; secrets blocks go to the key parser, as in the CLI. A
CaptureError (or KeyFileError from a secrets block) naming the file is the
allowed way to fail; anything else is a crash. See README.md."""

from __future__ import annotations

import os
import sys
import tempfile

import _common
import atheris

with atheris.instrument_imports():
    from nhrpscope.capture import CaptureError, CaptureReader
    from nhrpscope.keys import KeyFileError, parse_dsb

PATH = os.path.join(tempfile.mkdtemp(prefix="nhrpscope-fuzz-"), "input.pcap")


def on_secrets(stype: int, data: bytes, where: str) -> None:
    try:
        parse_dsb(stype, data, where)
    except KeyFileError as e:
        _common.one_line(e, where)


def test_one(data: bytes) -> None:
    with open(PATH, "wb") as f:
        f.write(data)
    try:
        with CaptureReader(PATH, on_secrets) as r:
            for _ in r.records():
                pass
    except CaptureError as e:
        _common.one_line(e, PATH)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
