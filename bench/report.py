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

    ceilings = {False: [r for r in find("ceiling") if not tuned(r)],
                True: [r for r in find("ceiling") if tuned(r)]}
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

    for r in find("tail_bare"):
        rows.append(("3 broker's own tail: bare consumer, {} msg/s"
                     .format(num(r["rate"])),
                     "{} msg/s".format(num(r["messages"] / r["seconds"])),
                     None, lat(r), "-", cpu(r, "cpu_others"), "-"))

    for r in find("fanout"):
        r["ratio_to_ceiling"] = ratio(r["deliveries_per_s"])
        what = ("{} msg/s".format(num(r["rate"])) if r["phase"] == "rate"
                else "max ({} msg/s produced)".format(
                    num(r["produced_per_s"])))
        rows.append(("3 fan-out, {} client(s), producer {}"
                     .format(num(r["clients"]), what),
                     "{} deliveries/s".format(num(r["deliveries_per_s"])),
                     r["ratio_to_ceiling"], lat(r), cpu(r, "cpu_worker"),
                     cpu(r, "cpu_others"),
                     num(per_cpu(r, "deliveries_per_s"))))
        r["deliveries_per_worker_cpu_s"] = per_cpu(r, "deliveries_per_s")

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
                     .format(num(r["clients"]), num(r["rate"])),
                     fig, r["ratio_to_ceiling"], lat(r),
                     cpu(r, "cpu_worker"), cpu(r, "cpu_others"), "-"))

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
        "results": lines,
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
