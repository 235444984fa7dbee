#!/usr/bin/env python3
"""Benchmarks of a release build, as docs/BENCHMARKS.md reports them.

Starts `target/release/ticketing` pinned to one core (taskset) with a fresh data directory,
drives it with wrk pinned to the other core (scripts beside this file), and prints the
figures as Markdown. Needs: a release build (`cargo build --release`), wrk and taskset
(Debian: `apt-get install wrk util-linux`), Python 3 with no extra packages.

    bench/bench.py reservations   # durable reservations at 64 and 256 connections, losing
                                  # attempts on a held ticket, /healthz, in one run
    bench/bench.py holds          # expiry lag with 100,000 pending holds
    bench/bench.py memory         # RSS with 1,000,000 tickets listed, then 1,000,000 holds
                                  # (--listing-only: stop after the listing)
    bench/bench.py marketplace    # `ticketing loadtest --scenario marketplace`, with /healthz
    bench/bench.py onsale         # `ticketing loadtest --scenario onsale` (--buyers 5000
                                  # --tickets 500): its summary, and its HTML report with
                                  # the charts as SVG files in --out
    bench/bench.py ab --baseline OTHER_BINARY
                                  # reservations by two builds in alternating rounds, with
                                  # the median round of each (how changes are compared here);
                                  # --baseline-rust-log gives the baseline its own RUST_LOG
    bench/bench.py requestcost --baseline OTHER_BINARY
                                  # CPU time per request (GET /healthz, a ticket read) by
                                  # two builds in alternating rounds: what per-request
                                  # work (the access log, metrics) costs
    bench/bench.py sustained      # one long reservation load: rate, live actors and RSS
                                  # every 5 s (--tickets 700000 --seconds 75)
    bench/bench.py startup        # seconds to ready after 1,000,000 events: clean stop,
                                  # SIGKILL under load, full rebuild (--tickets 700000)
    bench/bench.py storage        # the store alone committing reservations, against sled
                                  # doing the same writes and the journal insert alone
                                  # (needs `cargo build --release --example commit_bench`)
    bench/bench.py feed           # reservations at 256 connections with no reader of the live
                                  # ticket feed against --streams 1000 readers (alternating
                                  # rounds, bench/feed_client.py on the load core), then with
                                  # 1,000 paused readers: RSS, streams ended, catch-up;
                                  # --subscribe 20: readers subscribe as the page does
    bench/bench.py disk           # bytes per ticket, reservation and payment: the journal's
                                  # records, the snapshots and the directory on disk, after
                                  # clean stops (--tickets 200000 --payments 20000; needs
                                  # `cargo build --release --example tree_sizes`)

Every number comes from one run on this machine; the ratios to /healthz in the same run are
what to compare across machines. Servers are started with `--limits off` (DESIGN §8): the
benchmarks sign up and reserve far faster than one client of a public shop may.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BIN = os.environ.get("TICKETING_BIN", os.path.join(TARGET, "release", "ticketing"))
SERVER_CORE = os.environ.get("SERVER_CORE", "1")
LOAD_CORE = os.environ.get("LOAD_CORE", "0")
PASSWORD = "benchmark password"


class Server:
    """The server under test, pinned to SERVER_CORE, on its own temporary data directory."""

    def __init__(self, *flags, binary=BIN, rust_log=None):
        self.dir = tempfile.TemporaryDirectory(prefix="ticketing-bench-")
        self.rust_log = rust_log or os.environ.get("BENCH_RUST_LOG", "info")
        # The benchmarks sign up users and reserve tickets far faster than a public shop
        # allows one client to: lift the limits of DESIGN §8 on builds that have them.
        self.flags, self.binary = (*limits_off(binary), *flags), binary
        self.start()

    def start(self, *extra):
        """Starts the server on its data directory and waits until it serves its API;
        answers the seconds from launch to ready."""
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        # The server logs at its default level unless BENCH_RUST_LOG (or ab's
        # --baseline-rust-log, for the baseline) says otherwise.
        env = dict(os.environ, RUST_LOG=self.rust_log)
        launched = time.time()
        self.process = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, self.binary, "--addr", f"127.0.0.1:{port}",
             "--data-dir", self.dir.name, *self.flags, *extra],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.ready, 600, "the server to start")
        return time.time() - launched

    def ready(self):
        # Builds before /readyz serve their API as soon as /healthz answers.
        status = get(self.base + "/readyz")[0]
        return status == 200 or (status == 404 and get(self.base + "/healthz")[0] == 200)

    def metric(self, series):
        text = get(self.base + "/metrics")[1].decode()
        for line in text.splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
        raise KeyError(series)

    def histogram_ms(self, name):
        """Cumulative (upper bound in milliseconds, count) pairs of a Prometheus histogram
        in seconds (the tables here print milliseconds)."""
        text = get(self.base + "/metrics")[1].decode()
        pairs = []
        for bound, count in re.findall(name + r'_bucket\{le="([^"]+)"\} (\d+)', text):
            pairs.append((float("inf") if bound == "+Inf" else float(bound) * 1000, int(count)))
        return pairs

    def rss_mb(self):
        # taskset execs the server, so the pid is the server's own.
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self):
        """CPU time the server has used, all of its threads: (user, system)."""
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[11]) / os.sysconf("SC_CLK_TCK"), int(fields[12]) / os.sysconf("SC_CLK_TCK")

    def terminate(self):
        """Stops the server gracefully, keeping its data directory."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=120)

    def kill(self):
        """SIGKILLs the server, keeping its data directory."""
        self.process.kill()
        self.process.wait(timeout=60)

    def stop(self):
        self.terminate()
        self.dir.cleanup()


def limits_off(binary):
    """`--limits off` for builds that have limits, nothing for older ones."""
    help_text = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    return ("--limits", "off") if "--limits" in help_text else ()


