"""The benchmark: what PgBouncer buys and costs on the lab, direct and pooled side by side.

Run by scripts/bench.sh once the lab is up (with its bench container); see docs/benchmarks.md.
Every load runs in the lab's bench container (pgstack-bench) against the lab's containers, so
each program's CPU is read from its own container's cgroup. Prints markdown tables and writes
the raw figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import report  # noqa: E402 - beside this file, which is run as a directory
from cpu import CpuMeter  # noqa: E402
from runs import Pgbench, Wrk, parse_pgbench, parse_wrk, percentile, pgbench_latencies  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS = {"postgres": "pgstack-db", "pgbouncer": "pgstack-pool", "app": "pgstack-web", "load": "pgstack-bench"}
WORK = "/tmp/pgstack-bench"  # in the bench container
APP_URL = "http://127.0.0.1:8000"  # the lab publishes the app here
# With several PgBouncer processes (--processes), pooled only, against one process and direct
# from the pgbench stage: what a second core could lift (persistent) and the -C ceiling.
PROCESS_RUNS = (("select-only", False, 50), ("write", False, 50), ("select-only", True, 200))


def sh(argv: list[str], *, timeout: float = 600, check: bool = True, stdin: str | None = None) -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        raise RuntimeError(f"{shlex.join(argv)} failed ({done.returncode}):\n{tail}")
    return done.stdout + done.stderr


def in_container(name: str, argv: list[str], **kwargs: object) -> str:
    return sh(["docker", "exec", "-i", CONTAINERS[name], *argv], **kwargs)  # type: ignore[arg-type]


def inspect(container: str, template: str) -> str:
    return sh(["docker", "inspect", "-f", template, container]).strip()


def stage(title: str) -> float:
    print(f"\n==> {title}", flush=True)
    return time.monotonic()


class Lab:
    """The lab's addresses, secrets and settings, and the playbooks run on it."""

    def __init__(self, max_client_conn: int) -> None:
        self.ids = {name: inspect(c, "{{.Id}}") for name, c in CONTAINERS.items()}
        self.ip = {name: inspect(c, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
                   for name, c in CONTAINERS.items()}  # fmt: skip
        self.password = (ROOT / ".lab/secrets/db_password").read_text().strip()
        # Direct runs come from the bench container, which PostgreSQL must let in like an app host;
        # the many-clients run needs room in PgBouncer.
        self.extra_vars = {
            "postgres_client_addresses": [f"{self.ip['load']}/32"],
            "pgbouncer_max_client_conn": max_client_conn,
        }
        self.operations: list[dict[str, object]] = []

    def playbook(self, label: str, name: str, **extra: object) -> dict[str, object]:
        with tempfile.NamedTemporaryFile("w", suffix=".json") as extra_vars:
            json.dump({**self.extra_vars, **extra}, extra_vars)
            extra_vars.flush()
            started = time.monotonic()
            output = sh(["ansible-playbook", f"playbooks/{name}", "-e", f"@{extra_vars.name}"], timeout=1200)
        changed = sum(int(n) for n in re.findall(r"changed=(\d+)", output.split("PLAY RECAP")[-1]))
        result = {"operation": label, "playbook": name, "seconds": round(time.monotonic() - started, 1),
                  "changed": changed}  # fmt: skip
        print(f"    {label}: {result['seconds']} s, changed={changed}", flush=True)
        self.operations.append(result)
        return result

    def write_secrets(self) -> None:
        """The app user's password in 0600 files in the bench container (not argv or env): a
        passfile for pgbench, the bare password for clients.py."""
        for name, content in (("pgpass", f"*:*:*:app:{self.password}\n"), ("pgpass-password", self.password)):
            in_container("load", ["sh", "-c", f"umask 077 && mkdir -p {WORK} && cat > {WORK}/{name}"], stdin=content)

    def psql(self, sql: str) -> str:
        """One answer from PostgreSQL, asked as its superuser over the local socket (peer)."""
        return in_container("postgres", ["runuser", "-u", "postgres", "--", "psql", "-Atc", sql]).strip()

    def endpoint(self, target: str) -> tuple[str, int]:
        return (self.ip["pgbouncer"], 6432) if target == "pooled" else (self.ip["postgres"], 5432)

    def server_connections(self) -> int:
        """The app user's connections PostgreSQL holds from PgBouncer."""
        sql = f"SELECT count(*) FROM pg_stat_activity WHERE client_addr = '{self.ip['pgbouncer']}'"
        return int(self.psql(sql))

    def pgbouncer_rss_mb(self) -> float:
        rss = in_container("pgbouncer", ["ps", "-o", "rss=", "-C", "pgbouncer"]).split()
        return round(sum(map(int, rss)) / 1024, 1)

    def machine(self) -> dict[str, object]:
        model = re.search(r"^model name\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.M)
        return {
            "cpus": os.cpu_count(),
            "cpu_model": model.group(1) if model else "",
            "kernel": platform.release(),
            "os": Path("/etc/debian_version").read_text().strip() if Path("/etc/debian_version").exists() else "",
            "pgbouncer": in_container("pgbouncer", ["pgbouncer", "--version"]).splitlines()[0],
            "postgresql": self.psql("SHOW server_version"),
            "pgbench": in_container("load", ["pgbench", "--version"]).strip(),
            "pool_size": self.setting("default_pool_size"),
            "max_connections": int(self.psql("SHOW max_connections")),
        }

    def setting(self, name: str) -> int:
        found = re.search(rf"^{name} = (\d+)", in_container("pgbouncer", ["cat", "/etc/pgbouncer/pgbouncer.ini"]), re.M)
        return int(found.group(1)) if found else 0


def pgbench_tables(lab: Lab, scale: int, drop: bool = False) -> None:
    """Create pgbench's tables in the app database (straight to PostgreSQL), or drop them."""
    steps = ["--init-steps=d"] if drop else ["--quiet", f"--scale={scale}"]
    in_container("load", ["env", f"PGPASSFILE={WORK}/pgpass", "pgbench", "--initialize", *steps,
                          f"--host={lab.ip['postgres']}", "--username=app", "app"])  # fmt: skip


def run_pgbench(lab: Lab, run: Pgbench, meter: CpuMeter) -> dict[str, object]:
    host, port = lab.endpoint(run.target)
    prefix = f"{WORK}/log/{run.target}"
    in_container("load", ["sh", "-c", f"rm -rf {WORK}/log && mkdir -p {WORK}/log"])
    # A sample of the transactions is logged, for p99: enough lines, not millions.
    argv = run.argv(host, port, "app", "app", prefix, sampling=0.2 if run.reconnect else 0.02)
    meter.start()
    output = in_container("load", ["env", f"PGPASSFILE={WORK}/pgpass", *argv], check=False, timeout=run.seconds + 300)
    cpu = meter.stop()
    figures = parse_pgbench(output)
    latencies = pgbench_latencies(in_container("load", ["sh", "-c", f"cat {prefix}.* 2>/dev/null || true"]))
    figures["p50_ms"], figures["p99_ms"] = percentile(latencies, 0.5), percentile(latencies, 0.99)
    figures["errors"] = (figures["failed_transactions"] or 0) + figures["aborted_clients"]
    result = {"target": run.target, "script": run.script, "clients": run.clients, "reconnect": run.reconnect,
              "protocol": run.protocol, "seconds": run.seconds, **figures, "cpu_seconds": cpu}  # fmt: skip
    if figures["tps"] is None or figures["run_aborted"]:
        result["error"] = " ".join(output.strip().splitlines()[-3:])[-300:]
    print("    " + report.pgbench_line(result), flush=True)
    return result


def run_wrk(lab: Lab, run: Wrk, meter: CpuMeter) -> dict[str, object]:
    meter.start()
    output = in_container("load", run.argv(f"http://{lab.ip['app']}:8000"), timeout=run.seconds + 60)
    cpu = meter.stop()
    result = {"target": run.target, "conn_max_age": run.conn_max_age, "connections": run.connections,
              "seconds": run.seconds, **parse_wrk(output), "cpu_seconds": cpu}  # fmt: skip
    print("    " + report.wrk_line(result), flush=True)
    return result


def app_path() -> str:
    with urllib.request.urlopen(APP_URL + "/healthz", timeout=10) as answer:
        return "pooled" if json.load(answer)["via"] == "pgbouncer" else "direct"


def many_clients(lab: Lab, count: int, hold: float) -> dict[str, object]:
    """count connections held at once through PgBouncer by one process in the bench container."""
    # Through docker exec, not docker cp: systemd mounts its own /tmp in the container.
    source = (Path(__file__).parent / "clients.py").read_text()
    in_container("load", ["sh", "-c", f"cat > {WORK}/clients.py"], stdin=source)
    samples: list[dict[str, object]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(2.0):
            samples.append({"server_connections": lab.server_connections(), "pgbouncer_rss_mb": lab.pgbouncer_rss_mb()})

    sampler = threading.Thread(target=sample, daemon=True)
    meter = CpuMeter({k: lab.ids[k] for k in ("postgres", "pgbouncer", "load")})
    meter.start()
    sampler.start()
    output = in_container("load", [
        "python3", f"{WORK}/clients.py", f"--host={lab.ip['pgbouncer']}", "--port=6432", "--user=app",
        "--database=app", f"--password-file={WORK}/pgpass-password", f"--count={count}", f"--hold={hold}",
    ], timeout=hold + 600)  # fmt: skip
    stop.set()
    sampler.join()
    result = {**json.loads(output.strip().splitlines()[-1]), "cpu_seconds": meter.stop(), "samples": samples}
    result["pool_size"] = lab.setting("default_pool_size") + lab.setting("reserve_pool_size")
    result["max_server_connections"] = max((s["server_connections"] for s in samples), default=None)
    result["max_pgbouncer_rss_mb"] = max((s["pgbouncer_rss_mb"] for s in samples), default=None)
    print("    " + report.many_clients_line(result), flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each pgbench and wrk run")
    parser.add_argument("--clients", default="50,200,1000", help="pgbench client counts")
    parser.add_argument("--http-connections", default="2,8,32", help="wrk connection counts")
    parser.add_argument("--hold", type=int, default=10_000, help="client connections held through PgBouncer")
    parser.add_argument("--scale", type=int, default=10, help="pgbench scale factor (100,000 accounts each)")
    parser.add_argument("--processes", default="2", help="PgBouncer process counts run besides one (pooled only)")
    parser.add_argument("--pool-sizes", default="10,20,40", help="default_pool_size values of the settings part")
    parser.add_argument("--only", default="pgbench,clients,django,processes",
                        help="parts to run, besides the deploys; also: settings (pool sizes, prepared statements)")
    parser.add_argument("--first-deploy-seconds", type=float, help="what the first deploy on new containers took")
    parser.add_argument("--output", default=str(ROOT / ".lab/bench"), help="directory of the JSON results")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    clients = [int(c) for c in args.clients.split(",")]
    os.chdir(ROOT)
    started = time.monotonic()
    lab = Lab(max_client_conn=args.hold + max(clients) + 200)
    results: dict[str, object] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                  "settings": vars(args), "stages": {}}  # fmt: skip

    def timed(name: str, since: float) -> None:
        results["stages"][name] = round(time.monotonic() - since, 1)  # type: ignore[index]
        print(f"    ({name}: {results['stages'][name]} s)", flush=True)  # type: ignore[index]

    if args.first_deploy_seconds is not None:
        lab.operations.append({"operation": "first deploy (new containers)", "playbook": "deploy.yml",
                               "seconds": args.first_deploy_seconds, "changed": None})  # fmt: skip
    t = stage("deploy with the bench's settings, then again (idempotent)")
    lab.playbook("deploy (bench settings)", "deploy.yml")
    lab.playbook("deploy again (idempotent)", "deploy.yml")
    results["machine"] = lab.machine()
    lab.write_secrets()
    timed("deploy", t)

    meter = CpuMeter({k: lab.ids[k] for k in ("postgres", "pgbouncer", "load")})
    if "pgbench" in parts:
        t = stage(f"pgbench: scale {args.scale}, {args.seconds} s per run, direct and pooled side by side")
        pgbench_tables(lab, args.scale)
        runs = []
        for script in ("select-only", "write"):
            for reconnect in (True, False):
                for n in clients:
                    for target in ("direct", "pooled"):
                        runs.append(run_pgbench(lab, Pgbench(target, script, n, reconnect, args.seconds), meter))
        pgbench_tables(lab, args.scale, drop=True)
        results["pgbench"] = runs
        timed("pgbench", t)

    if "clients" in parts:
        t = stage(f"{args.hold} client connections held through PgBouncer")
        results["many_clients"] = many_clients(lab, args.hold, hold=10.0)
        timed("many clients", t)

    if "django" in parts:
        t = stage("the app: GET /notes, pooled and direct, CONN_MAX_AGE 0 and 60")
        app_meter = CpuMeter({k: lab.ids[k] for k in ("postgres", "pgbouncer", "app", "load")})
        runs = []
        # Each step is what an operator runs; rollback and restore are timed on the way.
        steps = [
            ("pooled", 0, None),
            ("direct", 0, ("rollback", "rollback.yml", {})),
            ("direct", 60, ("deploy CONN_MAX_AGE 60", "deploy.yml", {"webapp_conn_max_age": 60})),
            ("pooled", 60, ("restore", "restore.yml", {"webapp_conn_max_age": 60})),
        ]
        for target, age, operation in steps:
            if operation:
                lab.playbook(operation[0], operation[1], **operation[2])
            if app_path() != target:
                raise RuntimeError(f"the app should be on the {target} path now")
            for n in map(int, args.http_connections.split(",")):
                runs.append(run_wrk(lab, Wrk(target, age, n, args.seconds), app_meter))
        # The processes stage's deploy sets CONN_MAX_AGE back too.
        if "processes" not in parts:
            lab.playbook("deploy (back to CONN_MAX_AGE 0)", "deploy.yml")
        results["django"] = runs
        timed("django", t)

    if "processes" in parts:
        counts = [int(n) for n in args.processes.split(",")]
        t = stage(f"pgbench, pooled, with {' and '.join(map(str, counts))} PgBouncer processes")
        pgbench_tables(lab, args.scale)
        runs = []
        for count in counts:
            lab.playbook(f"deploy with {count} PgBouncer processes", "deploy.yml", pgbouncer_processes=count)
            for script, reconnect, n in PROCESS_RUNS:
                run = Pgbench("pooled", script, n, reconnect, args.seconds)
                runs.append({**run_pgbench(lab, run, meter), "processes": count})
        pgbench_tables(lab, args.scale, drop=True)
        lab.playbook("deploy (back to one process)", "deploy.yml")
        results["processes"] = runs
        timed("processes", t)

    if "settings" in parts:
        t = stage("pooled, persistent: pool sizes at 200 clients; prepared statements at 50 clients")
        pgbench_tables(lab, args.scale)
        runs = []
        for size in map(int, args.pool_sizes.split(",")):
            lab.playbook(f"deploy with default_pool_size {size}", "deploy.yml", pgbouncer_default_pool_size=size)
            for script in ("select-only", "write"):
                run = Pgbench("pooled", script, 200, False, args.seconds)
                runs.append({**run_pgbench(lab, run, meter), "setting": "default_pool_size", "value": size})
        # The role's max_prepared_statements, then 0 (PgBouncer 1.21's default, off): pgbench's
        # prepared protocol against its simple one, and direct.
        for value in (None, 0):
            if value is not None:
                lab.playbook(f"deploy with max_prepared_statements {value}", "deploy.yml",
                             pgbouncer_max_prepared_statements=value)  # fmt: skip
            shown = value if value is not None else "role default"
            for target, protocol in (("pooled", "simple"), ("pooled", "prepared"), ("direct", "prepared")):
                if target == "direct" and value is not None:
                    continue
                run = Pgbench(target, "select-only", 50, False, args.seconds, protocol)
                runs.append({**run_pgbench(lab, run, meter), "setting": "max_prepared_statements", "value": shown})
        pgbench_tables(lab, args.scale, drop=True)
        lab.playbook("deploy (back to the role's settings)", "deploy.yml")
        results["settings"] = runs
        timed("settings", t)

    results["operations"] = lab.operations
    results["seconds"] = round(time.monotonic() - started, 1)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    path = output / f"bench-{results['started'].replace(':', '')}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print("\n" + report.tables(results))
    print(f"\nraw figures: {path}\nwhole benchmark: {results['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
