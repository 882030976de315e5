"""The verbs board probe and board restore: what a board's kernel exposes; undoing a killed run."""

from __future__ import annotations

import argparse
import sys
import warnings

from dynscale._options import add_board_flag
from dynscale._output import add_json_flag, format_table, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``board probe`` and ``board restore``."""
    board = subparsers.add_parser("board", help="probe a board's DVFS, power rails and thermal zones")
    verbs = board.add_subparsers(dest="board_verb", metavar="VERB")
    verbs.required = True

    probe = verbs.add_parser("probe", help="list PEs (cpus, frequencies, governors), rails, thermal zones, "
                             "and every file missing or not permitted")
    add_board_flag(probe)
    probe.add_argument("--sysfs-root", default="/", help="directory playing '/' (a copied or fake tree)")
    probe.add_argument("--monitor-only", action="store_true", help="never write (read-only probe)")
    add_json_flag(probe)
    probe.set_defaults(handler=_probe)

    restore = verbs.add_parser("restore", help="put back every file a killed run changed (from its journal)")
    restore.add_argument("--journal", help="the journal file (default: that of --sysfs-root)")
    restore.add_argument("--sysfs-root", default="/", help="tree whose default journal to use")
    restore.set_defaults(handler=_restore)


def _probe(args: argparse.Namespace) -> int:
    from hw_agents import open_board

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        board = open_board(args.board, sysfs_root=args.sysfs_root, monitor_only=args.monitor_only)
    for warning in caught:
        print(f"dynscale: warning: {warning.message}", file=sys.stderr)
    report = board.probe()
    _note_other_machine(board)
    if args.json:
        print_json(report.as_dict())
        return 0
    monitor = "yes" if report.monitor_only else "no"
    print(f"board {report.board} (sysfs root {report.sysfs_root}); monitor-only: {monitor}; "
          f"power sensors refresh every {report.sensor_period_s:g} s")
    print("\nPEs")
    print(format_table([{"pe": p.name, "kind": p.kind, "cpus": _cpus(p.cpus),
                         "freqs_mhz": _freqs(p.freqs_mhz), "governor": p.governor or "-",
                         "freq_control": p.freq_control or "-"} for p in report.pes]))
    print("\nrails")
    print(format_table([{"rail": r.name, "pe": r.pe or "-", "power_w": r.power_w if r.power_w is not None
                         else float("nan"), "file": r.path} for r in report.rails]))
    print("\nthermal zones")
    print(format_table([{"type": z.type, "temp_c": z.temp_c if z.temp_c is not None else float("nan"),
                         "file": z.path} for z in report.thermal_zones]))
    print("\nmissing or not permitted")
    print("\n".join(f"  {path}: {why}" for path, why in report.missing) or "  (nothing)")
    return 0


def _note_other_machine(board) -> None:
    """Say so (stderr) when the shipped platform of this board's name is another machine's table."""
    from hw_agents.machine import other_machine, other_machine_line
    from platform_models import load_platform, shipped_platforms

    if board.name in shipped_platforms():
        platform = load_platform(board.name)
        differences = other_machine(board, platform)
        if differences:
            print(f"dynscale: note: {other_machine_line(board, platform, differences)}", file=sys.stderr)


def _restore(args: argparse.Namespace) -> int:
    from hw_agents._restore import default_journal_path, restore_journal

    journal = args.journal or default_journal_path(args.sysfs_root)
    n_files, failures = restore_journal(journal)
    for path, why in failures:
        print(f"dynscale: error: {path}: not restored: {why}", file=sys.stderr)
    if failures:
        return 2
    print(f"restored {n_files} files from {journal}")
    return 0


def _cpus(cpus: tuple[int, ...]) -> str:
    return f"{cpus[0]}-{cpus[-1]}" if cpus and list(cpus) == list(range(cpus[0], cpus[-1] + 1)) else (
        ",".join(map(str, cpus)) or "-")


def _freqs(freqs_mhz: tuple[float, ...]) -> str:
    shown = [f"{f:g}" for f in freqs_mhz]
    if len(shown) <= 6:
        return " ".join(shown)
    return f"{' '.join(shown[:3])} .. {' '.join(shown[-2:])} ({len(shown)})"
