#!/usr/bin/env python3
"""Scale-out figures for README "Scaling out on PostgreSQL", one run, standard library only.

  scale_out.py AIFGEN_BINARY POSTGRES_SERVER_URL [JOBS] [POLL_SECONDS]

For SQLite (one serve, N worker threads) and PostgreSQL (one API replica with --workers 0 plus N
worker processes of one thread each), N = 1, 2, 4:
  - jobs/s: JOBS small jobs (conv+bn+relu, x86_64-cpu fp32) submitted at once, to the last one
    finished;
  - claim latency: 20 jobs submitted one at a time to idle workers, started_at - created_at
    (how fast an idle worker hears of a new job: in memory on SQLite, LISTEN/NOTIFY across
    processes on PostgreSQL), p50 and p99.
Then job-status polls/s (plain GET /v1/jobs/{id}, keep-alive, 8 client threads) against one API
replica and round-robin over two, on PostgreSQL.
"""
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import datetime

BINARY, PG = sys.argv[1], sys.argv[2]
JOBS = int(sys.argv[3]) if len(sys.argv) > 3 else 40
POLL_SECONDS = float(sys.argv[4]) if len(sys.argv) > 4 else 8


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fresh_pg_database():
    name = "aifgen_bench_%d" % int(time.time() * 1000)
    subprocess.run(["psql", PG, "-qc", "CREATE DATABASE " + name], check=True)
    u = urllib.parse.urlsplit(PG)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))


class Server:
    def __init__(self, data_dir, args, log):
        self.port = free_port()
        self.proc = subprocess.Popen([BINARY, "serve", "--listen", "127.0.0.1:%d" % self.port, "--data-dir", data_dir] + args,
                                     stdout=open(log, "ab"), stderr=subprocess.STDOUT)
        for _ in range(400):
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("serve did not start; see " + log)

    def request(self, method, path, body=None, headers=None, conn=None):
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        return r.status, data

    def json(self, method, path, body=None, headers=None):
        status, data = self.request(method, path, body, headers)
        return status, json.loads(data) if data else None

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def iso(t):
    return datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def run_case(backend, workers, work):
    data = os.path.join(work, "%s-%d" % (backend, workers))
    os.makedirs(data)
    procs = []
    if backend == "sqlite":
        api = Server(data, ["--workers", str(workers)], data + ".log")
        procs.append(api)
    else:
        url = fresh_pg_database()
        api = Server(data, ["--database", url, "--workers", "0"], data + "-api.log")
        procs.append(api)
        for i in range(workers):
            procs.append(Server(data, ["--database", url, "--workers", "1"], "%s-worker%d.log" % (data, i)))
    try:
        model = open(os.path.join(data, "examples", "demo_conv_bn_relu.onnx"), "rb").read()
        _, m = api.json("POST", "/v1/models?name=demo", model, {"Content-Type": "application/octet-stream"})
        body = json.dumps({"model_id": m["id"], "targets": ["x86_64-cpu"], "precisions": ["fp32"]})
        hdr = {"Content-Type": "application/json"}

        def wait(ids):
            pending = set(ids)
            while pending:
                for j in list(pending):
                    if api.json("GET", "/v1/jobs/" + j)[1]["state"] in ("succeeded", "failed", "cancelled"):
                        pending.discard(j)
                time.sleep(0.02)

        # Warm-up: one job (plans, first connections).
        wait([api.json("POST", "/v1/jobs", body, hdr)[1]["id"]])
        t0 = time.time()
        ids = [api.json("POST", "/v1/jobs", body, hdr)[1]["id"] for _ in range(JOBS)]
        wait(ids)
        jobs_per_s = JOBS / (time.time() - t0)
        failed = sum(api.json("GET", "/v1/jobs/" + j)[1]["state"] != "succeeded" for j in ids)
        claims = []
        for _ in range(20):
            j = api.json("POST", "/v1/jobs", body, hdr)[1]["id"]
            wait([j])
            rec = api.json("GET", "/v1/jobs/" + j)[1]
            claims.append((iso(rec["started_at"]) - iso(rec["created_at"])) * 1000)
            time.sleep(0.2)  # workers idle again
        claims.sort()
        p99 = claims[min(len(claims) - 1, int(round(0.99 * (len(claims) - 1))))]
        return jobs_per_s, statistics.median(claims), p99, failed, (url if backend == "postgres" else None), m["id"], data
    finally:
        if backend == "sqlite":
            for p in procs:
                p.stop()
        else:
            run_case.last = (procs, data)


def polls_per_s(servers, job):
    stop = time.time() + POLL_SECONDS
    counts = [0] * 8

    def client(i):
        s = servers[i % len(servers)]
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        while time.time() < stop:
            c.request("GET", "/v1/jobs/" + job)
            c.getresponse().read()
            counts[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / POLL_SECONDS


def main():
    work = tempfile.mkdtemp(prefix="aifgen-scale-out-")
    print("%-10s %7s %8s %14s %14s %7s" % ("database", "workers", "jobs/s", "claim p50 ms", "claim p99 ms", "failed"))
    last_pg = None
    try:
        for backend in ("sqlite", "postgres"):
            for n in (1, 2, 4):
                jps, p50, p99, failed, url, model, data = run_case(backend, n, work)
                print("%-10s %7d %8.2f %14.1f %14.1f %7d" % (backend, n, jps, p50, p99, failed), flush=True)
                if backend == "postgres":
                    procs, _ = run_case.last
                    if last_pg:
                        for p in last_pg[0]:
                            p.stop()
                    last_pg = (procs, url, data)
        procs, url, data = last_pg
        api1 = procs[0]
        api2 = Server(data, ["--database", url, "--workers", "0"], data + "-api2.log")
        procs.append(api2)
        _, jobs = api1.json("GET", "/v1/jobs?limit=1")
        job = jobs["items"][0]["id"]
        one = polls_per_s([api1], job)
        two = polls_per_s([api1, api2], job)
        print("job-status polls/s on PostgreSQL (8 keep-alive clients, %g s): 1 API replica %.0f, 2 replicas %.0f (%.2fx)"
              % (POLL_SECONDS, one, two, two / one))
        print("machine: %d cores; every process and the clients share them" % os.cpu_count())
    finally:
        if last_pg:
            for p in last_pg[0]:
                p.stop()
        shutil.rmtree(work, ignore_errors=True)


main()
