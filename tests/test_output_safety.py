"""Issue 13, "nothing lost": every command that writes a file goes through
``nhrpscope.output``. One test per rule, each through the real command (a
subprocess: file descriptors, links and rlimits are the point), asserting
one line on stderr, exit 2, no traceback, and the old file untouched
(content and inode)."""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from test_replay_build import Cap

from nhrpscope.output import OutputError, OutputFile, OutputSet


def nhrpscope(*args: str, limit_bytes: int | None = None,
              cwd: Path | None = None) -> subprocess.CompletedProcess:
    def cap_file_size() -> None:  # EFBIG past this size: a disk that fills up
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run([sys.executable, "-m", "nhrpscope", *args], capture_output=True,
                          text=True, timeout=120, preexec_fn=cap_file_size, cwd=cwd)


def refused(r: subprocess.CompletedProcess, *words: str) -> None:
    """Exit 2, one line on stderr naming what is wrong, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nhrpscope: error: "), r.stderr
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


class Snapshot:
    """A file's content and inode, to show it was left alone."""

    def __init__(self, p: Path) -> None:
        self.path, self.data, self.ino = p, p.read_bytes(), p.stat().st_ino

    def untouched(self) -> bool:
        return self.path.read_bytes() == self.data and self.path.stat().st_ino == self.ino


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    """A small capture (three spokes registering) to replay and rewrite."""
    c = Cap()
    c.lab()
    return c.write(tmp_path / "in.pcap")


def leftovers(folder: Path) -> list[str]:
    """Temporary files the output routine left behind (must be none)."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# ----------------------------------------------------------------- input as output


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_an_input_is_never_the_merged_output(capture, force):
    before = Snapshot(capture)
    r = nhrpscope("analyze", str(capture), "--write-merged", str(capture), *force)
    refused(r, str(capture), "input")
    assert before.untouched()


def test_an_input_by_another_name_is_still_the_input(capture, tmp_path):
    """Compared by device and inode: a hard link or a symlink is the input."""
    before = Snapshot(capture)
    os.link(capture, tmp_path / "hard.pcap")
    (tmp_path / "soft.pcap").symlink_to(capture)
    for name in ("hard.pcap", "soft.pcap"):
        refused(nhrpscope("decrypt", str(capture), "-o", str(tmp_path / name), "--force"), "input")
    assert before.untouched()


def test_a_key_file_is_an_input_too(capture, tmp_path):
    keys = tmp_path / "k.esp_sa"
    keys.write_text('"IPv4","*","10.0.0.1","0x00000001","NULL","","NULL",""\n')
    before = Snapshot(keys)
    r = nhrpscope("analyze", str(capture), "-k", str(keys), "--write-merged", str(keys), "--force")
    refused(r, "input")
    assert before.untouched()


def test_standard_input_redirected_from_the_output_is_refused(capture):
    before = Snapshot(capture)
    with open(capture, "rb") as fh:
        r = subprocess.run([sys.executable, "-m", "nhrpscope", "decrypt", "-", "-o", str(capture),
                            "--force"], stdin=fh, capture_output=True, text=True, timeout=120)
    refused(r, "input")
    assert before.untouched()


# ----------------------------------------------------------------- existing outputs


def test_an_existing_output_needs_force(capture, tmp_path):
    out = tmp_path / "out.pcap"
    out.write_bytes(b"the user's file")
    before = Snapshot(out)
    for args in (["decrypt", str(capture), "-o", str(out)],
                 ["analyze", str(capture), "--write-merged", str(out)],
                 ["timeline", str(capture), "--write-merged", str(out)]):
        refused(nhrpscope(*args), str(out), "--force")
        assert before.untouched()
    ok = nhrpscope("analyze", str(capture), "--write-merged", str(out), "--force")
    assert ok.returncode == 0, ok.stderr
    assert out.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"  # replaced whole: a pcapng
    assert leftovers(tmp_path) == []


def test_a_symlink_is_replaced_never_written_through(capture, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    before = Snapshot(victim)
    link = tmp_path / "out.pcap"
    link.symlink_to(victim)
    refused(nhrpscope("decrypt", str(capture), "-o", str(link)), "exists")
    r = nhrpscope("decrypt", str(capture), "-o", str(link), "--force")
    assert r.returncode == 0, r.stderr
    assert before.untouched()
    assert not link.is_symlink() and link.read_bytes()[:4] == b"\x4d\x3c\xb2\xa1"


def test_a_dangling_symlink_counts_as_existing(capture, tmp_path):
    target = tmp_path / "nowhere" / "x.pcap"
    link = tmp_path / "lab"
    for suffix in (".pcap", ".truth.json"):
        (tmp_path / f"lab{suffix}").symlink_to(target)
    refused(nhrpscope("generate", "seed-lab", "-o", str(link)), "dangling")
    dang = tmp_path / "d.pcap"
    dang.symlink_to(tmp_path / "elsewhere.pcap")
    refused(nhrpscope("decrypt", str(capture), "-o", str(dang)), "dangling")
    r = nhrpscope("decrypt", str(capture), "-o", str(dang), "--force")
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "elsewhere.pcap").exists() and not dang.is_symlink()


def test_the_users_part_and_temporary_files_are_untouched(capture, tmp_path):
    """The old scheme wrote OUT.part: a user's file of that name (or a link
    there) must never be written or removed."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    before = Snapshot(victim)
    (tmp_path / "out.pcap.part").symlink_to(victim)
    mine = tmp_path / "out.pcap.tmp"
    mine.write_text("mine")
    r = nhrpscope("decrypt", str(capture), "-o", str(tmp_path / "out.pcap"))
    assert r.returncode == 0, r.stderr
    assert before.untouched() and (tmp_path / "out.pcap.part").is_symlink()
    assert mine.read_text() == "mine"
    assert leftovers(tmp_path) == ["out.pcap.tmp"]


