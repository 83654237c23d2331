"""The benchmark's figures as lines while it runs and as markdown tables at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterable


def _f(value: object, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def per_thousand(cpu_seconds: float, count: int | None) -> float | None:
    """CPU seconds per 1,000 transactions or requests."""
    return cpu_seconds * 1000 / count if count else None


def _connections(r: dict) -> str:
    """How a pgbench run connected: anew for every transaction (-C), or once."""
    return "-C" if r["reconnect"] else "persistent"


def pgbench_line(r: dict) -> str:
    mode = _connections(r)
    if r["tps"] is None:
        return f"{r['target']:6} {r['script']} {mode} {r['clients']} clients: no result ({r.get('error', '')})"
    return (
        f"{r['target']:6} {r['script']} {mode} {r['clients']} clients: {_f(r['tps'], 0)} tps, mean"
        f" {_f(r['latency_mean_ms'], 1)} ms, p99 {_f(r['p99_ms'], 1)} ms, {_pgbench_errors(r)} errors,"
        f" CPU s postgres {r['cpu_seconds']['postgres']}, pgbouncer {r['cpu_seconds']['pgbouncer']},"
        f" load {r['cpu_seconds']['load']}"
    )


def wrk_line(r: dict) -> str:
    return (
        f"{r['target']:6} CONN_MAX_AGE {r['conn_max_age']} {r['connections']} connections:"
        f" {_f(r['requests_per_second'], 1)} req/s, p50 {_f(r['p50_ms'], 1)} ms, p99 {_f(r['p99_ms'], 1)} ms,"
        f" {_wrk_errors(r)} errors"
    )


def many_clients_line(r: dict) -> str:
    return (
        f"{r['connected']:,} of {r['wanted']:,} connected in {r['connect_seconds']:.1f} s, {r['held']:,} held"
        f" {r['hold_seconds']:.0f} s; failures {r['failures'] or 'none'}; server connections at most"
        f" {r['max_server_connections']} (pool {r['pool_size']}); PgBouncer RSS at most {r['max_pgbouncer_rss_mb']} MB"
    )


def _table(header: list[str], rows: Iterable[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _pair(runs: list[dict], keys: tuple[str, ...]) -> list[tuple[dict, dict, dict]]:
    """Runs of the same kind, one of them, and its direct and pooled sides ({} when missing), in order."""
    pairs: dict[tuple, dict[str, dict]] = {}
    for r in runs:
        pairs.setdefault(tuple(r[k] for k in keys), {})[r["target"]] = r
    return [(p.get("direct") or p["pooled"], p.get("direct", {}), p.get("pooled", {})) for p in pairs.values()]


def _pgbench_errors(r: dict) -> int | str | None:
    """Failed transactions and clients refused; a run pgbench gave up on says so."""
    return f"{r.get('errors')} (run aborted)" if r.get("run_aborted") else r.get("errors")


def _wrk_errors(r: dict) -> int | None:
    return r["socket_errors"] + r["non_2xx"] if r else None


def _ratio(pooled: float | None, direct: float | None) -> str:
    return f"{pooled / direct:.2f}" if pooled and direct else "-"


def _side_by_side(
    d: dict, p: dict, rate: tuple[str, int], latency: tuple[str, str], errors: Callable[[dict], int | None],
    count: str, program: str,
) -> list[str]:  # fmt: skip
    """The cells both tables share: rate, latency, errors and CPU per 1,000, direct beside pooled."""
    (key, digits), (low, high) = rate, latency
    dc, pc = d.get("cpu_seconds", {}), p.get("cpu_seconds", {})
    return [
        _f(d.get(key), digits), _f(p.get(key), digits), _ratio(p.get(key), d.get(key)),
        f"{_f(d.get(low), 1)} / {_f(d.get(high), 1)}", f"{_f(p.get(low), 1)} / {_f(p.get(high), 1)}",
        f"{_f(errors(d))} / {_f(errors(p))}",
        _f(per_thousand(dc.get("postgres", 0), d.get(count)), 2),
        _f(per_thousand(pc.get("postgres", 0), p.get(count)), 2),
        _f(per_thousand(pc.get("pgbouncer", 0), p.get(count)), 2),
        f"{_f(per_thousand(dc.get(program, 0), d.get(count)), 2)}"
        f" / {_f(per_thousand(pc.get(program, 0), p.get(count)), 2)}",
    ]  # fmt: skip


def pgbench_table(runs: list[dict]) -> str:
    rows = [
        [run["script"], _connections(run), _f(run["clients"]),
         *_side_by_side(d, p, ("tps", 0), ("latency_mean_ms", "p99_ms"), _pgbench_errors, "transactions", "load")]
        for run, d, p in _pair(runs, ("script", "reconnect", "clients"))
    ]  # fmt: skip
    header = ["script", "connections", "clients", "direct tps", "pooled tps", "pooled / direct",
              "direct ms mean / p99", "pooled ms mean / p99", "errors direct / pooled",
              "PostgreSQL CPU s per 1k tx, direct", "... pooled", "PgBouncer CPU s per 1k tx",
              "pgbench CPU s per 1k tx, direct / pooled"]  # fmt: skip
    return _table(header, rows)


def django_table(runs: list[dict]) -> str:
    rows = [
        [_f(run["conn_max_age"]), _f(run["connections"]),
         *_side_by_side(d, p, ("requests_per_second", 1), ("p50_ms", "p99_ms"), _wrk_errors, "requests", "app")]
        for run, d, p in _pair(runs, ("conn_max_age", "connections"))
    ]  # fmt: skip
    header = ["CONN_MAX_AGE", "HTTP connections", "direct req/s", "pooled req/s", "pooled / direct",
              "direct ms p50 / p99", "pooled ms p50 / p99", "errors direct / pooled",
              "PostgreSQL CPU s per 1k req, direct", "... pooled", "PgBouncer CPU s per 1k req",
              "app CPU s per 1k req, direct / pooled"]  # fmt: skip
    return _table(header, rows)


def processes_table(runs: list[dict], base: list[dict]) -> str:
    """Pooled runs with several PgBouncer processes beside the same run with one and direct (base:
    the pgbench stage's runs)."""
    same = {(r["target"], r["script"], r["reconnect"], r["clients"]): r for r in base}
    rows = []
    for r in runs:
        key = (r["script"], r["reconnect"], r["clients"])
        d, one = same.get(("direct", *key), {}), same.get(("pooled", *key), {})
        rows.append([
            r["script"], _connections(r), _f(r["clients"]), _f(r["processes"]), _f(d.get("tps"), 0),
            _f(one.get("tps"), 0), _f(r["tps"], 0),
            _ratio(one.get("tps"), d.get("tps")), _ratio(r["tps"], d.get("tps")),
            f"{_f(one.get('p99_ms'), 1)} / {_f(r['p99_ms'], 1)}", _f(_pgbench_errors(r)),
            f"{_f(per_thousand(one.get('cpu_seconds', {}).get('pgbouncer', 0), one.get('transactions')), 2)}"
            f" / {_f(per_thousand(r['cpu_seconds']['pgbouncer'], r.get('transactions')), 2)}",
        ])  # fmt: skip
    header = ["script", "connections", "clients", "processes", "direct tps", "pooled tps, 1 process",
              "pooled tps, these processes", "pooled / direct, 1 process", "pooled / direct, these",
              "pooled p99 ms, 1 / these", "errors", "PgBouncer CPU s per 1k tx, 1 / these"]  # fmt: skip
    return _table(header, rows)


def settings_table(runs: list[dict]) -> str:
    """Runs under one PgBouncer setting or another (the settings part)."""
    rows = [
        [r["setting"], _f(r["value"]), r["target"], r["script"], _f(r["clients"]), r.get("protocol", "simple"),
         _f(r["tps"], 0), f"{_f(r['latency_mean_ms'], 1)} / {_f(r['p99_ms'], 1)}", _f(_pgbench_errors(r)),
         _f(per_thousand(r["cpu_seconds"]["postgres"], r.get("transactions")), 2),
         _f(per_thousand(r["cpu_seconds"]["pgbouncer"], r.get("transactions")), 2)]
        for r in runs
    ]  # fmt: skip
    header = ["setting", "value", "target", "script", "clients", "protocol", "tps", "ms mean / p99", "errors",
              "PostgreSQL CPU s per 1k tx", "PgBouncer CPU s per 1k tx"]  # fmt: skip
    return _table(header, rows)


def many_clients_table(r: dict) -> str:
    cpu = r["cpu_seconds"]
    row = [_f(r["wanted"]), _f(r["connected"]), _f(r["held"]), ", ".join(f"{k} x{v}" for k, v in r["failures"].items())
           or "none", _f(r["connect_seconds"], 1), _f(r["hold_seconds"], 0),
           f"{_f(r['max_server_connections'])} (pool {r['pool_size']})", _f(r["max_pgbouncer_rss_mb"], 1),
           f"{cpu['pgbouncer']:.1f} / {cpu['postgres']:.1f} / {cpu['load']:.1f}"]  # fmt: skip
    header = ["clients", "connected", "held to the end", "failures", "connect s", "held s",
              "PostgreSQL connections at most", "PgBouncer RSS MB", "CPU s PgBouncer / PostgreSQL / clients"]
    return _table(header, [row])


def operations_table(operations: list[dict]) -> str:
    return _table(["operation", "playbook", "seconds", "changed"],
                  ([o["operation"], o["playbook"], _f(o["seconds"], 1), _f(o["changed"])] for o in operations))


def tables(results: dict) -> str:
    machine = results.get("machine", {})
    parts = [
        f"Machine: {machine.get('cpus')} CPUs ({machine.get('cpu_model')}), kernel {machine.get('kernel')},"
        f" {machine.get('pgbouncer')}, PostgreSQL {machine.get('postgresql')} (max_connections"
        f" {machine.get('max_connections')}), pool size {machine.get('pool_size')}, {machine.get('pgbench')}.",
    ]
    if results.get("pgbench"):
        parts.append("### pgbench\n\n" + pgbench_table(results["pgbench"]) + "\n\nThe p99 is of the transaction"
                     " alone (pgbench's log); with -C the mean includes connecting.")
    if results.get("many_clients"):
        parts.append("### Client connections held at once\n\n" + many_clients_table(results["many_clients"]))
    if results.get("django"):
        parts.append("### The Django app (GET /notes)\n\n" + django_table(results["django"]))
    if results.get("processes"):
        parts.append("### Several PgBouncer processes (pooled)\n\n"
                     + processes_table(results["processes"], results.get("pgbench", [])))
    if results.get("settings"):
        parts.append("### PgBouncer settings (persistent connections)\n\n" + settings_table(results["settings"]))
    if results.get("operations"):
        parts.append("### Operations\n\n" + operations_table(results["operations"]))
    stages = ", ".join(f"{k} {v} s" for k, v in results.get("stages", {}).items())
    parts.append(f"Stages: {stages}.")
    return "\n\n".join(parts)
