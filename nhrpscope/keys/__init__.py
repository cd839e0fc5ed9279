"""Key material → ESP Security Associations, and back.

One module per source format, its parser and its writer side by side; each
parses into ``SecurityAssociation`` objects (defined in ``dissectors.esp``,
which takes them):

- ``tcpdump``: tcpdump's ``-E`` syntax (``parse_tcpdump_spec``) and secrets
  files (``parse_tcpdump_secrets``); ``format_tcpdump_secrets``.
- ``esp_sa``: Wireshark's (and strongSwan save-keys') ``esp_sa`` rows
  (``parse_esp_sa``); ``format_esp_sa``.
- ``xfrm``: ``ip xfrm state`` output, also ``ip -o`` (``parse_xfrm``);
  ``format_xfrm``.
- ``load``: any of them, told apart (``detect_format``, ``parse_key_text``,
  ``load_key_file``), and pcapng Decryption Secrets Blocks of type
  ``DSB_ESP_SA`` (``parse_dsb``, ``read_pcapng_secrets``).
- ``database``: ``SADatabase``, the SAs indexed for lookup.

Writers produce text that parses back to equal SAs, or raise ValueError for
what a format cannot say (``lossy=True`` drops what does not fit instead, as
comments). Errors are ``KeyFileError`` (``errors``), naming the file, the
line (for ``-E`` the item number) and the column, and quoting nothing of a
key line but the formats' own words.
"""

from __future__ import annotations

from .database import SADatabase
from .errors import KeyFileError
from .esp_sa import WIRESHARK_AUTHENTICATION, WIRESHARK_ENCRYPTION, format_esp_sa, parse_esp_sa
from .load import (
    DSB_ESP_SA,
    detect_format,
    load_key_file,
    parse_dsb,
    parse_key_text,
    read_pcapng_secrets,
)
from .tcpdump import format_tcpdump_secrets, parse_tcpdump_secrets, parse_tcpdump_spec
from .xfrm import XFRM_AEAD, XFRM_AUTH, XFRM_ENCRYPTION, format_xfrm, parse_xfrm

__all__ = [
    "DSB_ESP_SA",
    "KeyFileError",
    "SADatabase",
    "parse_tcpdump_spec",
    "parse_tcpdump_secrets",
    "parse_esp_sa",
    "parse_xfrm",
    "parse_key_text",
    "detect_format",
    "load_key_file",
    "parse_dsb",
    "read_pcapng_secrets",
    "format_esp_sa",
    "format_tcpdump_secrets",
    "format_xfrm",
    "WIRESHARK_ENCRYPTION",
    "WIRESHARK_AUTHENTICATION",
    "XFRM_ENCRYPTION",
    "XFRM_AEAD",
    "XFRM_AUTH",
]
