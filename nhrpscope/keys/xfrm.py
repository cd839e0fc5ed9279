"""``ip xfrm state`` output (also ``ip -o`` and ``ip -s``), parser and
writer. Non-ESP states are skipped."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator

from nhrpscope.dissectors.esp import SecurityAssociation
from nhrpscope.dissectors.esp_algorithms import ENCRYPTION

from .errors import KeyFileError, at_column, guard, known_words, show
from .fields import Position, addr_field, c_ulong, hex_key, make_sa, unfit

XFRM_ENCRYPTION = {
    "cbc(aes)": "aes-cbc",
    "cbc(des3_ede)": "3des-cbc",
    "cbc(des)": "des-cbc",
    "rfc3686(ctr(aes))": "aes-ctr",
    "cbc(blowfish)": "blowfish-cbc",
    "cbc(cast5)": "cast5-cbc",
    "cbc(camellia)": "camellia-cbc",
    "ecb(cipher_null)": "null",
}
_XFRM_ENC_ALIASES = {
    "aes": "aes-cbc", "des3_ede": "3des-cbc", "des": "des-cbc", "blowfish": "blowfish-cbc",
    "cast5": "cast5-cbc", "camellia": "camellia-cbc", "cipher_null": "null",
}
XFRM_AEAD = {
    ("rfc4106(gcm(aes))", 64): "aes-gcm-8",
    ("rfc4106(gcm(aes))", 96): "aes-gcm-12",
    ("rfc4106(gcm(aes))", 128): "aes-gcm-16",
    ("rfc7539esp(chacha20,poly1305)", 128): "chacha20-poly1305",
}
XFRM_AUTH = {
    ("hmac(md5)", 96): "hmac-md5-96",
    ("hmac(sha1)", 96): "hmac-sha1-96",
    ("hmac(sha256)", 96): "hmac-sha256-96",
    ("hmac(sha256)", 128): "hmac-sha256-128",
    ("hmac(sha384)", 192): "hmac-sha384-192",
    ("hmac(sha512)", 256): "hmac-sha512-256",
    ("hmac(rmd160)", 96): "hmac-ripemd160-96",
    ("xcbc(aes)", 96): "aes-xcbc-96",
    ("digest_null", 0): "null",
}
# Linux's ICV truncation when the state was set with "auth" (not "auth-trunc").
_XFRM_AUTH_DEFAULT_BITS = {
    "hmac(md5)": 96, "hmac(sha1)": 96, "hmac(sha256)": 96, "hmac(sha384)": 192,
    "hmac(sha512)": 256, "hmac(rmd160)": 96, "xcbc(aes)": 96, "digest_null": 0,
}
_XFRM_AUTH_ALIASES = {
    "md5": "hmac(md5)", "sha1": "hmac(sha1)", "sha256": "hmac(sha256)",
    "sha384": "hmac(sha384)", "sha512": "hmac(sha512)", "rmd160": "hmac(rmd160)",
}
_XFRM_ENC_OUT = {v: k for k, v in XFRM_ENCRYPTION.items()}
_XFRM_AEAD_OUT = {v: k for k, v in XFRM_AEAD.items()}
_XFRM_AUTH_OUT = {v: k for k, v in XFRM_AUTH.items()}

SA_START = re.compile(r"^\s*src\s+\S+\s+dst\s+\S+")

# The ICV lengths (bits) an error may repeat: any other number might be a key.
_ICV_BITS = {0, 32, 64, 96, 128, 160, 192, 256}

known_words([*XFRM_ENCRYPTION, *_XFRM_ENC_ALIASES, *(n for n, _ in XFRM_AEAD),
             *(n for n, _ in XFRM_AUTH), *_XFRM_AUTH_ALIASES,
             "src", "dst", "proto", "esp", "ah", "comp", "route", "spi", "reqid", "mode",
             "transport", "tunnel", "beet", "replay-window", "flag", "enc", "aead", "auth",
             "auth-trunc", "encap", "espinudp", "sport", "dport", "addr", "sel", "seq-hi"])


def _unquote(t: str) -> str:
    return t[1:-1] if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'" else t


class _XfrmState:
    def __init__(self, line: int, column: int) -> None:
        self.line = line
        self.column = column  # of its "src": where errors about the whole state point
        self.kw: dict[str, object] = {}
        self.proto: str | None = None
        # (algorithm, key, where the key is)
        self.enc: tuple[str, bytes, Position] | None = None
        self.auth: tuple[str, bytes, Position] | None = None
        self.seq_hi = 0
        self.seen_seq_hi = False


def _xfrm_line(st: _XfrmState, tokens: list[str], cols: list[int], where: str,
               line: int) -> None:
    """One line of a state; ``cols`` are the tokens' columns, for errors."""
    head = tokens[0]
    if head == "src":
        if len(tokens) < 4 or tokens[2] != "dst":
            raise KeyFileError(where, line, "expected 'src ADDRESS dst ADDRESS'", cols[0])
        with at_column(where, line, cols[1]):
            st.kw["src"] = addr_field(tokens[1], where, line, "source")
        with at_column(where, line, cols[3]):
            st.kw["dst"] = addr_field(tokens[3], where, line, "destination")
    elif head == "proto":
        st.proto = tokens[1] if len(tokens) > 1 else ""
        # Keyword -> index of its value (a later repeat wins, as in a dict of pairs).
        at = {tokens[j]: j + 1 for j in range(2, len(tokens) - 1, 2)}
        if "spi" in at:
            spi_text = tokens[at["spi"]]
            spi = c_ulong(re.sub(r"\(\d+\)$", "", spi_text))  # "ip -s": 0x100(256)
            if spi is None:
                raise KeyFileError(where, line, f"bad SPI {show(spi_text)}", cols[at["spi"]])
            st.kw["spi"] = spi
        if "mode" in at:
            mode = tokens[at["mode"]]
            st.kw["mode"] = mode if mode in ("transport", "tunnel", "beet") else None
    elif head in ("replay-window", "flag"):
        if "flag" in tokens and "esn" in tokens[tokens.index("flag") + 1 :]:
            st.kw["esn"] = True
    elif head in ("enc", "aead", "auth", "auth-trunc"):
        _xfrm_crypto(st, head, tokens, cols, where, line)
    elif head == "encap":
        pairs = dict(zip(tokens[1::2], tokens[2::2], strict=False))
        try:
            st.kw["encap"] = (int(pairs["sport"]), int(pairs["dport"]))
        except (KeyError, ValueError):
            raise KeyFileError(where, line, "encap needs sport and dport numbers",
                               cols[0]) from None
    elif head == "seq-hi":
        vals = {}
        toks = [t.rstrip(",") for t in tokens]
        for k, v in zip(toks[0::2], toks[1::2], strict=False):
            n = c_ulong(v)
            if n is not None:
                vals[k] = n
        st.seq_hi = max(vals.get("seq-hi", 0), vals.get("oseq-hi", 0))
        st.seen_seq_hi = True
    # Anything else (sel, lifetime, stats, anti-replay context, mark, if_id,
    # offload, dir ...) says nothing about keys.


