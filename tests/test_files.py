"""Tests for torchddsp.files: the output rule and atomic replacement."""

import os
from pathlib import Path

import pytest

from torchddsp.files import check_output, write_atomically, write_text_atomically


def test_check_output_refuses_inputs_folders_and_wrong_extensions(tmp_path):
    source = tmp_path / "in.wav"
    source.write_bytes(b"x")
    link = tmp_path / "link.wav"
    link.symlink_to(source)
    for same in (source, tmp_path / "sub" / ".." / "in.wav", link):
        with pytest.raises(ValueError, match="^out: .*also an input"):
            check_output("out", same, inputs=[source])
    (tmp_path / "data").mkdir()
    with pytest.raises(ValueError, match="^out: .*inside the input folder"):
        check_output("out", tmp_path / "data" / "a.wav", inputs=[tmp_path / "data"])
    with pytest.raises(ValueError, match=r"^out: expected a file name ending in \.wav, received '.*x\.WAVE'"):
        check_output("out", tmp_path / "x.WAVE", suffixes=(".wav",))
    with pytest.raises(ValueError, match="^out: expected a file to write, received the folder"):
        check_output("out", tmp_path)
    made = check_output("out", tmp_path / "a" / "b" / "y.WAV", inputs=[source], suffixes=(".wav",))
    assert made.parent.is_dir()


def test_check_output_names_an_unwritable_folder(tmp_path, monkeypatch):
    # Root writes anywhere (CI runs as root), so the refusal is simulated rather than made with chmod.
    monkeypatch.setattr("torchddsp.files.os.access", lambda path, mode: False)
    with pytest.raises(ValueError, match=r"^out: the folder .*locked' is not writable"):
        check_output("out", tmp_path / "locked" / "y.wav")


def test_write_atomically_keeps_the_old_file_and_no_temporary_on_failure(tmp_path):
    target = tmp_path / "state.json"
    write_text_atomically(target, "old")

    def torn(temporary: Path):
        temporary.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_atomically(target, torn)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_write_atomically_keeps_the_extension_and_usual_permissions(tmp_path):
    seen = []
    write_atomically(tmp_path / "a.npy",
                     lambda temporary: (seen.append(temporary.suffix), temporary.write_bytes(b"1")))
    assert seen == [".npy"]
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.npy").stat().st_mode & 0o777 == 0o666 & ~umask


def test_temporaries_of_killed_writes_are_recognised_and_nothing_else(tmp_path):
    import subprocess
    import sys

    from torchddsp.files import remove_temporaries

    # Real leftovers: a process killed inside write_atomically, after its temporary file was created.
    for name in ("a.npy", "manifest.json", "noext"):
        code = (f"import os; from torchddsp.files import write_atomically; "
                f"write_atomically({str(tmp_path / name)!r}, lambda temporary: os._exit(9))")
        assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    made = {p for p in tmp_path.iterdir()}
    assert len(made) == 3 and all(p.name.startswith(".") for p in made)
    keep = ["a.npy", ".hidden", ".a.npy.tmp.npy", "x.abcdefgh.tmp.npy", ".a.npy.ABCDEFGH.tmp.npy"]
    for name in keep:
        (tmp_path / name).write_text("keep")
    (tmp_path / ".dir.abcdefgh.tmp").mkdir()
    assert set(remove_temporaries(tmp_path)) == made
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*keep, ".dir.abcdefgh.tmp"])
    assert remove_temporaries(tmp_path / "missing") == []
