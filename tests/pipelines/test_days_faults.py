"""The days demo's fault files: a damaged copy changes only its middle stretch (and is padded, so its fingerprint
is its own); a cut copy is the file's head; a demo folder that was never made is a one-line error."""

from pipelines.days_faults import cut_copy, damaged_copy, main


def test_a_damaged_copy_changes_only_its_middle_stretch(tmp_path):
    src = tmp_path / "a.mp4"
    src.write_bytes(bytes(range(256)) * 40)
    out = damaged_copy(src, tmp_path / "b.mp4", stretch=1000)
    a, b = src.read_bytes(), out.read_bytes()
    changed = [i for i in range(len(a)) if a[i] != b[i]]
    assert changed and len(a) // 2 <= changed[0] and changed[-1] < len(a) // 2 + 1000
    assert b[len(a) :] == bytes(len(b) - len(a)) and len(b) > len(a)  # padded: its own fingerprint
    assert not list(tmp_path.glob(".*.part"))  # written atomically


def test_a_cut_copy_is_the_files_head(tmp_path):
    src = tmp_path / "a.mp4"
    src.write_bytes(b"x" * 1000)
    assert cut_copy(src, tmp_path / "c.mp4", share=0.6).read_bytes() == b"x" * 600


def test_without_a_days_demo_it_says_what_to_run(tmp_path, capsys):
    assert main(["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "python -m pipelines.days_demo" in err and len(err.strip().splitlines()) == 1
