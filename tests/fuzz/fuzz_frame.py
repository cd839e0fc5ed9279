"""atheris harness: the whole frame chain (link layer to NHRP, IKE and
decrypted ESP) and what ``decode`` prints of it. See README.md.

The first byte picks the link type, the rest is the frame. Every decoder must
return; any exception is a crash."""

from __future__ import annotations

import sys

import _common  # first: it sets the import path
import atheris

with atheris.instrument_imports():
    from nhrpscope.dissectors.esp import SecurityAssociation
    from nhrpscope.dissectors.frame import FrameDecoder

    from nhrpscope.keys import SADatabase

# SAs for the SPIs the seeds use, so mutated ESP reaches the decryption code.
SAS = SADatabase([
    SecurityAssociation(0x1001, None, None, "aes-cbc", bytes(range(16)), "hmac-sha1-96", bytes(range(20))),
    SecurityAssociation(0x1002, None, None, "aes-gcm-16", bytes(range(20))),
    SecurityAssociation(0x1003, None, None, "null", b"", "hmac-sha256-128", bytes(range(32))),
])


def test_one(data: bytes) -> None:
    if not data:
        return
    lt = _common.LINKTYPES[data[0] % len(_common.LINKTYPES)]
    fd = FrameDecoder(SAS)
    pkt = fd.decode(lt, data[1:], frame=1, time=1.0)
    _common.check_packet(pkt)
    fd.finish()


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
