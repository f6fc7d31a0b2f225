#!/usr/bin/env python3
"""Turns the JSON lines of pubsub-bench into one table (stdout) and one
JSON document with the machine's description (bench/run.sh calls it).

    report.py RESULTS.jsonl OUT.json [--smoke 0|1] [--nginx-conf FILE]
              [--nofile N] [--param NAME=VALUE]...
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys


PACKAGES = ["nginx", "nginx-common", "librdkafka1", "librdkafka-dev",
            "libprotobuf-c1", "protobuf-c-compiler", "linux-perf"]


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine(nofile):
    m = {}
    cpus = []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpus.append(line.split(":", 1)[1].strip())
    except OSError:
        pass
    m["cpu_model"] = cpus[0] if cpus else platform.processor()
    m["cores"] = os.cpu_count()
    m["kernel"] = platform.release()
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    m["memory_kb"] = int(line.split()[1])
    except OSError:
        pass
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    m["os"] = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    m["loadavg"] = os.getloadavg()
    m["rlimit_nofile"] = nofile
    versions = {}
    for p in PACKAGES:
        v = sh("dpkg-query", "-W", "-f=${Version}", p)
        if v:
            versions[p] = v
    m["packages"] = versions
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rev = sh("git", "-C", top, "rev-parse", "--short", "HEAD")
    if rev:
        dirty = sh("git", "-C", top, "status", "--porcelain", "--", "src")
        m["module_commit"] = rev + ("+local changes in src/" if dirty else "")
    return m


def num(v, digits=0):
    if v is None:
        return "-"
    if digits == 0:
        return "{:,.0f}".format(v)
    return "{:,.{}f}".format(v, digits)


def lat(r):
    if not r.get("lat_samples"):
        return "-"
    return "{:.2f} / {:.2f} / {:.2f}".format(r["lat_p50_ms"], r["lat_p99_ms"],
                                            r["lat_p999_ms"])


def cpu(r, key):
    v = r.get(key)
    return "-" if v is None else "{:.2f}".format(v)


def per_cpu(r, figure, key="cpu_worker"):
    """the figure per CPU-second of the worker: a per-core figure that
    does not depend on what the load generator took of the machine"""
    v = r.get(key)
    if not v or r.get(figure) is None:
        return None
    return r[figure] / v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("out")
    ap.add_argument("--smoke", default="0")
    ap.add_argument("--nginx-conf")
    ap.add_argument("--nofile", type=int, default=0)
    ap.add_argument("--param", action="append", default=[])
    a = ap.parse_args()

    lines = []
    with open(a.results) as f:
        for line in f:
            line = line.strip()
            if line:
                lines.append(json.loads(line))

    params = dict(p.split("=", 1) for p in a.param)
    fetch_wait = float(params.get("fetch.wait.max.ms", "5"))

    # the fan-out with Nagle on is reported on its own rows, and kept out
    # of the goals
    nagle = [r for r in lines if r.get("label") == "tcp_nodelay off"]
    lines = [r for r in lines if r.get("label") != "tcp_nodelay off"]

    def find(scenario, **kw):
        return [r for r in lines if r["scenario"] == scenario
                and all(r.get(k) == v for k, v in kw.items())]

    # ceiling and catch-up run in rounds: medians, and the median of each
    # round's ratio (the same background load within a round)

    def median(values):
        v = sorted(values)
        n = len(v)
        if n == 0:
            return None
        return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2

    def spread(rs, key):
        if len(rs) < 2:
            return ""
        return " (median of {}, {}-{})".format(
            len(rs), num(min(r[key] for r in rs)),
            num(max(r[key] for r in rs)))

    def middle(rs, key):
        """the run whose figure is the median (the lower of two)"""
        s = sorted(rs, key=lambda r: r[key])
        return s[(len(s) - 1) // 2] if s else None

    # the ceiling of a tuned round has the tuned properties too

    def tuned(r):
        return "tuned" in r.get("label", "")

    # (a ceiling with "last" is the scattered resume's, not a round's)

    ceilings = {False: [r for r in find("ceiling")
                        if not tuned(r) and "last" not in r],
                True: [r for r in find("ceiling")
                       if tuned(r) and "last" not in r]}
    ceiling = ceilings[False] or ceilings[True]
    ceil = median([r["msgs_per_s"] for r in ceiling])

    def ratio(v):
        if v is None or not ceil:
            return None
        return v / ceil

    rows = []     # (scenario, figure, ratio, latency, worker cpu, others,
                  #  per worker CPU-second)

    summary = {}

    for t in (False, True):
        cs = ceilings[t]
        if not cs:
            continue
        r = middle(cs, "msgs_per_s")
        v = median([x["msgs_per_s"] for x in cs])
        summary["ceiling" + ("_tuned" if t else "")] = v
        for x in cs:
            x["ratio_to_ceiling"] = 1.0
        rows.append(("1 ceiling: bare librdkafka consumer, {} partitions{}"
                     .format(r["partitions"], ", tuned" if t else ""),
                     "{} msg/s{}".format(num(v), spread(cs, "msgs_per_s")),
                     1.0, "-", cpu(r, "cpu_self"), cpu(r, "cpu_others"),
                     num(per_cpu(r, "msgs_per_s", "cpu_self"))))

    labels = []
    for r in find("catchup"):
        if r.get("label", "") not in labels:
            labels.append(r.get("label", ""))

    for label in labels:
        rs = [r for r in find("catchup") if r.get("label", "") == label]
        cs = ceilings[tuned(rs[0])]
        for i, r in enumerate(rs):
            r["ratio_to_ceiling"] = (r["msgs_per_s"] / cs[i]["msgs_per_s"]
                                     if i < len(cs) else None)
            r["msgs_per_worker_cpu_s"] = per_cpu(r, "msgs_per_s")
        v = median([r["msgs_per_s"] for r in rs])
        rt = median([r["ratio_to_ceiling"] for r in rs
                     if r["ratio_to_ceiling"] is not None])
        r = middle(rs, "msgs_per_s")
        key = "catchup_" + label.replace(", ", "_")
        summary[key] = {
            "msgs_per_s": v, "ratio_to_ceiling": rt,
            "mb_per_s": median([x["mb_per_s"] for x in rs]),
            "msgs_per_worker_cpu_s":
                median([x["msgs_per_worker_cpu_s"] or 0 for x in rs])}
        rows.append(("2 catch-up, 1 client, {}, {} fetch(es) in flight"
                     .format(label, r["inflight"]),
                     "{} msg/s, {} MB/s{}".format(
                         num(v), num(summary[key]["mb_per_s"], 1),
                         spread(rs, "msgs_per_s")),
                     rt, "-", cpu(r, "cpu_worker"), cpu(r, "cpu_others"),
                     num(summary[key]["msgs_per_worker_cpu_s"])))

    # push catch-up: each round's against the same round's default ceiling

    pushes = find("push_catchup")
    if pushes:
        cs = ceilings[False]
        for i, r in enumerate(pushes):
            r["ratio_to_ceiling"] = (r["msgs_per_s"] / cs[i]["msgs_per_s"]
                                     if i < len(cs) else None)
            r["msgs_per_worker_cpu_s"] = per_cpu(r, "msgs_per_s")
        v = median([r["msgs_per_s"] for r in pushes])
        rt = median([r["ratio_to_ceiling"] for r in pushes
                     if r["ratio_to_ceiling"] is not None])
        r = middle(pushes, "msgs_per_s")
        summary["push_catchup"] = {
            "msgs_per_s": v, "ratio_to_ceiling": rt,
            "mb_per_s": median([x["mb_per_s"] for x in pushes]),
            "msgs_per_worker_cpu_s":
                median([x["msgs_per_worker_cpu_s"] or 0 for x in pushes])}
        rows.append(("2 push catch-up, 1 subscription of {} partitions, "
                     "window {}".format(r["partitions"], r["window"]),
                     "{} msg/s, {} MB/s{}".format(
                         num(v), num(summary["push_catchup"]["mb_per_s"], 1),
                         spread(pushes, "msgs_per_s")),
                     rt, "-", cpu(r, "cpu_worker"), cpu(r, "cpu_others"),
                     num(summary["push_catchup"]["msgs_per_worker_cpu_s"])))

    for r in find("tail_bare"):
        rows.append(("3 broker's own tail: bare consumer, {} msg/s"
                     .format(num(r["rate"])),
                     "{} msg/s".format(num(r["messages"] / r["seconds"])),
                     None, lat(r), "-", cpu(r, "cpu_others"), "-"))

    # fan-out: fetch clients and subscribers side by side, for each number
    # of clients and phase

    fans = find("fanout") + find("push_fanout")
    counts = []
    for r in fans:
        if r["clients"] not in counts:
            counts.append(r["clients"])

    for c in counts:
        for phase in ("rate", "max"):
            for sc in ("fanout", "push_fanout"):
                for r in find(sc, clients=c, phase=phase):
                    r["ratio_to_ceiling"] = ratio(r["deliveries_per_s"])
                    what = ("{} msg/s".format(num(r["rate"]))
                            if r["phase"] == "rate"
                            else "max ({} msg/s produced)".format(
                                num(r["produced_per_s"])))
                    rows.append(("3 fan-out, {} {}, producer {}".format(
                                     num(r["clients"]),
                                     "subscriber(s) (push)"
                                     if sc == "push_fanout"
                                     else "client(s) (fetch)", what),
                                 "{} deliveries/s, {} msg/answer".format(
                                     num(r["deliveries_per_s"]),
                                     num(r.get("msgs_per_answer"), 1)),
                                 r["ratio_to_ceiling"], lat(r),
                                 cpu(r, "cpu_worker"), cpu(r, "cpu_others"),
                                 num(per_cpu(r, "deliveries_per_s"))))
                    r["deliveries_per_worker_cpu_s"] = per_cpu(
                        r, "deliveries_per_s")

    for r in nagle:
        if r.get("phase") != "rate":
            continue
        rows.append(("3 fan-out, {} client(s) (fetch), {} msg/s, "
                     "tcp_nodelay off".format(num(r["clients"]),
                                              num(r["rate"])),
                     "{} deliveries/s, {} msg/answer".format(
                         num(r["deliveries_per_s"]),
                         num(r.get("msgs_per_answer"), 1)),
                     None, lat(r), cpu(r, "cpu_worker"), cpu(r, "cpu_others"),
                     num(per_cpu(r, "deliveries_per_s"))))

    for r in find("idle"):
        rows.append(("4 idle connections ({})".format(
                        "first batch" if r["phase"] == "clients"
                        else "as many as possible"),
                     "{} conns, {} B/conn".format(
                         num(r["connections"]),
                         num(r["bytes_per_connection"])),
                     None, "-", "-", "-", "-"))

    for r in find("mixed"):
        r["ratio_to_ceiling"] = ratio(r["catchup_msgs_per_s"])
        fig = "catch-up {} msg/s".format(num(r["catchup_msgs_per_s"]))
        if r["clients"]:
            fig += "; tail {} deliveries/s".format(num(r["deliveries_per_s"]))
        rows.append(("5 history of 1 partition, {} tail client(s) at {} msg/s"
                     "{}".format(num(r["clients"]), num(r["rate"]),
                                 ", 1m windows" if "1m" in r.get("label", "")
                                 else ""),
                     fig, r["ratio_to_ceiling"], lat(r),
                     cpu(r, "cpu_worker"), cpu(r, "cpu_others"), "-"))

    # scattered resume: the bare consumer, one client alone, many

    for r in find("ceiling"):
        if "last" in r:
            rows.append(("6 scattered resume: bare consumer, the last {} "
                         "messages".format(num(r["messages"])),
                         "{:.3f} s, {} msg/s".format(r["seconds"],
                                                    num(r["msgs_per_s"])),
                         None, "-", cpu(r, "cpu_self"), cpu(r, "cpu_others"),
                         "-"))

    for sc in ("scatter", "scatter_fetch"):
        rs = find(sc)
        one = [r for r in rs if r["clients"] == 1]
        for r in rs:
            if r["clients"] != 1 and one and one[0]["seconds"]:
                r["ratio_to_one_reader"] = r["seconds"] / one[0]["seconds"]
            reads = r.get("kafka_reads_per_message")
            rows.append(("6 scattered resume, {} {} over the last {}".format(
                             num(r["clients"]),
                             "subscriber(s) (push)" if sc == "scatter"
                             else "client(s) (fetch)", num(r["last"])),
                         "{:.3f} s{}, {} deliveries/s{}".format(
                             r["seconds"],
                             " = {:.1f} x one reader".format(
                                 r["ratio_to_one_reader"])
                             if "ratio_to_one_reader" in r else "",
                             num(r["deliveries_per_s"]),
                             "" if reads is None
                             else ", Kafka read {:.2f} x".format(reads)),
                         None, "-", cpu(r, "cpu_worker"),
                         cpu(r, "cpu_others"),
                         num(per_cpu(r, "deliveries_per_s"))))

    # produce: the bare producer and the gateway, for each N in flight

    bare_prod = {r["inflight"]: r for r in find("produce", mode="bare")}

    def ack(r):
        if not r.get("ack_samples"):
            return "-"
        return "{:.2f} / {:.2f} / {:.2f}".format(
            r["ack_p50_ms"], r["ack_p99_ms"], r["ack_p999_ms"])

    for r in find("produce"):
        b = bare_prod.get(r["inflight"])
        if r["mode"] == "gateway" and b:
            r["ratio_to_bare"] = r["records_per_s"] / b["records_per_s"]
        rows.append(("7 produce, {}, {} partitions, {} in flight".format(
                         "bare librdkafka producer" if r["mode"] == "bare"
                         else "1 client through the gateway",
                         r["partitions"], num(r["inflight"])),
                     "{} records/s, {} MB/s".format(
                         num(r["records_per_s"]), num(r["mb_per_s"], 1)),
                     1.0 if r["mode"] == "bare" else r.get("ratio_to_bare"),
                     "ack " + ack(r),
                     cpu(r, "cpu_self" if r["mode"] == "bare"
                         else "cpu_worker"),
                     cpu(r, "cpu_others"),
                     num(per_cpu(r, "records_per_s", "cpu_self"
                                 if r["mode"] == "bare" else "cpu_worker"))))

    for r in find("produce_latency"):
        rows.append(("7 produce to a subscriber through the gateway, {} "
                     "msg/s".format(num(r["rate"])),
                     "ack {} ms".format(ack(r)), None, lat(r),
                     cpu(r, "cpu_worker"), cpu(r, "cpu_others"), "-"))

    # commits

    for r in find("commits"):
        admin = r.get("admin_requests_per_s")
        rows.append(("8 commits, {} clients every {:g} ms, {} groups".format(
                         num(r["clients"]), r["interval_ms"], r["groups"]),
                     "{} commits/s of {} asked, {}".format(
                         num(r["commits_per_s"]),
                         num(r["commits_per_s_asked"]),
                         "Admin requests unknown" if admin is None
                         else "{} Admin requests/s ({} commits each)".format(
                             num(admin), num(r["commits_per_admin_request"],
                                             1))),
                     None, lat(r), cpu(r, "cpu_worker"),
                     cpu(r, "cpu_others"), "-"))

    for r in find("skipped"):
        rows.append(("skipped: {}".format(r["what"]), r["reason"], None, "-",
                     "-", "-", "-"))

    # goals (reported, never enforced)

    goals = []

    for key, what in (("catchup_interleaved", "module defaults"),
                      ("catchup_interleaved_tuned", "tuned")):
        cu = summary.get(key)
        if cu and cu["ratio_to_ceiling"] is not None:
            v = cu["ratio_to_ceiling"]
            goals.append({"goal": "catch-up >= 70% of the ceiling "
                                  "(interleaved, {}, median of the "
                                  "rounds' ratios)".format(what),
                          "value": round(v, 3), "met": v >= 0.7})

    fan = [r for r in find("fanout") if r["clients"] == 1000]
    if fan:
        v = max(r["deliveries_per_s"] for r in fan)
        w = max(r.get("deliveries_per_worker_cpu_s") or 0 for r in fan)
        goals.append({"goal": "fan-out of 1000 clients >= 1,000,000 "
                              "deliveries/s", "value": round(v),
                      "per_worker_cpu_second": round(w),
                      "met": v >= 1e6})

    bare = find("tail_bare")
    for r in find("fanout", phase="rate"):
        if not r.get("lat_samples"):
            continue
        bound = fetch_wait + 5
        g = {"goal": "tail p99 <= fetch.wait.max.ms + 5 ms = {:g} ms, "
                     "{} client(s) at {} msg/s".format(bound, r["clients"],
                                                        num(r["rate"])),
             "value": r["lat_p99_ms"], "met": r["lat_p99_ms"] <= bound}
        if bare and bare[0].get("lat_samples"):
            g["broker_p99_ms"] = bare[0]["lat_p99_ms"]
            g["within_5ms_of_broker"] = (r["lat_p99_ms"]
                                         <= bare[0]["lat_p99_ms"] + 5)
        goals.append(g)

    pc = summary.get("push_catchup")
    if pc and pc["ratio_to_ceiling"] is not None:
        v = pc["ratio_to_ceiling"]
        goals.append({"goal": "push catch-up >= 95% of the ceiling (median "
                              "of the rounds' ratios)",
                      "value": round(v, 3), "met": v >= 0.95})

    broker = bare[0]["lat_p99_ms"] if bare and bare[0].get("lat_samples") \
        else None
    for c, within in ((100, 5), (1000, 10)):
        for r in find("push_fanout", clients=c, phase="rate"):
            if not r.get("lat_samples") or broker is None:
                continue
            g = {"goal": "push p99 within {} ms of the broker's own, {} "
                         "subscribers at {} msg/s".format(within, c,
                                                          num(r["rate"])),
                 "value": r["lat_p99_ms"], "broker_p99_ms": broker,
                 "met": r["lat_p99_ms"] <= broker + within}
            f = find("fanout", clients=c, phase="rate")
            if f and f[0].get("lat_samples"):
                g["fetch_p99_ms"] = f[0]["lat_p99_ms"]
            goals.append(g)

    for r in find("push_fanout", clients=1000, phase="max"):
        w = r.get("deliveries_per_worker_cpu_s")
        if w is None:
            continue
        goals.append({"goal": "push to 1000 subscribers >= 5,000,000 "
                              "deliveries per worker CPU-second",
                      "value": round(w),
                      "deliveries_per_s": round(r["deliveries_per_s"]),
                      "met": w >= 5e6})

    for sc, what in (("scatter", "subscribers"), ("scatter_fetch",
                                                  "fetch clients")):
        for r in find(sc):
            if "ratio_to_one_reader" not in r:
                continue
            v = r["ratio_to_one_reader"]
            goals.append({"goal": "scattered resume of {} {} within 2x one "
                                  "reader's time".format(
                                      num(r["clients"]), what),
                          "value": round(v, 2),
                          "seconds": round(r["seconds"], 3),
                          "deliveries": r["deliveries"], "met": v <= 2})

    for r in find("produce", mode="gateway"):
        if "ratio_to_bare" not in r:
            continue
        v = r["ratio_to_bare"]
        goals.append({"goal": "produce through the gateway >= 70% of the "
                              "bare producer, {} in flight".format(
                                  num(r["inflight"])),
                      "value": round(v, 3), "met": v >= 0.7})

    cm = sorted([r for r in find("commits")
                 if r.get("admin_requests_per_s") is not None],
                key=lambda r: r["clients"])
    if len(cm) >= 2 and cm[0]["admin_requests_per_s"]:
        lo, hi = cm[0], cm[-1]
        v = hi["admin_requests_per_s"] / lo["admin_requests_per_s"]
        goals.append({"goal": "Admin requests O(groups/interval), not "
                              "O(commits): their rate with {} clients over "
                              "{} ({} groups)".format(
                                  num(hi["clients"]), num(lo["clients"]),
                                  hi["groups"]),
                      "value": round(v, 2),
                      "commits_ratio": round(hi["commits_per_s"]
                                             / lo["commits_per_s"], 2)
                      if lo["commits_per_s"] else None,
                      "admin_requests_per_s": round(
                          hi["admin_requests_per_s"], 1),
                      "met": v <= 2})

    for r in find("idle"):
        v = r["bytes_per_connection"]
        goals.append({"goal": "<= 5 KB of worker memory per idle "
                              "connection ({} connections)".format(
                                  r["connections"]),
                      "value": round(v), "met": v <= 5 * 1024})

    m = machine(a.nofile)

    # the table

    print()
    print("pubsub-bench{}: {}, {} cores, kernel {}, nginx {}, "
          "librdkafka {}, one nginx worker".format(
              " (smoke: sizes too small to mean anything)"
              if a.smoke == "1" else "",
              m["cpu_model"], m["cores"], m["kernel"],
              m["packages"].get("nginx", "?"),
              m["packages"].get("librdkafka1", "?")))
    print()
    head = ("scenario", "figure", "vs ceiling", "latency p50/p99/p99.9 ms",
            "CPU", "others CPU", "per CPU-second")
    table = [head] + [(s, f, "-" if rt is None else "{:.2f}".format(rt),
                       la, wc, oc, pc) for s, f, rt, la, wc, oc, pc in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for i, row in enumerate(table):
        print("  ".join(c.ljust(w) if j < 2 else c.rjust(w)
                        for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print()
    for g in goals:
        extra = "".join("; {} {}".format(k.replace("_", " "), v)
                        for k, v in g.items()
                        if k not in ("goal", "value", "met"))
        print("goal {:<4} {}: {}{}".format("met" if g["met"] else "MISS",
                                           g["goal"], g["value"], extra))
    print()
    print("CPU: CPU-seconds per second (1.00 = one core) of the nginx "
          "worker, all its threads (ceiling: of the bare consumer); others "
          "CPU: of every process but the worker, the mock and the load "
          "generator; per CPU-second: the figure divided by CPU.")

    doc = {
        "date": datetime.datetime.now(datetime.timezone.utc)
                .strftime("%Y-%m-%dT%H:%M:%SZ"),
        "smoke": a.smoke == "1",
        "machine": m,
        "parameters": params,
        "summary": summary,
        "results": lines + nagle,
        "goals": goals,
    }
    if a.nginx_conf:
        try:
            with open(a.nginx_conf) as f:
                doc["nginx_conf"] = f.read()
        except OSError:
            pass

    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")

    print("results: {}".format(a.out))


if __name__ == "__main__":
    sys.exit(main())
