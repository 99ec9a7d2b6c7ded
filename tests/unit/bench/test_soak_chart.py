"""The soak chart draws a result's RSS/CPU series; a broken result file is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

from bench.soak_chart import main

RESULT = {
    "mode": "full",
    "devices": 2000,
    "duration_s": 600,
    "timing": {"interfaces_s": 300},
    "chaos": [{"kind": "kill_central", "at_s": 120.0, "down_s": 30.0, "recovered_after_s": 61.0}],
    "resources": {
        role: {
            "rss_mb_by_minute": {str(m): 200.0 + m for m in range(10)},
            "cpu_pct_by_minute": {str(m): 10.0 for m in range(10)},
            "rss_steady_from_s": 300.0,
        }
        for role in ("central", "district", "snmpsim-0")
    },
}


def test_chart_is_a_png_of_the_result(tmp_path: Path) -> None:
    source, out = tmp_path / "soak.json", tmp_path / "soak.png"
    source.write_text(json.dumps(RESULT), encoding="utf-8")
    assert main([str(source), str(out)]) == 0
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


def test_unreadable_result_names_the_file(tmp_path: Path, capsys) -> None:
    source = tmp_path / "broken.json"
    source.write_text("{not json", encoding="utf-8")
    assert main([str(source), str(tmp_path / "x.png")]) == 2
    assert str(source) in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
