"""A board is always put back: on SIGTERM, SIGINT, an exception, and (through the journal) SIGKILL.

Each signal test runs a real child process that opens a fake tree, changes CPU and GPU clocks and
waits; the parent signals it mid-run and compares a byte snapshot of every file in the tree.
"""

from __future__ import annotations

import signal

import pytest

from dynscale.cli import main
from hw_agents import BoardError, open_board
from hw_agents._restore import restore_journal
from tests.fake_sysfs import make_nano_tree, make_xu3_tree, snapshot
from tests.support import start_child


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("board, make", [("odroid-xu3", make_xu3_tree), ("jetson-nano", make_nano_tree)])
def test_signal_mid_run_restores_every_byte(tmp_path, signum, board, make):
    root = make(tmp_path / "fs")
    before = snapshot(root)
    journal = tmp_path / "journal.json"
    child = start_child(board, root, journal)
    assert snapshot(root) != before
    child.send_signal(signum)
    child.wait(timeout=20)
    # The previous handler ran after the restore: the child died of the signal (SIGINT: Python
    # re-raises an uncaught KeyboardInterrupt as the signal).
    assert child.returncode == -signum
    assert snapshot(root) == before
    assert not journal.exists()


def test_sigterm_chains_to_the_programs_own_handler_after_restoring(tmp_path):
    root = make_xu3_tree(tmp_path / "fs", kernel="5.4")
    before = snapshot(root)
    child = start_child("odroid-xu3", root, tmp_path / "journal.json", "own-handler")
    child.terminate()
    out, _ = child.communicate(timeout=20)
    assert (child.returncode, out) == (3, "own handler ran\n")
    assert snapshot(root) == before


def test_sigkill_is_undone_by_board_restore(tmp_path, capsys):
    root = make_xu3_tree(tmp_path / "fs", kernel="3.10")
    before = snapshot(root)
    journal = tmp_path / "journal.json"
    child = start_child("odroid-xu3", root, journal)
    child.kill()
    child.wait(timeout=20)
    assert snapshot(root) != before and journal.exists()
    assert main(["board", "restore", "--journal", str(journal)]) == 0
    assert snapshot(root) == before
    assert not journal.exists()
    assert "restored" in capsys.readouterr().out


def test_exception_inside_session_restores(tmp_path):
    root = make_nano_tree(tmp_path / "fs")
    before = snapshot(root)
    board = open_board("jetson-nano", sysfs_root=root)
    with pytest.raises(RuntimeError), board.session():
        board.set_frequency("gpu", 921.6)
        board.set_frequency("a57", 102)
        raise RuntimeError("inference failed")
    assert snapshot(root) == before


def test_session_refuses_to_start_over_an_unrestored_journal(tmp_path):
    root = make_nano_tree(tmp_path / "fs")
    board = open_board("jetson-nano", sysfs_root=root)
    board.journal_path.write_text("{}")
    expected = r"journal of an unrestored run exists \(its process is gone\); undo it with `dynscale board"
    with pytest.raises(BoardError, match=expected), board.session():
        pass


def test_restore_of_a_malformed_journal_names_it(tmp_path):
    journal = tmp_path / "journal.json"
    journal.write_text('{"version": 1, "entries": [{"path": "/x"}]}')
    with pytest.raises(BoardError, match=r"journal.json: malformed journal: 'original_hex'$"):
        restore_journal(journal)


def test_journal_lies_beside_a_fake_tree_and_in_the_runtime_dir_for_the_real_root(tmp_path, monkeypatch):
    from hw_agents._restore import default_journal_path

    assert default_journal_path(tmp_path / "fs") == tmp_path / "fs.dynscale-journal.json"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    assert default_journal_path("/").parent == tmp_path / "run"
