#!/usr/bin/env python3
"""Parks N dashboard-style long polls on a running aifgen and measures other routes meanwhile.

Each simulated dashboard loops GET /v1/jobs/{id}?wait=30 with its last ETag (200: take the new
ETag and park again; 304: park again), spread over the given jobs. A probe meanwhile times
GET /healthz, GET /v1/models and a plain GET /v1/jobs/{id}, one request at a time, and prints
p50/p99 per route next to how many polls were parked. Standard library only (asyncio streams).
  long_polls.py HOST PORT SECONDS POLLS JOB_ID...
"""
import asyncio
import statistics
import sys
import time


async def request(host, port, path, headers=None, reader_writer=None):
    reader, writer = reader_writer or await asyncio.open_connection(host, port)
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    head = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        k, _, v = line.decode().partition(":")
        head[k.strip().lower()] = v.strip()
    body = await reader.readexactly(int(head.get("content-length", "0")))
    return status, head, body, (reader, writer)


class Counters:
    def __init__(self):
        self.parked = 0
        self.answers = {}
        self.errors = 0


async def dashboard(host, port, job, until, c):
    etag = None
    conn = None
    while time.monotonic() < until:
        try:
            if etag is None:
                status, head, _, conn = await request(host, port, f"/v1/jobs/{job}", reader_writer=conn)
                etag = head.get("etag")
                continue
            c.parked += 1
            try:
                status, head, _, conn = await request(host, port, f"/v1/jobs/{job}?wait=30", {"If-None-Match": etag}, conn)
            finally:
                c.parked -= 1
            c.answers[status] = c.answers.get(status, 0) + 1
            if status == 200:
                etag = head.get("etag")
            elif status != 304:
                await asyncio.sleep(1)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            c.errors += 1
            conn = None
            await asyncio.sleep(0.5)


async def probe(host, port, job, until, c, samples):
    routes = {"/healthz": [], "/v1/models": [], f"/v1/jobs/{job}": []}
    parked_seen = []
    conn = None
    while time.monotonic() < until:
        for path, times in routes.items():
            t0 = time.perf_counter()
            try:
                status, _, _, conn = await request(host, port, path, reader_writer=conn)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                conn = None
                continue
            times.append((time.perf_counter() - t0) * 1000)
        parked_seen.append(c.parked)
        await asyncio.sleep(samples)
    return routes, parked_seen


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


async def main():
    host, port, seconds, polls = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    jobs = sys.argv[5:]
    c = Counters()
    start = time.monotonic()
    until = start + seconds
    tasks = [asyncio.create_task(dashboard(host, port, jobs[i % len(jobs)], until, c)) for i in range(polls)]
    await asyncio.sleep(min(5.0, seconds / 4))  # let them connect and park
    routes, parked = await probe(host, port, jobs[0], until, c, 0.02)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(f"long polls: {polls} dashboards over {len(jobs)} job(s); parked while probing: "
          f"min {min(parked)} median {int(statistics.median(parked))} max {max(parked)}")
    print(f"long-poll answers: {dict(sorted(c.answers.items()))}, connection errors: {c.errors}")
    print(f"{'route':40s} {'n':>6s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s}")
    worst = 0.0
    for path, times in routes.items():
        print(f"{path:40s} {len(times):6d} {pct(times, 0.5):8.2f} {pct(times, 0.99):8.2f} {max(times):8.2f}")
        worst = max(worst, pct(times, 0.99))
    print(f"worst p99 of other routes: {worst:.2f} ms (goal: under 20 ms)")


asyncio.run(main())
