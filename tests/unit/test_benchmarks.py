"""The benchmarks' result files and the README's performance table generated from them."""

from __future__ import annotations

import json
import platform
import shutil
from pathlib import Path

import pytest

from benchmarks import record, table, tracker


def test_the_readme_table_is_what_the_result_files_say() -> None:
    readme = table.README.read_text()
    assert table.regenerated(readme) == readme, "run: python -m benchmarks.table"


def test_a_result_records_where_it_was_measured_and_words_its_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(record, "RESULTS", tmp_path)
    figures = {"messages": 1_144_685, "median_per_s": 306_639.0, "runs": [306_639.0] * 5}
    path = record.write("tracker", {"runs": 5}, figures)
    written = json.loads(path.read_text())
    assert path == tmp_path / "tracker.json"
    assert len(written["commit"]) == 40 and isinstance(written["dirty"], bool)
    assert written["arguments"] == {"runs": 5} and written["figures"] == figures
    assert written["cores"] >= 1
    versions = written["versions"]
    assert versions["python"] == platform.python_version()
    assert versions["librdkafka"] and versions["postgresql"] is None  # it measured no database
    assert tracker.row(record.read(path)).figures == (
        "307,000 messages/s (median of 5, 1.1 M messages)"
    )


def test_every_result_file_needs_its_row(tmp_path: Path) -> None:
    for path in record.RESULTS.glob("*.json"):
        shutil.copy(path, tmp_path)
    assert table.table(tmp_path) == table.table()
    (tmp_path / "unheard-of.json").write_text((tmp_path / "tracker.json").read_text())
    with pytest.raises(SystemExit, match=r"no row .* for unheard-of"):
        table.table(tmp_path)
    (tmp_path / "unheard-of.json").unlink()
    (tmp_path / "tracker.json").unlink()
    with pytest.raises(SystemExit, match=r"tracker\.json is missing"):
        table.table(tmp_path)
