"""``dynscale platform show|validate|derive`` as a user runs them: output, files, exit codes."""

from __future__ import annotations

import json
import shutil

import pytest

from dynscale.cli import main
from platform_models import store
from tests.support import DATA, TINY


def test_show_json_has_provenance_dynamic_range_and_pareto(capsys, tmp_path):
    png = tmp_path / "front.png"
    assert main(["platform", "show", "odroid-xu3", "--json", "--png", str(png)]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["provenance"] == "derived"
    assert set(payload["dynamic_range"]) >= {"time_groups", "energy_groups", "time_all", "energy_all"}
    assert payload["dynamic_range"]["time_all"] > payload["dynamic_range"]["time_groups"] > 1.0
    assert [pe["name"] for pe in payload["pes"]] == ["a7", "a15", "gpu"]
    assert [p["groups"] for p in payload["pareto"]["latency"]] == [1, 2, 3, 4]
    assert [(m["pe"], m["c_eff_uw_per_mhz_v2"]) for m in payload["derived_model"]] == [
        ("a7", 90),
        ("a15", 310),
        ("gpu", 1314),
    ]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(tmp_path.iterdir()) == [png]


def test_show_text_labels_the_figures_derived(capsys):
    assert main(["platform", "show", str(TINY)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("platform tiny (DERIVED) from ")
    assert "dynamic range (DERIVED)" in out and "Pareto front, accuracy vs energy (DERIVED)" in out


def test_show_unknown_platform_exits_2_with_one_line(capsys):
    assert main(["platform", "show", "no-such-board"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dynscale: error: no-such-board: no such platform") and err.count("\n") == 1


def test_validate_exit_codes(capsys, tmp_path):
    assert main(["platform", "validate", str(TINY)]) == 0
    assert capsys.readouterr().out.endswith(": valid\n")
    shutil.copy(TINY, tmp_path / "tiny.yaml")
    (tmp_path / "tiny.csv").write_text(
        (DATA / "tiny.csv").read_text().replace("little,500,1,1,41,", "little,500,1,1,-4,")
    )
    assert main(["platform", "validate", str(tmp_path / "tiny.yaml"), "--json"]) == 2
    payload = json.loads(capsys.readouterr().out)
    assert payload["problems"] == [
        f"{tmp_path / 'tiny.csv'}:3: field 'latency_ms_mean': "
        "expected a number >= 1e-06 and <= 6.048e+08, got '-4'",
    ]


@pytest.fixture
def shipped_copy(tmp_path, monkeypatch):
    for name in ("odroid-xu3", "jetson-nano"):
        for suffix in (".yaml", ".csv"):
            shutil.copy(store.DATA_DIR / f"{name}{suffix}", tmp_path / f"{name}{suffix}")
    monkeypatch.setattr(store, "DATA_DIR", tmp_path)
    return tmp_path


def test_derive_check_passes_on_shipped_tables_and_fails_on_an_edited_one(capsys, shipped_copy):
    assert main(["platform", "derive", "--check"]) == 0
    table = shipped_copy / "jetson-nano.csv"
    original = table.read_bytes()
    table.write_bytes(original.replace(b"a57,102,1,1,", b"a57,102,1,1,9", 1))
    assert main(["platform", "derive", "--check", "--json"]) == 2
    capsys.readouterr()
    assert main(["platform", "derive"]) == 0
    assert table.read_bytes() == original
    assert "written" in capsys.readouterr().out
