"""Bad input never crashes: reference captures cut and mutated (seeded)
through the commands; pathological files; bounded time (a run that hangs
fails, see ``_limits.time_limit``)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from _limits import check_exit, run_cli, time_limit

from nhrpscope.cli import main

SEED = 2332
MUTANTS_PER_FILE = 12
# Wall time one command may take on one mutant (they take well under a second).
RUN_LIMIT = 20.0
COMMANDS = [["decode", "--format", "jsonl"], ["decode", "-v"]]


def _extra_commands() -> list[list[str]]:
    names = set(main.commands)
    out = []
    if "analyze" in names:
        out.append(["analyze", "--format", "json"])
    if "show" in names:
        out.append(["show", "dmvpn"])
    return out


def mutants(blob: bytes, rng: random.Random) -> list[bytes]:
    out = []
    for _ in range(MUTANTS_PER_FILE):
        b = bytearray(blob)
        if rng.random() < 0.5:
            del b[rng.randrange(24, len(b)):]  # cut, keeping the file header
        for _ in range(rng.randrange(1, 8)):
            if len(b) > 24:
                b[rng.randrange(24, len(b))] = rng.randrange(256)
        out.append(bytes(b))
    return out


def test_reference_corpus_cut_and_mutated(reference, tmp_path):
    rng = random.Random(SEED)
    tried = 0
    for src in sorted(reference.glob("*.pcap")):
        for i, blob in enumerate(mutants(src.read_bytes(), rng)):
            path = tmp_path / f"{src.stem}-{i}.pcap"
            path.write_bytes(blob)
            for cmd in COMMANDS + _extra_commands():
                # run_cli fails the test, naming the command, if it outlives RUN_LIMIT
                code, out = run_cli([*cmd, str(path)] if cmd[0] == "show" else
                                    [cmd[0], str(path), *cmd[1:]], RUN_LIMIT)
                check_exit(code, out, (src.name, i, cmd))
                tried += 1
    assert tried >= 100


def test_a_hang_fails_instead_of_blocking():
    # The limit the corpus runs under: a stuck command is a failure, even one
    # whose code catches Exception (the alarm raises a BaseException).
    def stuck() -> None:
        while True:
            try:
                time.sleep(1)
            except Exception:  # noqa: BLE001 - what careless code does
                pass

    t0 = time.monotonic()
    with pytest.raises(pytest.fail.Exception, match="stuck: still running after 0.2 s"):
        with time_limit(0.2, "stuck"):
            stuck()
    assert time.monotonic() - t0 < 2


def test_huge_record_length_is_a_one_line_error(tmp_path):
    import struct

    p = tmp_path / "huge.pcap"
    p.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
                  + struct.pack("<IIII", 0, 0, 0xFFFFFFFF, 0xFFFFFFFF))
    code, out = run_cli(["decode", str(p)])
    assert code == 2 and "absurd" in out


def test_key_file_with_a_10mb_line(tmp_path):
    p = tmp_path / "big.secrets"
    p.write_text("0x1@1.2.3.4 aes128-cbc:0x" + "ab" * 5_000_000 + "\n")
    t0 = time.monotonic()
    code, out = run_cli(["decode", "-k", str(p), str(Path(__file__))])
    assert code == 2 and "big.secrets:1" in out and "abab" not in out
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize("blob", [b"", b"\xd4\xc3\xb2\xa1", b"\x0a\x0d\x0d\x0a\x10\x00\x00\x00",
                                  b"\x1f\x8b\x08\x00garbage"])
def test_tiny_and_broken_headers(tmp_path, blob):
    p = tmp_path / "x.pcap"
    p.write_bytes(blob)
    code, out = run_cli(["decode", str(p)])
    assert code in (0, 2) and "Traceback" not in out