def bucket_quantile(buckets, q):
    """The upper bound of the bucket holding quantile `q` of a cumulative histogram."""
    total = buckets[-1][1]
    return next(bound for bound, count in buckets if count >= q * total)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return
        except (urllib.error.URLError, ConnectionError, KeyError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def request(method, url, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers


def get(url, token=None):
    return request("GET", url, token=token)


def signup(server, email):
    status, body, headers = request("POST", server.base + "/api/users/signup",
                                    {"email": email, "password": PASSWORD})
    assert status == 201, (status, body)
    cookie = headers.get("Set-Cookie", "")
    token = re.search(r"session=([^;]+)", cookie).group(1)
    return token


def run_wrk(server, script, connections, duration, env=None, path="/", until=None):
    """Runs wrk pinned to LOAD_CORE; returns requests/s, latency percentiles in ms, and the
    STATUS/CREATED lines the script printed. With `until`, wrk is stopped once it holds."""
    command = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{connections}", f"-d{duration}s",
               "--latency", "--timeout", "10s"]
    if script:
        command += ["-s", os.path.join(HERE, script)]
    command.append(server.base + path)
    process = subprocess.Popen(command, env=dict(os.environ, THREADS="1", **(env or {})),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if until:
        # wrk's main thread sleeps out the whole -d even when its script has stopped every
        # connection; SIGINT ends that sleep and wrk still prints its summary.
        started = time.time()
        while process.poll() is None and not until():
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        duration = time.time() - started
    output, errors = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed: {errors}")
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
              "requests": int(re.search(r"(\d+) requests in", output).group(1)),
              "statuses": {}, "raw": output}
    for percent, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\b", output, re.M):
        result[f"p{percent}"] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    for status, count in re.findall(r"^STATUS (\d+) (\d+)$", output, re.M):
        result["statuses"][int(status)] = int(count)
    created = re.search(r"^CREATED (\d+)$", output, re.M)
    if created:
        result["created"] = int(created.group(1))
    result["seconds"] = duration
    return result


def committed(server, event):
    return server.metric(f'ticketing_events_committed_total{{event="{event}"}}')


def stalled_or(server, event, target):
    """A stop condition for wrk: `target` events of a kind committed, or none for 2 s."""
    last = {"count": -1, "since": time.time()}

    def check():
        count = committed(server, event)
        if count != last["count"]:
            last.update(count=count, since=time.time())
        return count >= target or time.time() - last["since"] > 2
    return check


def create_tickets(server, token, count, connections=64):
    """Lists `count` tickets as the seller (wrk, `connections` at once)."""
    started = time.time()
    target = committed(server, "TicketCreated") + count
    result = run_wrk(server, "create.lua", connections, 3600,
                     env={"TOKEN": token, "QUOTA": str(count)},
                     until=stalled_or(server, "TicketCreated", target))
    # wrk does not count answers still in flight when it stops; the server's count is exact.
    return committed(server, "TicketCreated") - (target - count), time.time() - started


def tickets_for_sale(server):
    ids, path = [], "/api/tickets?limit=1000"
    while path:
        status, body, headers = get(server.base + path)
        assert status == 200, (status, body)
        ids += [t["id"] for t in json.loads(body)]
        link = headers.get("Link")
        path = re.search(r"<([^>]+)>", link).group(1) if link else None
    return ids


def write_ids(ids):
    handle = tempfile.NamedTemporaryFile("w", delete=False, suffix=".ids")
    handle.write("\n".join(ids) + "\n")
    handle.close()
    return handle.name


def reserve_all(server, token, ids, connections, duration=None, delay_ms=None):
    """Reserves each id once (duration None: until done) or for `duration` seconds; with
    `delay_ms`, each connection pauses that long before each request."""
    path = write_ids(ids)
    try:
        env = {"TOKEN": token, "TICKETS": path}
        if delay_ms:
            env["DELAY_MS"] = str(delay_ms)
        if duration is None:
            env["ONCE"] = "1"
            target = committed(server, "OrderCreated") + len(ids)
            return run_wrk(server, "reserve.lua", connections, 3600, env=env,
                           until=stalled_or(server, "OrderCreated", target))
        return run_wrk(server, "reserve.lua", connections, duration, env=env)
    finally:
        os.unlink(path)


def line(name, result, healthz=None):
    won = result["statuses"].get(201, 0)
    lost = result["statuses"].get(409, 0)
    other = {s: c for s, c in result["statuses"].items() if s not in (201, 409)}
    share = f" ({result['rps'] / healthz:.0%} of /healthz)" if healthz else ""
    return (f"| {name} | {result['rps']:,.0f}{share} | {won / result['seconds']:,.0f} | "
            f"{lost / result['seconds']:,.0f} | {result.get('p50', 0):.2f} | "
            f"{result.get('p90', 0):.2f} | {result.get('p99', 0):.2f} | {other or '-'} |")


def reservations(args):
    def fresh():
        server = Server("--hold-secs", "86400", "--cache-mb", str(args.cache_mb))
        return server, signup(server, "seller@bench.test"), signup(server, "buyer@bench.test")

    # Each load of distinct tickets starts on a fresh server with the same listing: on one
    # server the second load would find the first one's orders too, and a store larger
    # than its cache is slower (docs/BENCHMARKS.md), which made the rows incomparable.
    rows = []
    health = None
    for connections in (64, 256):
        server, seller, buyer = fresh()
        try:
            if health is None:
                health = run_wrk(server, None, 256, args.seconds, path="/healthz")
            created, took = create_tickets(server, seller, args.tickets)
            print(f"listed {created:,} tickets in {took:.1f} s ({created / took:,.0f}/s)", file=sys.stderr)
            result = reserve_all(server, buyer, tickets_for_sale(server), connections,
                                 duration=args.seconds)
            rows.append((f"reserve distinct tickets, {connections} conns", result))
        finally:
            server.stop()
    server, seller, buyer = fresh()
    try:
        # The same requests without the write: a seller asking for its own tickets is refused
        # (400) by each ticket's actor, activated for it, and nothing is written.
        create_tickets(server, seller, args.tickets)
        own = reserve_all(server, seller, tickets_for_sale(server), 256, duration=args.seconds)
        rows.append(("reserve own distinct tickets (400, nothing written), 256 conns", own))
        status, body, _ = request("POST", server.base + "/api/tickets",
                                  {"title": "Held", "price": 20}, token=seller)
        held = json.loads(body)["id"]
        assert request("POST", server.base + "/api/orders", {"ticketId": held}, token=buyer)[0] == 201
        losing = reserve_all(server, buyer, [held], 256, duration=args.seconds)
        rows.append(("reserve a held ticket (all lose), 256 conns", losing))
        health_after = run_wrk(server, None, 256, args.seconds, path="/healthz")
    finally:
        server.stop()
    print("| load | requests/s | 201/s | 409/s | p50 ms | p90 ms | p99 ms | other |")
    print("|---|---|---|---|---|---|---|---|")
    print(line("GET /healthz, 256 conns (before)", health))
    ceiling = health["rps"]
    for name, result in rows:
        print(line(name, result, ceiling))
    print(line("GET /healthz, 256 conns (after)", health_after))


def holds(args):
    server = Server("--hold-secs", str(args.hold_secs))
    try:
        seller, buyer = signup(server, "seller@bench.test"), signup(server, "buyer@bench.test")
        created, took = create_tickets(server, seller, args.holds)
        ids = tickets_for_sale(server)
        started = time.time()
        if args.rate:
            # 32 connections, each pausing so that together they place about `rate` per second.
            reserve_all(server, buyer, ids, 32, delay_ms=max(1, round(32_000 / args.rate)))
        else:
            reserve_all(server, buyer, ids, 64)
        placed = time.time() - started
        pending = server.metric("ticketing_pending_holds")
        print(f"placed holds in {placed:.1f} s ({pending / placed:,.0f}/s); "
              f"{pending:,.0f} pending (hold {args.hold_secs} s)", file=sys.stderr)
        assert placed < args.hold_secs, "holds expired before all were placed: raise --hold-secs"
        wait_until(lambda: server.metric("ticketing_pending_holds") == 0,
                   args.hold_secs + 600, "every hold to expire")
        finished = time.time() - started
        buckets = server.histogram_ms("ticketing_hold_expiry_lag_seconds")
        expired = server.metric('ticketing_events_committed_total{event="OrderExpired"}')
        rss = server.rss_mb()
    finally:
        server.stop()
    quantile = lambda q: bucket_quantile(buckets, q)
    print(f"| pending holds | placed (and falling due) per s | expired | expiry lag p50 | p99 | max bucket | all ended after | RSS |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {pending:,.0f} | {pending / placed:,.0f} | {expired:,.0f} | <= {quantile(0.5):g} ms | "
          f"<= {quantile(0.99):g} ms | <= {quantile(1.0):g} ms | {finished:.1f} s | {rss:.0f} MB |")


def memory(args):
    # Idle actors passivate two seconds after their last message.
    server = Server("--hold-secs", "86400", "--actor-idle-ms", "2000", "--cache-mb", str(args.cache_mb))
    try:
        seller, buyer = signup(server, "seller@bench.test"), signup(server, "buyer@bench.test")
        baseline = server.rss_mb()
        created, took = create_tickets(server, seller, args.tickets)
        print(f"listed {created:,} tickets in {took:.1f} s", file=sys.stderr)
        idle = lambda: server.metric('ticketing_live_actors{kind="ticket"}') == 0 and \
            server.metric('ticketing_live_actors{kind="order"}') == 0
        wait_until(idle, 600, "the actors to passivate")
        time.sleep(5)
        listed = server.rss_mb()
        if args.listing_only:
            print(f"| started, 2 users | {baseline:.0f} MB |\n| {created:,} tickets listed, actors idle | {listed:.0f} MB |")
            return
        ids = tickets_for_sale(server)
        reserve_all(server, buyer, ids, 64)
        wait_until(idle, 600, "the actors to passivate")
        time.sleep(5)
        held = server.rss_mb()
        pending = server.metric("ticketing_pending_holds")
        disk = subprocess.run(["du", "-sm", server.dir.name], capture_output=True, text=True).stdout.split()[0]
    finally:
        server.stop()
    print("| state | RSS | ")
    print("|---|---|")
    print(f"| started, 2 users | {baseline:.0f} MB |")
    print(f"| {created:,} tickets listed, actors idle | {listed:.0f} MB |")
    print(f"| {pending:,.0f} pending holds too, actors idle | {held:.0f} MB |")
    print(f"| data directory on disk | {disk} MB |")


def marketplace(args):
    server = Server("--hold-secs", "900")
    try:
        health = run_wrk(server, None, 256, args.seconds, path="/healthz")
        command = ["taskset", "-c", LOAD_CORE, BIN, "loadtest", "--url", server.base,
                   "--scenario", "marketplace", "--users", str(args.users),
                   "--concurrency", str(args.concurrency), "--duration", str(args.seconds)]
        report = subprocess.run(command, capture_output=True, text=True)
        print(report.stdout)
        print(report.stderr[-2000:], file=sys.stderr)
        print(f"GET /healthz in the same run: {health['rps']:,.0f} requests/s "
              f"(p50 {health['p50']:.2f} ms, p99 {health['p99']:.2f} ms)")
        if report.returncode != 0:
            sys.exit(f"loadtest failed with exit code {report.returncode}")
    finally:
        server.stop()


def onsale(args):
    """The on-sale: --buyers arrive within --ramp seconds for --tickets listed before the
    start, on a shop whose holds outlast the run. Writes the HTML report, the CSV timeline
    and each chart as an SVG file into --out."""
    # Server lifts the rate limits, which would refuse 5,000 signups from one address.
    server = Server("--hold-secs", "3600")
    os.makedirs(args.out, exist_ok=True)
    report = os.path.join(args.out, "onsale-report.html")
    try:
        health = run_wrk(server, None, 256, 5, path="/healthz")
        command = ["taskset", "-c", LOAD_CORE, BIN, "loadtest", "--url", server.base,
                   "--scenario", "onsale", "--buyers", str(args.buyers),
                   "--tickets", str(args.tickets), "--ramp", str(args.ramp),
                   "--interval", str(args.interval), "--report", report,
                   "--timeseries", os.path.join(args.out, "onsale-timeseries.csv")]
        print("$ " + " ".join(command[3:]), file=sys.stderr)
        result = subprocess.run(command, capture_output=True, text=True)
        print(result.stdout)
        print(result.stderr[-2000:], file=sys.stderr)
        print(f"GET /healthz in the same run: {health['rps']:,.0f} requests/s "
              f"(p50 {health['p50']:.2f} ms, p99 {health['p99']:.2f} ms)")
        if result.returncode != 0:
            sys.exit(f"loadtest failed with exit code {result.returncode}")
        with open(report) as page:
            html = page.read()
        for name, svg in re.findall(r'<figure id="chart-([a-z_-]+)">\n(<svg.*?</svg>)', html, re.S):
            with open(os.path.join(args.out, f"onsale-{name}.svg"), "w") as out:
                out.write(svg + "\n")
    finally:
        server.stop()


def ab(args):
    """Reservations by two builds, alternating round by round on fresh servers, so that the
    machine's noise falls on both alike; prints every round and each build's median."""
    if not args.baseline:
        sys.exit("ab needs --baseline BINARY (compared with TICKETING_BIN or the release build)")
    print("| build, round | requests/s | 201/s | 409/s | p50 ms | p90 ms | p99 ms | other |")
    print("|---|---|---|---|---|---|---|---|")
    rounds = {"baseline": [], "current": []}
    healthz = {"baseline": [], "current": []}
    builds = [("baseline", args.baseline, args.baseline_rust_log), ("current", BIN, None)]
    for number in range(1, args.rounds + 1):
        # The build that runs second in a round has run slower more often than not (the
        # first one's data is still being written back), so the order alternates, and the
        # disk is synced before each server starts.
        for name, binary, rust_log in builds if number % 2 else builds[::-1]:
            os.sync()
            server = Server("--hold-secs", "86400", "--cache-mb", str(args.cache_mb), binary=binary,
                            rust_log=rust_log)
            try:
                seller = signup(server, "seller@bench.test")
                buyer = signup(server, "buyer@bench.test")
                health = run_wrk(server, None, 256, 5, path="/healthz")
                create_tickets(server, seller, args.tickets)
                result = reserve_all(server, buyer, tickets_for_sale(server), args.concurrency,
                                     duration=args.seconds)
            finally:
                server.stop()
            rounds[name].append(result)
            healthz[name].append(health["rps"])
            print(line(f"{name}, round {number}", result, health["rps"]), flush=True)
    # Ranked by reservations (201s) per second: a round that ran out of tickets also counts
    # quick 409s in its request rate.
    for name, results in rounds.items():
        won = lambda r: r["statuses"].get(201, 0) / r["seconds"]
        median = sorted(results, key=won)[len(results) // 2]
        health = sorted(healthz[name])[len(results) // 2]
        print(f"median {name}: {won(median):,.0f} reservations/s, "
              f"p99 {median.get('p99', 0):.1f} ms; GET /healthz {health:,.0f} requests/s")


def requestcost(args):
    """The server's CPU time per request, by two builds (or one build under two RUST_LOGs:
    --baseline-rust-log), in alternating rounds on fresh servers: its user and system
    seconds over the requests wrk had answered, for GET /healthz and for GET
    /api/tickets/{id} (a route with a parameter). CPU per request hardly moves when other
    work shares the machine; requests/s does (docs/BENCHMARKS.md)."""
    if not args.baseline:
        sys.exit("requestcost needs --baseline BINARY (compared with TICKETING_BIN or the release build)")
    builds = [("baseline", args.baseline, args.baseline_rust_log), ("current", BIN, None)]
    costs = {name: {"/healthz": [], "/api/tickets/{id}": []} for name, _, _ in builds}
    print("| build, round | route | requests/s | µs CPU per request |")
    print("|---|---|---|---|")
    for number in range(1, args.rounds + 1):
        for name, binary, rust_log in builds if number % 2 else builds[::-1]:
            server = Server("--hold-secs", "86400", binary=binary, rust_log=rust_log)
            try:
                seller = signup(server, "seller@bench.test")
                status, body, _ = request("POST", server.base + "/api/tickets",
                                          {"title": "Cost", "price": 20}, token=seller)
                assert status == 201, status
                ticket = json.loads(body)["id"]
                for route, path in (("/healthz", "/healthz"), ("/api/tickets/{id}", f"/api/tickets/{ticket}")):
                    user, system = server.cpu_seconds()
                    result = run_wrk(server, None, 64, args.seconds, path=path)
                    user_after, system_after = server.cpu_seconds()
                    cost = (user_after + system_after - user - system) / result["requests"] * 1e6
                    costs[name][route].append(cost)
                    print(f"| {name}, round {number} | {route} | {result['rps']:,.0f} | {cost:.2f} |", flush=True)
            finally:
                server.stop()
    median = lambda values: sorted(values)[len(values) // 2]
    for route in ("/healthz", "/api/tickets/{id}"):
        before, after = median(costs["baseline"][route]), median(costs["current"][route])
        print(f"median {route}: baseline {before:.2f} µs, current {after:.2f} µs CPU per request "
              f"({after - before:+.2f} µs, {after / before - 1:+.1%})")


def sustained(args):
    """One long load of distinct reservations at 256 connections, sampled every 5 s: the
    short loads above never reach the actors' idle time (60 s), when passivation starts."""
    server = Server("--hold-secs", "86400", "--cache-mb", str(args.cache_mb))
    try:
        seller, buyer = signup(server, "seller@bench.test"), signup(server, "buyer@bench.test")
        create_tickets(server, seller, args.tickets)
        ids = tickets_for_sale(server)
        print("| after | reservations/s in the last 5 s | live ticket actors | RSS |")
        print("|---|---|---|---|")
        stop = threading.Event()

        def sample():
            started, last = time.time(), committed(server, "OrderCreated")
            while not stop.wait(5):
                count = committed(server, "OrderCreated")
                live = server.metric('ticketing_live_actors{kind="ticket"}')
                print(f"| {time.time() - started:.0f} s | {(count - last) / 5:,.0f} | {live:,.0f} | "
                      f"{server.rss_mb():.0f} MB |", flush=True)
                last = count

        flushes_before = server.histogram_ms("ticketing_store_flush_seconds")
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        result = reserve_all(server, buyer, ids, 256, duration=args.seconds)
        stop.set()
        sampler.join()
        flushes = [(bound, count - before) for (bound, count), (_, before)
                   in zip(server.histogram_ms("ticketing_store_flush_seconds"), flushes_before)]
    finally:
        server.stop()
    print()
    print(f"{flushes[-1][1]:,} flushes during the load, each taking <= "
          f"{bucket_quantile(flushes, 0.5):g} ms at p50, <= {bucket_quantile(flushes, 0.99):g} ms "
          f"at p99, <= {bucket_quantile(flushes, 1.0):g} ms at most")
    print("| load | requests/s | 201/s | 409/s | p50 ms | p90 ms | p99 ms | other |")
    print("|---|---|---|---|---|---|---|---|")
    print(line(f"reserve distinct tickets, 256 conns, {args.seconds} s", result))


def startup(args):
    """Start-up time after a large journal: a shop with `--tickets` listed and half of them
    reserved, restarted after a clean stop (checkpointed), after a SIGKILL in the middle of
    a reservation load, and with every projection rebuilt from the whole journal."""
    server = Server("--hold-secs", "86400", "--cache-mb", str(args.cache_mb))
    try:
        seller, buyer = signup(server, "seller@bench.test"), signup(server, "buyer@bench.test")
        create_tickets(server, seller, args.tickets)
        ids = tickets_for_sale(server)
        reserve_all(server, buyer, ids[: len(ids) // 2], 256)
        events = sum(committed(server, kind) for kind in ("TicketCreated", "OrderCreated"))
        print(f"{events:,.0f} journal events ({len(ids):,} tickets listed, "
              f"{len(ids) // 2:,} reserved)", file=sys.stderr)
        rows = []
        server.terminate()
        took = server.start()
        rows.append(("after a clean stop (checkpointed)", took, server.metric("ticketing_replayed_events_at_start")))
        # SIGKILL while reservations are being committed: whatever the persister had not
        # yet written behind the journal is replayed.
        load = threading.Thread(target=reserve_all, args=(server, buyer, ids[len(ids) // 2:], 256),
                                kwargs={"duration": 4}, daemon=True)
        load.start()
        time.sleep(3)
        server.kill()
        load.join()
        took = server.start()
        rows.append(("after SIGKILL during a reservation load", took, server.metric("ticketing_replayed_events_at_start")))
        server.terminate()
        took = server.start("--rebuild-projections")
        rows.append(("rebuilding every projection from the whole journal", took, server.metric("ticketing_replayed_events_at_start")))
        rss = server.rss_mb()
    finally:
        server.stop()
    print("| start | seconds to ready | events replayed |")
    print("|---|---|---|")
    for name, took, replayed in rows:
        print(f"| {name} | {took:.2f} | {replayed:,.0f} |")
    print(f"\nRSS after the rebuild: {rss:.0f} MB")


def storage(args):
    """The storage share of a reservation, without HTTP: examples/commit_bench.rs in each of
    its modes, one process per mode per round, pinned to the server's core, modes in turn."""
    binary = os.path.join(TARGET, "release", "examples", "commit_bench")
    if not os.path.exists(binary):
        sys.exit("build it first: cargo build --release --example commit_bench")
    modes = {
        "store": "our store, as the ticket actor commits (journal + projections)",
        "store-read-back": "the same, reading the ticket's snapshot back first",
        "sled-six-writes": "sled alone, the same six writes",
        "sled-journal-only": "sled alone, the journal insert only",
    }
    runs = {mode: [] for mode in modes}
    for _ in range(args.rounds):
        for mode in modes:
            os.sync()
            out = subprocess.run(["taskset", "-c", SERVER_CORE, binary, mode, str(args.tickets),
                                  str(args.concurrency)], check=True, capture_output=True, text=True)
            runs[mode].append(json.loads(out.stdout))
    print(f"| {args.tickets:,} reservations, {args.concurrency} at a time, one core "
          f"(median of {args.rounds}) | reservations/s | CPU per reservation |")
    print("|---|---|---|")
    for mode, results in runs.items():
        median = sorted(results, key=lambda r: r["cpu_us"])[len(results) // 2]
        print(f"| {modes[mode]} | {median['per_second']:,} | {median['cpu_us']} µs |")


def disk(args):
    """Disk per entity: lists --tickets tickets, reserves each once, pays --payments of those
    orders (the offline test gateway), and after each step stops the shop cleanly (so every
    snapshot is written behind the journal) and measures: the records per tree
    (examples/tree_sizes) and the data directory's bytes (du: allocated, and apparent)."""
    from concurrent.futures import ThreadPoolExecutor
    sizes = os.path.join(TARGET, "release", "examples", "tree_sizes")
    if not os.path.exists(sizes):
        sys.exit("build it first: cargo build --release --example tree_sizes")

    def measure(name):
        server.terminate()
        db = os.path.join(server.dir.name, "db")
        allocated = int(subprocess.run(["du", "-sB1", db], capture_output=True, text=True).stdout.split()[0])
        apparent = int(subprocess.run(["du", "-sb", db], capture_output=True, text=True).stdout.split()[0])
        trees = json.loads(subprocess.run([sizes, server.dir.name], check=True, capture_output=True,
                                          text=True).stdout)
        stages.append((name, allocated, apparent, trees))
        server.start()

    def pay(order_id):
        status = request("POST", server.base + "/api/payments", {"orderId": order_id, "token": "tok_visa"},
                         token=buyer)[0]
        assert status == 201, status

    stages = []
    server = Server("--hold-secs", "86400", "--cache-mb", str(args.cache_mb))
    try:
        seller, buyer = signup(server, "seller@bench.test"), signup(server, "buyer@bench.test")
        measure("2 users")
        create_tickets(server, seller, args.tickets)
        measure("tickets listed")
        reserve_all(server, buyer, tickets_for_sale(server), 64)
        measure("each reserved once")
        orders, path = [], "/api/orders?limit=1000"
        while path and len(orders) < args.payments:
            status, body, headers = get(server.base + path, token=buyer)
            assert status == 200, (status, body)
            orders += [o["id"] for o in json.loads(body)]
            link = headers.get("Link")
            path = re.search(r"<([^>]+)>", link).group(1) if link else None
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(pay, orders[: args.payments]))
        measure(f"{min(len(orders), args.payments):,} of them paid")
    finally:
        server.stop()
    tree = lambda trees, name, field: trees.get(name, {}).get(field, 0)
    logical = lambda trees, *names: sum(tree(trees, n, f) for n in names for f in ("key_bytes", "value_bytes"))
    print("| state | events | tickets | orders | charges | journal (keys + values) | snapshots (keys + values) "
          "| db on disk, allocated | apparent |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, allocated, apparent, trees in stages:
        print(f"| {name} | {tree(trees, 'events', 'entries'):,} | {tree(trees, 'tickets', 'entries'):,} | "
              f"{tree(trees, 'orders', 'entries'):,} | {tree(trees, 'charges', 'entries'):,} | "
              f"{logical(trees, 'events'):,} B | {logical(trees, 'tickets', 'orders', 'charges'):,} B | "
              f"{allocated:,} B | {apparent:,} B |")
    print()
    for (_, b_alloc, b_app, b), (after, a_alloc, a_app, a) in zip(stages, stages[1:]):
        events = tree(a, "events", "entries") - tree(b, "events", "entries")
        changed = max(tree(a, t, "entries") - tree(b, t, "entries") for t in ("tickets", "orders", "charges"))
        if events == 0 or changed == 0:
            continue
        per = lambda delta: delta / changed
        print(f"{after}: {changed:,} of them; each added {events / changed:g} events, journal "
              f"+{per(logical(a, 'events') - logical(b, 'events')):.1f} B, snapshots "
              f"+{per(logical(a, 'tickets', 'orders', 'charges') - logical(b, 'tickets', 'orders', 'charges')):.1f} B, "
              f"db on disk +{per(a_alloc - b_alloc):,.0f} B allocated, +{per(a_app - b_app):,.0f} B apparent")


class FeedReaders:
    """bench/feed_client.py pinned to LOAD_CORE (beside wrk): `streams` open readers of
    GET /api/tickets/events, or paused ones; `command` talks to it (see its docstring)."""

    def __init__(self, server, streams, paused=False, subscribe=0, ids=None):
        command = ["taskset", "-c", LOAD_CORE, sys.executable, os.path.join(HERE, "feed_client.py"),
                   "--url", server.base, "--streams", str(streams),
                   "--paused" if paused else "--resume"]
        if subscribe:
            command += ["--subscribe", str(subscribe), "--ids-file", write_ids(ids)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.opened = self.answer()
        if self.opened["opened"] != streams:
            self.process.kill()
            raise RuntimeError(f"opened {self.opened['opened']} of {streams} streams: {self.opened}")

    def answer(self):
        text = self.process.stdout.readline()
        if not text:
            raise RuntimeError("feed_client.py ended early")
        return json.loads(text)

    def command(self, text):
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        return self.answer()

    def stop(self):
        summary = self.command("stop")
        self.process.wait(timeout=60)
        return summary


def tcp_buffers_mb():
    """What every TCP socket on this machine holds in kernel buffers (/proc/net/sockstat)."""
    with open("/proc/net/sockstat") as stat:
        for text in stat:
            if text.startswith("TCP:"):
                fields = text.split()
                return int(fields[fields.index("mem") + 1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    raise RuntimeError("no TCP line")


def raise_fd_limit(needed):
    """The server and the readers inherit this process's limit on open files."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        print(f"raised the open-file limit from {soft} to {new}", file=sys.stderr)


def feed(args):
    """Issue 15: reservations at 256 connections with no reader of the live ticket feed, and
    with --streams readers of GET /api/tickets/events open and reading (bench/feed_client.py
    on the load core, beside wrk; a stream the server ends is resumed with Last-Event-ID),
    the two in alternating order over --rounds rounds, each load on a fresh server with
    --tickets listed; then the same load with --streams readers that never read, with the
    server's RSS before, during and after, how many of those streams the server ended once
    they read again, and what resuming costs.

    --subscribe N: each reader subscribes as the page does, to N random ids of the listed
    tickets plus new listings (`?ids=…&listings=new`), instead of reading every change;
    the paused part (c) is then skipped."""
    raise_fd_limit(args.streams * 2 + 1024)

    def fresh():
        os.sync()
        server = Server("--hold-secs", "86400", "--cache-mb", str(args.cache_mb))
        seller, buyer = signup(server, "seller@bench.test"), signup(server, "buyer@bench.test")
        created, took = create_tickets(server, seller, args.tickets)
        print(f"listed {created:,} tickets in {took:.1f} s", file=sys.stderr)
        return server, buyer, tickets_for_sale(server)

    def load(server, buyer, ids):
        user, system = server.cpu_seconds()
        result = reserve_all(server, buyer, ids, 256, duration=args.seconds)
        user_after, system_after = server.cpu_seconds()
        result["server_cpu"] = (user_after - user + system_after - system) / result["seconds"]
        result["server_sys"] = (system_after - system) / result["seconds"]
        return result

    cpu = lambda r: f"{r['server_cpu']:.0%} ({r['server_sys']:.0%} kernel)"

    won = lambda r: r["statuses"].get(201, 0) / r["seconds"]
    runs = {"none": [], "reading": []}
    health = None
    print(f"| load (256 conns, {args.seconds} s, distinct tickets), round | reservations/s | p50 ms "
          f"| p90 ms | p99 ms | server CPU | events per stream, min / median / max, of changes "
          f"| MB per stream | streams ended, resumed | readers' CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for number in range(1, args.rounds + 1):
        for kind in ("none", "reading") if number % 2 else ("reading", "none"):
            server, buyer, ids = fresh()
            try:
                if health is None:
                    health = run_wrk(server, None, 256, args.seconds, path="/healthz")
                readers = (FeedReaders(server, args.streams, subscribe=args.subscribe, ids=ids)
                           if kind == "reading" else None)
                try:
                    if readers:
                        time.sleep(1)
                    before = committed(server, "OrderCreated")
                    result = load(server, buyer, ids)
                    if readers:
                        # What is still gathered or in the buffers reaches the readers.
                        time.sleep(1)
                finally:
                    summary = readers.stop() if readers else None
                changes = int(committed(server, "OrderCreated") - before)
                rss = server.rss_mb()
            finally:
                server.stop()
            runs[kind].append(result)
            if summary:
                each = summary["events_per_stream"]
                streams = (f"{each[0]:,} / {each[len(each) // 2]:,} / {each[-1]:,} "
                           f"of {changes:,} | "
                           f"{summary['bytes'] / len(each) / 1e6:.1f} | "
                           f"{summary['ended_by_server']:,}, {summary['reconnects']:,} | "
                           f"{summary['cpu_s'] / summary['seconds']:.0%} |")
                name = f"{args.streams:,} streams reading, round {number}"
            else:
                streams = "- | - | - | - |"
                name = f"no stream, round {number}"
            print(f"| {name} | {won(result):,.0f} | {result.get('p50', 0):.2f} | "
                  f"{result.get('p90', 0):.2f} | {result.get('p99', 0):.2f} | "
                  f"{cpu(result)} | {streams}", flush=True)
            print(f"  RSS at the end {rss:.0f} MB", file=sys.stderr)
    medians = {kind: sorted(results, key=won)[len(results) // 2] for kind, results in runs.items()}
    print()
    print(f"GET /healthz, 256 conns (before): {health['rps']:,.0f} requests/s, "
          f"p50 {health['p50']:.2f} ms, p99 {health['p99']:.2f} ms")
    for kind, median in medians.items():
        print(f"median, {'no stream' if kind == 'none' else f'{args.streams:,} streams reading'}: "
              f"{won(median):,.0f} reservations/s ({won(median) / health['rps']:.0%} of /healthz), "
              f"p99 {median.get('p99', 0):.1f} ms")
    ratio = won(medians["reading"]) / won(medians["none"])
    print(f"ratio (reading / none): {ratio:.2f} (issue 15: >= 0.90)")
    if args.subscribe:
        print(f"(each reader subscribed to {args.subscribe} random ids of the listed tickets "
              f"plus new listings)")
        return

    # (c) Paused readers: they read their response head and then nothing.
    server, buyer, ids = fresh()
    try:
        rss = {"listed": (server.rss_mb(), tcp_buffers_mb())}
        readers = FeedReaders(server, args.streams, paused=True)
        try:
            time.sleep(1)
            rss["streams open"] = (server.rss_mb(), tcp_buffers_mb())
            peak, stop = {"rss": 0.0, "tcp": 0.0}, threading.Event()

            def sample():
                while not stop.wait(0.25):
                    peak["rss"] = max(peak["rss"], server.rss_mb())
                    peak["tcp"] = max(peak["tcp"], tcp_buffers_mb())
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            result = load(server, buyer, ids)
            stop.set()
            sampler.join()
            rss["peak during the load"] = (peak["rss"], peak["tcp"])
            rss["after the load"] = (server.rss_mb(), tcp_buffers_mb())
            time.sleep(5)
            rss["5 s later, streams still paused"] = (server.rss_mb(), tcp_buffers_mb())
            drained = readers.command("drain")
            rss["after the readers read again"] = (server.rss_mb(), tcp_buffers_mb())
            resumes = []
            for count in args.resume_sample:
                peak["rss"], peak["tcp"], stop = 0.0, 0.0, threading.Event()
                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
                resumed = readers.command(f"resume {count}")
                stop.set()
                sampler.join()
                resumes.append(resumed)
                rss[f"peak while {resumed['resumed']} of them resume at once (catch-up)"] = (peak["rss"], peak["tcp"])
            summary = readers.stop()
        finally:
            if readers.process.poll() is None:
                readers.process.kill()
        time.sleep(2)
        rss["streams closed"] = (server.rss_mb(), tcp_buffers_mb())
        health_after = run_wrk(server, None, 256, args.seconds, path="/healthz")
    finally:
        server.stop()
    print()
    print(f"| {args.streams:,} streams paused (never read) | reservations/s | p50 ms | p90 ms | p99 ms | server CPU |")
    print("|---|---|---|---|---|---|")
    print(f"| during the load | {won(result):,.0f} | {result.get('p50', 0):.2f} | {result.get('p90', 0):.2f} | "
          f"{result.get('p99', 0):.2f} | {cpu(result)} |")
    print()
    print("| paused streams | server RSS | kernel TCP buffers, whole machine |")
    print("|---|---|---|")
    for name, (value, tcp) in rss.items():
        print(f"| {name} | {value:.0f} MB | {tcp:.0f} MB |")
    each = drained["bytes_per_stream"]
    print()
    print(f"paused streams: {result['statuses'].get(201, 0):,} reservations committed while they were "
          f"paused; once they read again (after {drained['drained_s']} s of reading) the server had "
          f"ended {drained['ended_by_server']:,} of {args.streams:,} ({drained['still_open']:,} still open); "
          f"each had received {each[0] / 1e3:,.0f} / {each[len(each) // 2] / 1e3:,.0f} / {each[-1] / 1e3:,.0f} kB "
          f"(min / median / max), {drained['events'] / args.streams:,.0f} events on average")
    for resumed in resumes:
        if resumed["resumed"]:
            caught = resumed["events"]
            print(f"resumed {resumed['resumed']} of the ended streams with Last-Event-ID at once: {resumed['ok']} "
                  f"answered 200, catch-up of {min(caught):,} to {max(caught):,} events each "
                  f"({resumed['bytes'] / resumed['resumed'] / 1e6:.1f} MB each), read in {resumed['read_s']} s")
    print(f"GET /healthz, 256 conns (after): {health_after['rps']:,.0f} requests/s, "
          f"p50 {health_after['p50']:.2f} ms, p99 {health_after['p99']:.2f} ms")


def backup(args):
    """A backup of a shop with `--tickets` listed and most of them reserved (about 1,000,000
    journal events at 600,000), taken while `--concurrency` connections go on reserving the
    rest; then the restore into a new directory, the restored shop's start (its replay of
    the whole journal), `ticketing journal` of it while it runs, and `ticketing verify` and
    `ticketing export orders` of it once stopped."""
    server = Server("--hold-secs", "86400", "--cache-mb", str(args.cache_mb))
    work = tempfile.TemporaryDirectory(prefix="ticketing-backup-", dir=args.scratch)
    try:
        seller, buyer = signup(server, "seller@bench.test"), signup(server, "buyer@bench.test")
        create_tickets(server, seller, args.tickets)
        ids = tickets_for_sale(server)
        held = len(ids) * 2 // 3
        reserve_all(server, buyer, ids[:held], 256)
        events = sum(committed(server, kind) for kind in ("TicketCreated", "OrderCreated", "UserCreated"))
        print(f"{events:,.0f} journal events before the backup ({len(ids):,} tickets listed, "
              f"{held:,} reserved)", file=sys.stderr)
        before = committed(server, "OrderCreated")
        stop_load = threading.Event()
        load = threading.Thread(
            target=lambda: run_wrk_until(server, buyer, ids[held:], args.concurrency, stop_load.is_set),
            daemon=True)
        load.start()
        wait_until(lambda: committed(server, "OrderCreated") >= before + 1000, 120, "the load to start")
        at_start = sum(committed(server, kind) for kind in ("TicketCreated", "OrderCreated", "UserCreated"))
        file = os.path.join(work.name, "shop.backup")
        started = time.time()
        out = subprocess.run(["taskset", "-c", LOAD_CORE, BIN, "backup", "--data-dir", server.dir.name,
                              "--to", file], capture_output=True, text=True)
        backup_s = time.time() - started
        assert out.returncode == 0, out.stderr
        during = committed(server, "OrderCreated") - before
        time.sleep(1)
        stop_load.set()
        load.join()
        after = committed(server, "OrderCreated") - before
        print(out.stdout.strip(), file=sys.stderr)
        held_events = int(re.search(r"(\d+) journal events", out.stdout).group(1))
        size = os.path.getsize(file)
        server.terminate()
        restored = os.path.join(work.name, "restored")
        started = time.time()
        out = subprocess.run([BIN, "restore", "--from", file, "--data-dir", restored],
                             capture_output=True, text=True)
        restore_s = time.time() - started
        assert out.returncode == 0, out.stderr
        print(out.stdout.strip(), file=sys.stderr)
        # A server on the restored directory: `Server` without its own temporary one.
        copy = Server.__new__(Server)
        copy.dir = type("Restored", (), {"name": restored})()
        copy.flags, copy.binary = (*limits_off(BIN), "--hold-secs", "86400", "--cache-mb", str(args.cache_mb)), BIN
        copy.rust_log = server.rust_log
        start_s = copy.start()
        replayed = copy.metric("ticketing_replayed_events_at_start")
        # The operator's commands over the whole journal: through the running shop's socket,
        # then on the stopped directory.
        journal_s, journal_lines = timed_lines([BIN, "journal", "--data-dir", restored])
        copy.terminate()
        export_s, export_lines = timed_lines([BIN, "export", "orders", "--data-dir", restored])
        started = time.time()
        out = subprocess.run([BIN, "verify", "--data-dir", restored], capture_output=True, text=True)
        verify_s = time.time() - started
        print(out.stdout.strip(), file=sys.stderr)
        assert out.returncode == 0, out.stdout + out.stderr
        db_mb = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(server.dir.name, "db")) for f in fs) / 1e6
    finally:
        server.stop()
        work.cleanup()
    summary = re.search(r"(\d+) journal events", out.stdout)
    print(f"{at_start:,.0f} journal events committed when the backup started, "
          f"{held_events:,} in the backup", file=sys.stderr)
    print("| step | seconds | |")
    print("|---|---|---|")
    print(f"| backup, under a reservation load ({during:,.0f} reservations committed meanwhile, "
          f"{after:,.0f} by the load's end) | {backup_s:.2f} | file {size / 1e6:,.1f} MB "
          f"(original db {db_mb:,.0f} MB) |")
    print(f"| restore into a new directory | {restore_s:.2f} | |")
    print(f"| first start of the restored shop (replays the whole journal) | {start_s:.2f} | "
          f"{replayed:,.0f} events replayed |")
    print(f"| verify of the restored shop, stopped | {verify_s:.2f} | {summary.group(1) if summary else '?'} events |")
    print(f"| `ticketing journal` of the restored shop, running (through its socket) | {journal_s:.2f} | "
          f"{journal_lines:,} JSON lines |")
    print(f"| `ticketing export orders` of the restored shop, stopped | {export_s:.2f} | "
          f"{export_lines - 1:,} CSV rows |")


def timed_lines(command):
    """Runs `command`, counting the lines it prints; its seconds and the count."""
    started = time.time()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    lines = sum(1 for _ in process.stdout)
    assert process.wait() == 0, command
    return time.time() - started, lines


def run_wrk_until(server, token, ids, connections, stop):
    """Reserves `ids` with `connections` until `stop()` holds or they run out."""
    path = write_ids(ids)
    try:
        env = {"TOKEN": token, "TICKETS": path, "ONCE": "1"}
        return run_wrk(server, "reserve.lua", connections, 3600, env=env, until=stop)
    finally:
        os.unlink(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=["reservations", "holds", "memory", "marketplace", "ab", "requestcost", "storage", "sustained",
                                             "startup", "onsale", "disk", "feed", "backup"])
    parser.add_argument("--seconds", type=int, default=10, help="length of each timed load")
    parser.add_argument("--tickets", type=int, default=None, help="default 300,000; 500 for onsale")
    parser.add_argument("--holds", type=int, default=100_000)
    parser.add_argument("--hold-secs", type=int, default=90,
                        help="holds: longer than the 60 s actor idle time, as the default 900 s is")
    parser.add_argument("--rate", type=int, default=0,
                        help="holds: place about this many per second (0: as fast as the server goes)")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=64,
                        help="marketplace: requests in flight; ab: connections reserving")
    parser.add_argument("--cache-mb", type=int, default=32, help="the store's cache size (reservations, memory); 32 is the server's default")
    parser.add_argument("--listing-only", action="store_true",
                        help="memory: stop after the listed tickets (skip the holds)")
    parser.add_argument("--baseline", help="ab: the other build to compare with")
    parser.add_argument("--baseline-rust-log", default=None,
                        help="ab: RUST_LOG for the baseline only (the same build with the access "
                             "log off: info,ticketing::http::access_log=warn)")
    parser.add_argument("--rounds", type=int, default=3, help="ab: rounds per build; feed: rounds of each load")
    parser.add_argument("--streams", type=int, default=1000, help="feed: readers of the live ticket feed")
    parser.add_argument("--subscribe", type=int, default=0,
                        help="feed: each reader subscribes to this many random listed ids plus new "
                             "listings, as the page does (0: every change)")
    parser.add_argument("--resume-sample", type=lambda text: [int(n) for n in text.split(",")], default=[10, 100],
                        help="feed: how many of the paused streams the server ended then resume at once "
                             "(catch-up), one try per number (default 10,100)")
    parser.add_argument("--payments", type=int, default=20_000, help="disk: orders to pay")
    parser.add_argument("--buyers", type=int, default=5000, help="onsale: buyers arriving at the start")
    parser.add_argument("--ramp", type=float, default=1.0, help="onsale: seconds over which they arrive")
    parser.add_argument("--interval", type=float, default=0.1, help="onsale: seconds per point of the charts")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "onsale"),
                        help="onsale: where the report, the CSV and the SVG charts go")
    parser.add_argument("--scratch", default=None,
                        help="backup: directory for the backup file and the restored shop")
    args = parser.parse_args()
    if args.tickets is None:
        args.tickets = 500 if args.scenario == "onsale" else 300_000
    scenarios = {"reservations": reservations, "holds": holds, "memory": memory,
                 "marketplace": marketplace, "ab": ab, "requestcost": requestcost, "storage": storage,
                 "sustained": sustained, "startup": startup, "onsale": onsale, "disk": disk,
                 "feed": feed, "backup": backup}
    scenarios[args.scenario](args)


if __name__ == "__main__":
    main()
