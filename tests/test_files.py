"""files: atomic writes that keep what the user had -- permission bits, owner, symlinks,
long names -- clean up after killed writers, and name the user's file in every error."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import textwrap
import threading

import pytest

from micrograd_ann import files
from micrograd_ann.files import atomic_writer, write_atomic

POSIX = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions, links and locks")


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _replaced_from(monkeypatch) -> list[str]:
    """Records the source of every os.replace() the code under test makes."""
    sources: list[str] = []
    real = os.replace

    def replace(src, dst):
        sources.append(os.fspath(src))
        real(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    return sources


# ------------------------------------------------------------------ what is written


def test_str_is_written_as_utf8_with_newlines_as_they_are(tmp_path):
    path = tmp_path / "out.svg"
    assert write_atomic(path, "<svg>\r\nπ\n</svg>") == str(path)
    assert path.read_bytes() == "<svg>\r\nπ\n</svg>".encode("utf-8")
    assert os.listdir(tmp_path) == ["out.svg"]


def test_bytes_and_a_file_object_replace_the_old_content(tmp_path):
    path = tmp_path / "plot.png"
    write_atomic(str(path), b"old content, longer than the new one")
    write_atomic(path, b"\x89PNG")
    assert path.read_bytes() == b"\x89PNG"
    with atomic_writer(path) as file:
        file.write("a\nb")
    assert path.read_bytes() == b"a\nb"


def test_only_str_or_bytes_are_written(tmp_path):
    with pytest.raises(TypeError, match="str or bytes, got int"):
        write_atomic(tmp_path / "x", 3)
    assert os.listdir(tmp_path) == []


def test_text_that_cannot_be_encoded_changes_nothing(tmp_path):
    path = tmp_path / "page.html"
    path.write_text("old")
    with pytest.raises(ValueError, match=rf"cannot write '{path}': the text has '\\ud800' at "
                                         r"position 2, which utf-8 cannot encode"):
        write_atomic(path, "ab\ud800cd")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["page.html"]


# --------------------------------------------------------------- what the user had


@POSIX
def test_a_new_file_gets_the_mode_open_would_give(tmp_path):
    write_atomic(tmp_path / "new.json", "{}")
    assert _mode(tmp_path / "new.json") == 0o666 & ~_umask()


@POSIX
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664, 0o755])
def test_writing_over_a_file_keeps_its_permission_bits(tmp_path, mode):
    path = tmp_path / "model.json"
    path.write_text("old")
    path.chmod(mode)
    write_atomic(path, "new")
    assert (path.read_text(), _mode(path)) == ("new", mode)


@POSIX
def test_writing_over_a_read_only_file_is_refused_as_open_would(tmp_path, monkeypatch):
    path = tmp_path / "model.json"
    path.write_text("old")
    path.chmod(0o444)
    if os.geteuid() == 0:  # root may write anything; pretend to be a user
        monkeypatch.setattr(files.os, "access", lambda p, mode: False)
    with pytest.raises(PermissionError) as info:
        write_atomic(path, "new")
    assert info.value.filename == str(path)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["model.json"]


@POSIX
@pytest.mark.skipif(os.name == "posix" and os.geteuid() != 0, reason="only root gives files away")
def test_writing_over_a_file_keeps_its_owner_and_group(tmp_path):
    path = tmp_path / "model.json"
    path.write_text("old")
    os.chown(path, 12345, 23456)
    write_atomic(path, "new")
    assert (os.stat(path).st_uid, os.stat(path).st_gid) == (12345, 23456)


@POSIX
def test_writing_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path):
    real = tmp_path / "store" / "model.json"
    real.parent.mkdir()
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(os.path.join("store", "model.json"))  # relative, as users make them
    write_atomic(link, "new")
    assert link.is_symlink() and os.readlink(link) == os.path.join("store", "model.json")
    assert (real.read_text(), _mode(real)) == ("new", 0o640)
    assert sorted(os.listdir(tmp_path)) == ["link.json", "store"]
    assert os.listdir(real.parent) == ["model.json"]


@POSIX
def test_a_dangling_symlink_gets_its_target_created(tmp_path):
    (tmp_path / "link.json").symlink_to("made.json")
    write_atomic(tmp_path / "link.json", "new")
    assert (tmp_path / "made.json").read_text() == "new"
    assert (tmp_path / "link.json").is_symlink()


@pytest.mark.parametrize("name", ["a" * 250 + ".json", "é" * 125 + ".json", "x"],
                         ids=["ascii_255_bytes", "utf8_255_bytes", "short"])
def test_a_long_legal_name_works_and_the_temporary_name_is_no_longer(tmp_path, monkeypatch,
                                                                     name):
    sources = _replaced_from(monkeypatch)
    write_atomic(tmp_path / name, "data")
    assert (tmp_path / name).read_text() == "data"
    temp = os.fsencode(os.path.basename(sources[0]))
    assert len(temp) <= max(len(os.fsencode(name)), 64)
    assert os.path.dirname(sources[0]) == str(tmp_path)  # same directory: a rename, no copy


def test_special_targets_are_not_replaced(tmp_path):
    (tmp_path / "out").mkdir()
    for where in (tmp_path / "out", str(tmp_path / "model.json") + os.sep, ""):
        with pytest.raises(OSError) as info:
            write_atomic(where, "x")
        assert info.value.filename == os.fspath(where)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe")
        with pytest.raises(OSError, match="not a regular file, so it is not replaced"):
            write_atomic(tmp_path / "pipe", "x")
        assert stat.S_ISFIFO(os.stat(tmp_path / "pipe").st_mode)
    assert sorted(os.listdir(tmp_path)) == ["out", "pipe"][: 2 if hasattr(os, "mkfifo") else 1]


# ------------------------------------------------------------------------- failures


def test_an_error_inside_the_block_leaves_the_old_file_and_names_the_users_file(tmp_path):
    path = tmp_path / "loss.svg"
    path.write_text("old")
    with pytest.raises(OSError) as info:
        with atomic_writer(path) as file:
            file.write("half of the new")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert info.value.filename == str(path)
    assert str(info.value) == f"[Errno 28] No space left on device: '{path}'"
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["loss.svg"]


def test_other_exceptions_and_other_files_errors_pass_through_unchanged(tmp_path):
    path = tmp_path / "plot.png"
    with pytest.raises(KeyError):
        with atomic_writer(path, binary=True):
            raise KeyError("x")
    with pytest.raises(FileNotFoundError) as info:
        with atomic_writer(path, binary=True):
            open(tmp_path / "font.ttf")  # noqa: SIM115 - a failure about another file
    assert info.value.filename == str(tmp_path / "font.ttf")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_a_failed_step_names_the_users_file_never_the_temporary_one(tmp_path, monkeypatch,
                                                                   step):
    path = tmp_path / "model.json"
    path.write_text("old")

    def fail(*args):  # as the real ones fail: replace names the temporary file, fsync none
        raise OSError(errno.EIO, "Input/output error", *args[:1] if step == "replace" else ())

    monkeypatch.setattr(files.os, step, fail)
    with pytest.raises(OSError) as info:
        write_atomic(path, "new")
    monkeypatch.undo()
    assert (info.value.filename, info.value.filename2) == (str(path), None)
    assert ".tmp" not in str(info.value)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["model.json"]


def test_a_missing_directory_is_file_not_found_naming_the_users_file(tmp_path):
    where = str(tmp_path / "no" / "model.json")
    with pytest.raises(FileNotFoundError) as info:
        write_atomic(where, "x")
    assert info.value.filename == where and ".tmp" not in str(info.value)


# ------------------------------------------------------- other writers, killed writers

_WRITER = textwrap.dedent("""
    import os, signal, sys
    from micrograd_ann.files import atomic_writer
    with atomic_writer(sys.argv[1]) as file:
        file.write(sys.argv[2])
        file.flush()
        print("writing", flush=True)
        if sys.argv[3] == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        sys.stdin.readline()  # wait until the test says go on
