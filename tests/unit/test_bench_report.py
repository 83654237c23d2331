"""scripts/bench/report.py: direct and pooled runs side by side, with the cost per 1,000."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "scripts/bench"))

from report import pgbench_table, processes_table, settings_table  # noqa: E402


def _run(target: str, tps: float | None, transactions: int | None, postgres: float, errors: int = 0) -> dict:
    return {
        "target": target, "script": "select-only", "reconnect": True, "clients": 200, "tps": tps,
        "transactions": transactions, "latency_mean_ms": 10.0, "p99_ms": 20.0, "errors": errors,
        "cpu_seconds": {"postgres": postgres, "pgbouncer": 0.5, "load": 4.0},
    }  # fmt: skip


def test_a_pair_gives_the_ratio_and_the_cost_per_thousand() -> None:
    row = pgbench_table([_run("direct", 100.0, 1000, 7.0, errors=3), _run("pooled", 300.0, 3000, 0.9)])
    cells = [c.strip() for c in row.splitlines()[2].strip("|").split("|")]
    assert cells[:6] == ["select-only", "-C", "200", "100", "300", "3.00"]
    assert cells[8] == "3 / 0"
    # PostgreSQL per 1,000 transactions: 7.0 s for 1,000 direct, 0.9 s for 3,000 pooled.
    assert cells[9:12] == ["7.00", "0.30", "0.17"]


def test_a_direct_run_without_a_result_leaves_its_cells_empty() -> None:
    row = pgbench_table([_run("direct", None, None, 0.1), _run("pooled", 300.0, 3000, 0.9)])
    cells = [c.strip() for c in row.splitlines()[2].strip("|").split("|")]
    assert cells[3:6] == ["-", "300", "-"] and cells[9] == "-"


def test_several_processes_stand_beside_one_process_and_direct() -> None:
    base = [_run("direct", 100.0, 1000, 7.0), _run("pooled", 300.0, 3000, 0.9)]
    two = {**_run("pooled", 360.0, 3600, 1.0), "processes": 2, "p99_ms": 15.0}
    row = processes_table([two], base)
    cells = [c.strip() for c in row.splitlines()[2].strip("|").split("|")]
    assert cells[:9] == ["select-only", "-C", "200", "2", "100", "300", "360", "3.00", "3.60"]
    assert cells[9] == "20.0 / 15.0"
    # PgBouncer per 1,000 transactions: 0.5 s for 3,000 (one process), 0.5 s for 3,600 (two).
    assert cells[11] == "0.17 / 0.14"


def test_several_processes_without_the_pgbench_stage_leave_the_others_empty() -> None:
    two = {**_run("pooled", 360.0, 3600, 1.0), "processes": 2}
    cells = [c.strip() for c in processes_table([two], []).splitlines()[2].strip("|").split("|")]
    assert cells[4:9] == ["-", "-", "360", "-", "-"]


def test_a_settings_run_names_its_setting_value_and_protocol() -> None:
    run = {**_run("pooled", 500.0, 5000, 1.0), "setting": "max_prepared_statements", "value": 0,
           "protocol": "prepared", "errors": 50}  # fmt: skip
    cells = [c.strip() for c in settings_table([run]).splitlines()[2].strip("|").split("|")]
    assert cells == ["max_prepared_statements", "0", "pooled", "select-only", "200", "prepared", "500",
                     "10.0 / 20.0", "50", "0.20", "0.10"]  # fmt: skip


def test_a_run_pgbench_gave_up_on_says_so_in_place_of_its_error_count() -> None:
    run = {**_run("pooled", 1400.0, 59, 0.1), "setting": "max_prepared_statements", "value": 0,
           "protocol": "prepared", "errors": 0, "run_aborted": True}  # fmt: skip
    cells = [c.strip() for c in settings_table([run]).splitlines()[2].strip("|").split("|")]
    assert cells[8] == "0 (run aborted)"
