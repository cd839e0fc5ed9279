"""Issue 13's key-material rule: an error about a key line names the file,
the line and the column, and quotes nothing from the line but the formats'
own words. A distinctive secret is put in every place of every format where
it makes the line wrong (its own place with the wrong length, the SPI's, an
address's, the algorithm's, swapped columns, include paths ...), plain, in
lowercase and in hex; no error may repeat any of it, through the parsers or
through the command line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from _limits import run_cli

from nhrpscope.keys import (
    DSB_ESP_SA,
    KeyFileError,
    load_key_file,
    parse_dsb,
    parse_esp_sa,
    parse_key_text,
    parse_tcpdump_secrets,
    parse_tcpdump_spec,
    parse_xfrm,
)

S = "Zq7KRYPTxyzzy"  # no 6 letters of it are in any message text
H = S.encode().hex()  # 13 bytes: a wrong length for every cipher here
K16 = "00" * 16
K20 = "00" * 20
SEED = Path(__file__).resolve().parent.parent / "captures" / "seed-lab.pcapng"


def leaks(msg: str) -> list[str]:
    """Pieces of the secret in ``msg``: any 6 characters of it (any case),
    or any 8 hex digits of its hex form."""
    low = msg.lower()
    text = S.lower()
    found = [text[i : i + 6] for i in range(len(text) - 5) if text[i : i + 6] in low]
    found += [H[i : i + 8] for i in range(len(H) - 7) if H[i : i + 8] in low]
    return found


# The secret, its lowercase form and its hex form, each in the same places.
FORMS = {"plain": S, "lower": S.lower(), "hex": H, "HEX": H.upper()}

TCPDUMP = [
    "{s}@192.0.2.1 aes128-cbc:0x" + K16,  # a secret where the SPI goes
    "0x{s}@192.0.2.1 aes128-cbc:0x" + K16,  # too big (or not hex) for an SPI
    "0x10@{s} aes128-cbc:0x" + K16,  # ... where the address goes
    "0x10@2001:db8::{s} aes128-cbc:0x" + K16,
    "0x10@10.*.*.{s} aes128-cbc:0x" + K16,  # a wildcard address
    "0x10@192.0.2.1 {s}:aes128-cbc",  # secret and algorithm swapped
    "0x10@192.0.2.1 {s}-cbc:0x" + K16,  # a secret that looks like an algorithm
    "0x10@192.0.2.1 {s}-hmac96:0x" + K16,
    "0x10@192.0.2.1 aes128-cbc-{s}:0x" + K16,
    "0x10@192.0.2.1 aes-gcm-16:{s}",  # another format's algorithm name
    "0x10@192.0.2.1 aes128-cbcc:{s}",  # a typo: "did you mean"
    "0x10@192.0.2.1 aes128-cbc:{s}",  # the key, of the wrong length
    "0x10@192.0.2.1 aes128-cbc:'{s}'",
    "0x10@192.0.2.1 aes128-cbc:0x{s}z",  # not hex
    "0x10@192.0.2.1 3des-cbc-hmac96:0x{s}",
    "0x10@192.0.2.1 aes128-cbc{s}",  # no ALGO:SECRET
    "0x10@192.0.2.1 {s}",
    "{s}",
    "{s} aes128-cbc:0x" + K16,  # no SPI@ADDRESS
    "0x10@ aes128-cbc:{s}",  # an SPI without an address
    "file /nonexistent/{s}",  # include paths
    "file {s}",
]

ESP_SA_FIELDS = ["IPv4", "*", "192.0.2.1", "0x10", "AES-CBC [RFC3602]", "0x" + K16, "NULL", ""]


def _row(**at: str) -> str:
    fields = list(ESP_SA_FIELDS)
    for i, v in at.items():
        fields[int(i[1:])] = v
    return ",".join(f'"{f}"' for f in fields)


ESP_SA = [
    _row(f0="{s}"),  # protocol
    _row(f0="IPv4 {s}"),
    _row(f1="{s}"),  # source
    _row(f2="{s}"),  # destination
    _row(f1="10.*.*.{s}"),
    _row(f2="2001:db8::1", f5="{s}"),  # an IPv6 address in an IPv4 row, the key last
    _row(f3="{s}"),  # SPI
    _row(f3="0x{s}"),
    _row(f4="{s}"),  # encryption algorithm
    _row(f4="{s}", f5="AES-CBC [RFC3602]"),  # algorithm and key swapped
    _row(f4="AES-CBC {s}"),
    _row(f5="{s}"),  # the key, of the wrong length
    _row(f5="0x{s}"),
    _row(f5="0x{s}z"),  # not hex
    _row(f6="{s}"),  # authentication algorithm
    _row(f6="{s}", f7="HMAC-SHA-1-96 [RFC2404]"),  # swapped
    _row(f4="NULL", f5="{s}"),  # a key for no encryption
    _row(f6="HMAC-SHA-1-96 [RFC2404]", f7="0x{s}q"),
    _row(f4="AES-GCM with 16 octet ICV [RFC4106]", f5="{s}", f6="HMAC-SHA-1-96 [RFC2404]"),
    _row(f4="AES-GCM [RFC4106]", f5="{s}", f6="HMAC-SHA-1-96 [RFC2404]"),
    '"IPv4","*","192.0.2.1","0x10","{s}"',  # too few fields
    _row() + ',"{s}"',  # too many
    'IPv4,*,192.0.2.1,{s},AES-CBC [RFC3602],0x00,NULL,',  # unquoted
    '"IPv4","*","{s}',  # a quote left open
]

XFRM_HEAD = "src 192.0.2.1 dst 192.0.2.2\n\tproto esp spi 0x10 reqid 1 mode tunnel\n"
XFRM = [
    "src {s} dst 192.0.2.2\n\tproto esp spi 0x10\n\tenc cbc(aes) 0x" + K16,
    "src 192.0.2.1 dst {s}\n\tproto esp spi 0x10\n\tenc cbc(aes) 0x" + K16,
    "src 192.0.2.1 dst 192.0.2.2\n\tproto esp spi {s}\n\tenc cbc(aes) 0x" + K16,
    "src 192.0.2.1 dst 192.0.2.2\n\tproto esp spi 0x{s}\n\tenc cbc(aes) 0x" + K16,
    "src 192.0.2.1 dst 192.0.2.2\\\tproto esp spi {s}\\\tenc cbc(aes) 0x" + K16,  # ip -o
    XFRM_HEAD + "\tenc {s} 0x" + K16,
    XFRM_HEAD + "\tenc {s}",
    XFRM_HEAD + "\tenc cbc(aes) {s}",  # a key without its 0x
    XFRM_HEAD + "\tenc 'cbc(aes)' '{s}'",
    XFRM_HEAD + "\tenc cbc(aes) 0x{s}z",
    XFRM_HEAD + "\tenc cbc(aes) 0x{s}",  # the wrong length
    XFRM_HEAD + "\taead {s} 0x" + K20 + " 128",  # aead names are lowercased
    XFRM_HEAD + "\taead rfc4106(gcm(aes)) {s} 128",
    XFRM_HEAD + "\taead rfc4106(gcm(aes)) 0x" + K20 + " {s}",
    XFRM_HEAD + "\taead rfc4106(gcm(aes)) 0x{s} 1234",
    XFRM_HEAD + "\tauth-trunc {s} 0x" + K20 + " 96\n\tenc cbc(aes) 0x" + K16,
    XFRM_HEAD + "\tauth-trunc hmac(sha1) 0x" + K20 + " {s}\n\tenc cbc(aes) 0x" + K16,
    XFRM_HEAD + "\tauth-trunc hmac(sha1) 0x{s}z 96\n\tenc cbc(aes) 0x" + K16,
    XFRM_HEAD + "\tauth {s} 0x" + K20 + "\n\tenc cbc(aes) 0x" + K16,
    XFRM_HEAD + "\tauth hmac(sha1) {s}\n\tenc cbc(aes) 0x" + K16,
    XFRM_HEAD + "\taead rfc4106(gcm(aes)) 0x" + K20 + " 128\n\tauth-trunc hmac(sha1) 0x{s} 96",
    XFRM_HEAD + "\tencap type espinudp sport {s} dport 4500\n\tenc cbc(aes) 0x" + K16,
    XFRM_HEAD + "\tsel src {s}",  # an ESP state without enc
    "{s}\n" + XFRM_HEAD,  # before any state
]

CASES = ([("tcpdump", t) for t in TCPDUMP] + [("esp_sa", t) for t in ESP_SA]
         + [("xfrm", t) for t in XFRM])


def check(e: KeyFileError, where: str) -> None:
    msg = str(e)
    assert "\n" not in msg, msg
    assert not leaks(msg), (leaks(msg), msg)
    assert e.where == where, msg
    assert e.line is not None and e.column is not None, msg
    assert msg.startswith(f"{where}:{e.line}: column {e.column}: "), msg


def test_there_are_enough_cases() -> None:
    for fmt in ("tcpdump", "esp_sa", "xfrm"):
        assert sum(1 for f, _ in CASES if f == fmt) >= 20, fmt


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("fmt,template", CASES)
def test_no_parser_error_repeats_the_secret(fmt: str, template: str, form: str) -> None:
    text = "# keys\n" + template.replace("{s}", FORMS[form]) + "\n"
    parse = {"tcpdump": lambda t, w: parse_tcpdump_secrets(t, w, files=False),
             "esp_sa": parse_esp_sa, "xfrm": parse_xfrm}[fmt]
    for fn in (parse, lambda t, w: parse_key_text(t, w, files=False),
               lambda t, w: parse_dsb(DSB_ESP_SA, t.encode(), w)):
        with pytest.raises(KeyFileError) as e:
            fn(text, "keys")
        check(e.value, "keys")
        assert e.value.line >= 2  # type: ignore[operator]


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("template", TCPDUMP)
def test_no_tcpdump_spec_error_repeats_the_secret(template: str, form: str) -> None:
    spec = "0x1@192.0.2.1 des-cbc:0x0102030405060708," + template.replace("{s}", FORMS[form])
    with pytest.raises(KeyFileError) as e:
        parse_tcpdump_spec(spec, "-E #1")
    check(e.value, "-E #1")
    assert e.value.line == 2


def test_the_column_points_at_the_wrong_field() -> None:
    cases = [
        (parse_tcpdump_spec, f"0x10@{S} aes128-cbc:0x" + K16, 6),
        (parse_tcpdump_spec, f"  0x10@192.0.2.1 aes128-cbc:0x{H}", 29),
        (parse_tcpdump_spec, f"0x10@192.0.2.1 {S}:aes128-cbc", 16),
        (parse_esp_sa, _row(f3=S), 1 + len(",".join(f'"{f}"' for f in ESP_SA_FIELDS[:3])) + 1),
        (parse_esp_sa, " " + _row(f6=S), 2 + len(",".join(f'"{f}"' for f in ESP_SA_FIELDS[:6])) + 1),
        (parse_xfrm, f"src 192.0.2.1 dst {S}", 19),
        (parse_xfrm, XFRM_HEAD.splitlines()[0] + f"\\\tproto esp spi {S}", 44),
    ]
    for parse, text, column in cases:
        with pytest.raises(KeyFileError) as e:
            parse(text, "k")
        assert e.value.column == column, (text, str(e.value))
    # A key of the wrong length: the key's own line and column, also in a
    # state of several lines.
    row = _row(f5=S)
    for parse, text, line, column in [
        (parse_esp_sa, row, 1, row.index(S)),
        (parse_xfrm, XFRM_HEAD + f"\tenc cbc(aes) 0x{H}\n", 3, 15),
        (parse_xfrm, XFRM_HEAD + f"\tauth-trunc xcbc(aes) 0x{H} 96\n\tenc cbc(aes) 0x{K16}",
         3, 23),
        (parse_tcpdump_spec, f"0x10@192.0.2.1 blowfish-cbc:{S[:3]}", 1, 29),
    ]:
        with pytest.raises(KeyFileError) as e:
            parse(text, "k")
        assert (e.value.line, e.value.column) == (line, column), (text, str(e.value))
        assert "needs a key" in str(e.value)


def test_included_files_and_file_names(tmp_path: Path) -> None:
    # An error inside an included file names that file, its line and column.
    inner = tmp_path / "inner.secrets"
    inner.write_text(f"# inner\n0x10@192.0.2.1 {S}:aes128-cbc\n")
    outer = tmp_path / "outer.secrets"
    outer.write_text(f"file {inner}\n")
    with pytest.raises(KeyFileError) as e:
        load_key_file(outer)
    assert (e.value.where, e.value.line, e.value.column) == (str(inner), 2, 16)
    assert not leaks(str(e.value))
    # A missing include is not named: its name is on a key line.
    with pytest.raises(KeyFileError) as e:
        parse_tcpdump_spec(f"file {tmp_path / S}")
    assert str(e.value).startswith("-E:1: column 6: cannot read the included file")
    assert not leaks(str(e.value))


@pytest.mark.parametrize("fmt,template", CASES[::3])
def test_no_key_file_error_through_the_cli_repeats_the_secret(tmp_path: Path, fmt: str,
                                                              template: str) -> None:
    keys = tmp_path / f"keys.{fmt}"
    keys.write_text("# keys\n" + template.replace("{s}", S) + "\n")
    code, out = run_cli(["analyze", str(SEED), "-k", str(keys), "--format", "json"])
    assert code == 2 and f"nhrpscope: error: {keys}:" in out, out
    assert not leaks(out), out


@pytest.mark.parametrize("template", TCPDUMP[::2])
def test_no_spec_error_through_the_cli_repeats_the_secret(template: str) -> None:
    code, out = run_cli(["analyze", str(SEED), "-E", template.replace("{s}", S)])
    assert code == 2 and "nhrpscope: error: -E #1:1: column " in out, out
    assert not leaks(out), out


def test_the_real_command_prints_no_secret(tmp_path: Path) -> None:
    # The installed command, stdout and stderr apart: nothing of the secret in either.
    keys = tmp_path / "keys.esp_sa"
    keys.write_text(_row(f4=S, f5="AES-CBC [RFC3602]") + "\n")
    for args in (["-k", str(keys)], ["-E", f"0x10@192.0.2.1 {S}:aes128-cbc"]):
        r = subprocess.run([sys.executable, "-c", "from nhrpscope.cli import main; main()",
                            "analyze", str(SEED), *args], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 2, r.stderr
        assert re.match(r"nhrpscope: error: .+:1: column \d+: ", r.stderr), r.stderr
        assert not leaks(r.stdout) and not leaks(r.stderr), (r.stdout, r.stderr)