def _xfrm_crypto(st: _XfrmState, head: str, tokens: list[str], cols: list[int], where: str,
                 line: int) -> None:
    """``enc NAME 0xKEY``, ``aead NAME 0xKEY BITS``, ``auth NAME 0xKEY``,
    ``auth-trunc NAME 0xKEY BITS`` (``ip -s`` adds "(n bits)" after a key)."""
    if len(tokens) < 2:
        raise KeyFileError(where, line, f"'{head}' needs an algorithm and a key", cols[0])
    name = _unquote(tokens[1]).lower()
    rest = [_unquote(t) for t in tokens[2:]]
    at = 2  # index in tokens of rest[0]: where an error about it points
    key = b""
    key_at = (line, cols[at] if rest else cols[0])
    if rest and rest[0][:2].lower() == "0x":
        with at_column(where, line, cols[at]):
            key = hex_key(rest.pop(0), where, line, f"the {head} key")
        at += 1
    elif rest and head in ("enc", "auth"):
        raise KeyFileError(where, line, f"the {head} key is not 0x-hex", cols[at])
    if len(rest) >= 2 and re.fullmatch(r"\(\d+", rest[0]) and rest[1] == "bits)":
        del rest[:2]  # "ip -s" adds the key length: "(128 bits)"
        at += 2
    bits = None
    if head in ("aead", "auth-trunc"):
        # At most 4 ASCII digits: a key written without its 0x must not be
        # taken for the bit count.
        if not rest or not (rest[0].isascii() and rest[0].isdigit()) or len(rest[0]) > 4:
            raise KeyFileError(where, line, f"'{head}' needs the ICV length in bits",
                               cols[at] if rest else cols[0])
        bits = int(rest[0])
    if head == "enc":
        algo = XFRM_ENCRYPTION.get(name) or _XFRM_ENC_ALIASES.get(name)
        if algo is None:
            raise KeyFileError(where, line, f"unsupported encryption {show(name)}", cols[1])
        st.enc = (algo, key, key_at)
    elif head == "aead":
        algo = XFRM_AEAD.get((name, bits or 0))
        if algo is None:
            raise KeyFileError(where, line, f"unsupported aead {show(name)} with {_icv(bits)}",
                               cols[1])
        st.enc = (algo, key, key_at)
    else:
        name = _XFRM_AUTH_ALIASES.get(name, name)
        given = bits is not None
        if bits is None:
            bits = _XFRM_AUTH_DEFAULT_BITS.get(name, -1)
        algo = XFRM_AUTH.get((name, bits))
        if algo is None:
            why = f"unsupported authentication {show(name)}"
            if given:
                why += f" truncated to {bits} bits" if bits in _ICV_BITS else " truncated so"
            raise KeyFileError(where, line, why, cols[1])
        st.auth = (algo, key, key_at)


def _icv(bits: int | None) -> str:
    """An ICV length from the line, for an error: only a usual one is said."""
    return f"{bits}-bit ICV" if bits in _ICV_BITS else "an unusual ICV length"