""")


def _writer(path, text: str, then: str) -> subprocess.Popen:
    """A process inside atomic_writer(path), its text written; it dies or waits for stdin."""
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), text, then],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "writing\n"
    return proc


def _temps(directory) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(".tmp"))


@POSIX
def test_the_next_write_removes_a_killed_writers_temporary_file(tmp_path):
    path = tmp_path / "model.json"
    path.write_text("old")
    (tmp_path / ".model.json.backup").write_text("mine")  # not a temporary file: kept
    (tmp_path / ".other.json.0123abcd.tmp").write_text("another file's: kept")
    proc = _writer(path, "never finished", "die")
    assert proc.wait(10) == -9
    assert len(_temps(tmp_path)) == 2 and path.read_text() == "old"
    write_atomic(path, "new")
    assert path.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == [".model.json.backup", ".other.json.0123abcd.tmp",
                                            "model.json"]


@POSIX
def test_a_live_writers_temporary_file_is_left_alone(tmp_path):
    path = tmp_path / "model.json"
    proc = _writer(path, "slow", "wait")
    try:
        [theirs] = _temps(tmp_path)
        write_atomic(path, "fast")
        assert path.read_text() == "fast" and _temps(tmp_path) == [theirs]
    finally:
        proc.communicate("go on\n", timeout=10)
    assert proc.returncode == 0
    assert path.read_text() == "slow" and os.listdir(tmp_path) == ["model.json"]


def test_readers_never_see_a_torn_file_while_two_threads_write(tmp_path):
    path = tmp_path / "loss.svg"
    versions = [bytes([65 + i]) * 200_000 for i in range(2)]
    write_atomic(path, versions[0])
    seen: set[bytes] = set()
    errors: list[BaseException] = []

    def write(version: bytes) -> None:
        try:
            for _ in range(40):
                write_atomic(path, version)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(v,)) for v in versions]
    for thread in writers:
        thread.start()
    while any(thread.is_alive() for thread in writers):
        seen.add(path.read_bytes())
    for thread in writers:
        thread.join()
    assert not errors, errors
    assert seen <= set(versions)
    assert os.listdir(tmp_path) == ["loss.svg"]