# ----------------------------------------------------------------- devices and FIFOs


def test_dev_null_with_force_stays_a_device(capture):
    st = os.stat("/dev/null")
    r = nhrpscope("decrypt", str(capture), "-o", "/dev/null", "--force")
    assert r.returncode == 0, r.stderr
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == st.st_ino


def test_a_fifo_with_force_is_written_to_not_replaced(capture, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = nhrpscope("decrypt", str(capture), "-o", str(fifo), "--force")
    reader.join(30)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    # no ESP: the capture as it was, with nanosecond stamps (same sizes)
    assert got and got[0][:4] == b"\x4d\x3c\xb2\xa1" and len(got[0]) == capture.stat().st_size


# ----------------------------------------------------------------- failures


def test_a_full_disk_leaves_the_old_output(capture, tmp_path):
    """EFBIG (a file size limit) stands for ENOSPC: the write fails midway."""
    big = Cap()
    for i in range(200):
        big.register(1.0 + i, f"172.16.{i // 200}.{i % 200 + 1}", f"192.168.1.{i % 250 + 1}", i)
    src = big.write(tmp_path / "big.pcap")
    out = tmp_path / "out.pcap"
    out.write_bytes(b"old output")
    before = Snapshot(out)
    r = nhrpscope("decrypt", str(src), "-o", str(out), "--force", limit_bytes=4096)
    refused(r, str(out), "too large")
    assert before.untouched() and leftovers(tmp_path) == []
    r = nhrpscope("analyze", str(src), "--write-merged", str(out), "--force", limit_bytes=4096)
    refused(r, str(out))
    assert before.untouched() and leftovers(tmp_path) == []


def test_dev_full_is_one_line(capture):
    refused(nhrpscope("decrypt", str(capture), "-o", "/dev/full", "--force"), "/dev/full", "space")


def test_generate_on_a_full_disk_leaves_nothing_that_blocks_a_rerun(tmp_path):
    r = nhrpscope("generate", "seed-lab", "-o", "lab", limit_bytes=2048, cwd=tmp_path)
    refused(r, "lab.")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    again = nhrpscope("generate", "seed-lab", "-o", "lab", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "lab.pcap").exists() and (tmp_path / "lab.truth.json").exists()


@pytest.mark.parametrize("args, words", [
    (["decrypt", "{cap}", "-o", "{tmp}/missing/dir/x.pcap"], ["missing/dir/x.pcap", "no such folder"]),
    (["decrypt", "{cap}", "-o", "{tmp}/" + "n" * 300], ["name too long"]),
    (["decrypt", "{cap}", "-o", "/"], ["/", "file name"]),
    (["decrypt", "{cap}", "-o", "{tmp}"], ["folder"]),
    (["generate", "seed-lab", "-o", "/"], ["/", "not a folder"]),
    (["generate", "seed-lab", "-o", "{tmp}/missing/lab"], ["missing/lab", "no such folder"]),
    (["analyze", "{cap}", "--write-merged", "{tmp}/missing/m.pcapng"], ["no such folder"]),
    (["analyze", "{cap}", "--write-merged", "-"], ["--write-merged", "standard output"]),
])
def test_unwritable_outputs_are_one_line(capture, tmp_path, args, words):
    r = nhrpscope(*(a.format(cap=capture, tmp=tmp_path) for a in args))
    refused(r, *words)
    assert leftovers(tmp_path) == []


def test_a_long_name_that_fits_is_written(capture, tmp_path):
    """The temporary name must not be what makes a legal name too long."""
    out = tmp_path / ("n" * 250)
    r = nhrpscope("decrypt", str(capture), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size == capture.stat().st_size


def test_dash_is_standard_output(capture):
    r = subprocess.run([sys.executable, "-m", "nhrpscope", "decrypt", str(capture), "-o", "-"],
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout[:4] == b"\x4d\x3c\xb2\xa1" and len(r.stdout) == capture.stat().st_size
    assert r.stderr.decode().startswith("standard output: ")


# ----------------------------------------------------------------- the routine itself


def test_a_failure_inside_the_block_keeps_the_old_file(tmp_path):
    out = tmp_path / "o.bin"
    out.write_bytes(b"old")
    with pytest.raises(RuntimeError), OutputFile(str(out), force=True) as fh:
        fh.write(b"new, half written")
        raise RuntimeError("the reader failed")
    assert out.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_an_output_set_is_all_or_nothing(tmp_path):
    names = [str(tmp_path / n) for n in ("a", "b")]
    with pytest.raises(RuntimeError), OutputSet(names) as outs:
        outs.open(0).write(b"a")
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
    with OutputSet(names) as outs:
        outs.open(0).write(b"a")
        outs.open(1).write(b"b")
    assert [Path(n).read_bytes() for n in names] == [b"a", b"b"]
    with pytest.raises(OutputError, match="exists"):
        OutputSet(names)


def test_a_file_that_appears_meanwhile_is_not_replaced_without_force(tmp_path):
    out = tmp_path / "o.bin"
    target = OutputFile(str(out))
    target.open().write(b"ours")
    out.write_bytes(b"someone else's, written while we worked")
    with pytest.raises(OutputError, match="exists"):
        target.commit()
    assert out.read_bytes() == b"someone else's, written while we worked"
    assert leftovers(tmp_path) == []


def test_a_replaced_file_keeps_its_permissions(capture, tmp_path):
    out = tmp_path / "private.pcap"
    out.write_bytes(b"old")
    out.chmod(0o600)
    r = nhrpscope("decrypt", str(capture), "-o", str(out), "--force")
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and out.read_bytes() != b"old"


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs: a real ENOSPC (needs the right to mount; else skipped)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"cannot mount a small tmpfs: {e}")
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs: {r.stderr.strip() or r.returncode}")
    yield mnt
    subprocess.run(["umount", str(mnt)], capture_output=True, timeout=30)


def test_enospc_on_a_small_disk_leaves_the_old_output(small_disk, tmp_path):
    big = Cap()
    for i in range(600):
        big.register(1.0 + i, f"172.16.{i // 200}.{i % 200 + 1}", f"192.168.1.{i % 250 + 1}", i)
    src = big.write(tmp_path / "big.pcap")
    assert src.stat().st_size > 64 * 1024
    out = small_disk / "out.pcap"
    out.write_bytes(b"old output")
    before = Snapshot(out)
    refused(nhrpscope("decrypt", str(src), "-o", str(out), "--force"), str(out), "no space")
    assert before.untouched() and leftovers(small_disk) == []
    (small_disk / "filler").write_bytes(b"\0" * 56 * 1024)  # what seed-lab needs is not left
    r = nhrpscope("generate", "seed-lab", "-o", str(small_disk / "lab"), "--format", "pcapng",
                  "--explain")
    refused(r, "no space")
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "out.pcap"]


def test_a_capture_is_not_written_to_a_terminal(capture):
    import pty

    leader, follower = pty.openpty()
    try:
        r = subprocess.run([sys.executable, "-m", "nhrpscope", "decrypt", str(capture), "-o", "-"],
                           stdout=follower, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(follower)
        os.close(leader)
    refused(r, "terminal")