def _xfrm_finish(st: _XfrmState, where: str) -> SecurityAssociation | None:
    if st.proto != "esp":
        return None  # AH, IPComp, ... are not ESP SAs
    if "spi" not in st.kw:
        raise KeyFileError(where, st.line, "ESP state without an SPI", st.column)
    if st.enc is None:
        raise KeyFileError(where, st.line, "ESP state without 'enc' or 'aead'", st.column)
    encryption, key, enc_at = st.enc
    kw: dict[str, object] = {**st.kw, "encryption": encryption, "enc_key": key}
    auth_at = None
    if st.auth is not None:
        if ENCRYPTION[encryption].is_aead and st.auth[0] != "null":
            raise KeyFileError(where, st.line, "ESP state with both 'aead' and 'auth'", st.column)
        kw["integrity"], kw["auth_key"], auth_at = st.auth
    if st.seen_seq_hi:
        kw["seq_hi"] = st.seq_hi
    with at_column(where, st.line, st.column):
        return make_sa(where, st.line, kw, enc_at=enc_at, auth_at=auth_at)


def parse_xfrm(text: str, where: str = "xfrm") -> list[SecurityAssociation]:
    """``ip xfrm state`` (or ``ip -o xfrm state``) output. Non-ESP states
    are skipped."""
    out: list[SecurityAssociation] = []
    st: _XfrmState | None = None
    for i, start, raw in _parts(text):
        found = list(re.finditer(r"\S+", raw))
        tokens = [m.group() for m in found]
        cols = [start + m.start() + 1 for m in found]
        if not tokens or tokens[0].startswith("#"):
            continue
        if SA_START.match(raw):
            if st is not None:
                sa = _xfrm_finish_guarded(st, where)
                if sa is not None:
                    out.append(sa)
            st = _XfrmState(i, cols[0])
        if st is None:
            raise KeyFileError(where, i, "expected 'src ADDRESS dst ADDRESS' to start a state",
                               cols[0])
        guard(where, i, functools.partial(_xfrm_line, st, tokens, cols, where, i))
    if st is not None:
        sa = _xfrm_finish_guarded(st, where)
        if sa is not None:
            out.append(sa)
    return out


def _parts(text: str) -> Iterator[tuple[int, int, str]]:
    """(line number, offset in the line, text) of each line, and of each
    part of a line: ``ip -o`` joins a state's lines with "\\" + tab."""
    for i, line in enumerate(text.splitlines(), 1):
        pos = 0
        for m in re.finditer(r"\\(?=[ \t]|$)", line):
            yield i, pos, line[pos : m.start()]
            pos = m.end()
        yield i, pos, line[pos:]


def _xfrm_finish_guarded(st: _XfrmState, where: str) -> SecurityAssociation | None:
    try:
        return _xfrm_finish(st, where)
    except KeyFileError:
        raise
    except Exception as e:  # noqa: BLE001
        raise KeyFileError(where, st.line, f"cannot use this state ({type(e).__name__})",
                           st.column) from None


# The writer ---------------------------------------------------------------------


def format_xfrm(sas: Iterable[SecurityAssociation], *, lossy: bool = False) -> str:
    """``ip xfrm state`` style text (what ``parse_xfrm`` reads back)."""
    out: list[str] = []
    for sa in sas:
        if sa.spi is None or sa.src is None or sa.dst is None:
            unfit(sa, "xfrm", "a state needs SPI, source and destination", lossy, out)
            continue
        if sa.integrity == "unknown":
            unfit(sa, "xfrm", "the integrity key is unknown", lossy, out)
            continue
        enc = ENCRYPTION[sa.encryption]
        if enc.is_aead:
            name = _XFRM_AEAD_OUT.get(sa.encryption)
            if name is None:
                unfit(sa, "xfrm", f"Linux has no {sa.encryption}", lossy, out)
                continue
            crypto = [f"\taead {name[0]} 0x{sa.enc_key.hex()} {name[1]}"]
        else:
            auth = _XFRM_AUTH_OUT.get(sa.integrity)
            crypto = []
            if auth is not None and sa.integrity != "null":
                crypto.append(f"\tauth-trunc {auth[0]} 0x{(sa.auth_key or b'').hex()} {auth[1]}")
            crypto.append(f"\tenc {_XFRM_ENC_OUT[sa.encryption]} 0x{sa.enc_key.hex()}")
        out.append(f"src {sa.src} dst {sa.dst}")
        mode = f" mode {sa.mode}" if sa.mode else ""
        out.append(f"\tproto esp spi 0x{sa.spi:08x} reqid 0{mode}")
        out.append("\treplay-window 32 flag af-unspec" + (" esn" if sa.esn else ""))
        out.extend(crypto)
        if sa.encap is not None:
            out.append(f"\tencap type espinudp sport {sa.encap[0]} dport {sa.encap[1]} "
                       "addr 0.0.0.0")
        if sa.esn and sa.seq_hi is not None:
            out.append("\tanti-replay esn context:")
            out.append(f"\t seq-hi 0x{sa.seq_hi:x}, seq 0x0, oseq-hi 0x0, oseq 0x0")
    return "\n".join(out) + "\n"
