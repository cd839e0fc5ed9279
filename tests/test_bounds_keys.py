"""Issue 13, key-file includes: one key source's ``file PATH`` includes
have a total budget in files and bytes (8 files of 2.3 KB, each including
the next 10 times, ran past 120 s)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _limits import check_exit, run_cli, time_limit

from nhrpscope import keys
from nhrpscope.keys import files as key_files

SECRET = "0x" + "5ec7e7" * 5 + "ab"  # a distinctive 16-byte key
KEY_LINE = f"0x100@10.0.0.1 aes128-cbc:{SECRET}\n"


def fan_out(tmp_path: Path, levels: int = 8, fan: int = 10) -> Path:
    """k0 includes k1 ``fan`` times, k1 includes k2 ..., the last holds a key;
    each about 2.3 KB."""
    pad = "# " + "x" * 76 + "\n"
    for i in range(levels):
        body = f"file {tmp_path / f'k{i + 1}.secrets'}\n" * fan if i < levels - 1 else KEY_LINE
        (tmp_path / f"k{i}.secrets").write_text(pad * 20 + body)
    return tmp_path / "k0.secrets"


def test_includes_that_fan_out_stop_at_the_file_budget(tmp_path):
    top = fan_out(tmp_path)
    assert 2000 < top.stat().st_size < 2600
    with time_limit(5, "8 files each including the next 10 times"):
        with pytest.raises(keys.KeyFileError) as e:
            keys.load_key_file(top)
    msg = str(e.value)
    assert "\n" not in msg and f"more than {key_files.MAX_INCLUDED_FILES} files in all" in msg
    assert msg.startswith(str(tmp_path / "k")) and ".secrets:" in msg  # the including file and line
    assert SECRET[2:] not in msg
    code, out = run_cli(["decode", "-k", str(top), str(top)], 10)
    check_exit(code, out, "decode -k")
    assert code == 2 and "files in all" in out and SECRET[2:] not in out


def test_the_budget_counts_bytes_too(tmp_path, monkeypatch):
    monkeypatch.setattr(key_files, "MAX_INCLUDED_BYTES", 10_000)
    part = tmp_path / "part.secrets"
    part.write_text("# " + "y" * 2997 + "\n" + KEY_LINE)  # about 3 KB
    top = tmp_path / "top.secrets"
    top.write_text(f"file {part}\n" * 5)
    with pytest.raises(keys.KeyFileError) as e:
        keys.load_key_file(top)
    # the fourth include brings the total past 10,000 bytes
    assert str(e.value) == f"{top}:4: column 6: the secrets files include more than 10,000 bytes in all"


def test_a_tcpdump_spec_shares_one_budget(tmp_path):
    """``-E "file A,file A,..."``: the items of one spec share the budget."""
    top = fan_out(tmp_path, levels=3, fan=3)  # 1 + 3 + 9 = 13 reads per spec item
    spec = ",".join([f"file {top}"] * 10)
    with time_limit(5, "-E spec"), pytest.raises(keys.KeyFileError) as e:
        keys.parse_tcpdump_spec(spec)
    assert "files in all" in str(e.value)


def test_each_key_source_has_its_own_budget(tmp_path):
    top = fan_out(tmp_path, levels=3, fan=3)  # 12 includes: within the budget
    for _ in range(key_files.MAX_INCLUDED_FILES // 12 + 2):  # together past it
        sas = keys.load_key_file(top)
        assert len(sas) == 9 and all(sa.spi == 0x100 for sa in sas)
