#!/usr/bin/env python3
"""The report and the growth check of bench/soak.sh (run by it; standard library only).

    soak_report.py WORK_DIR OUT_DIR

Reads WORK_DIR/samples.tsv (one row per sample of the server), WORK_DIR/batches.tsv (one
row per `voxbridge loadtest` batch) and the batches' JSON reports in WORK_DIR/batches/, and
the run's settings and bounds from the environment soak.sh exports (SOAK_*). Writes
OUT_DIR/soak.json and OUT_DIR/soak.html, prints a summary table, and exits 1 when a series
grew beyond its bound (0 otherwise).
"""
import html
import json
import math
import os
import statistics
import sys


def env_num(name, default=0.0):
    v = os.environ.get(name, "")
    return float(v) if v != "" else default


def num(s):
    return float(s) if s not in ("", None) else None


def read_tsv(path):
    with open(path) as f:
        lines = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    head, rows = lines[0], lines[1:]
    return [dict(zip(head, r)) for r in rows]


def parse_buckets(text):
    """'0.001:0;0.0025:3;...;+Inf:9' -> [(0.001, 0.0), ..., (inf, 9.0)] (cumulative counts)."""
    out = []
    for part in (text or "").split(";"):
        if ":" not in part:
            continue
        le, count = part.rsplit(":", 1)
        out.append((math.inf if le == "+Inf" else float(le), float(count)))
    return sorted(out)


def hist_quantile(cum_end, cum_start, q):
    """The q-quantile (0..1) of the observations between two scrapes of a Prometheus
    histogram, linearly interpolated inside its bucket (as histogram_quantile does); None
    when nothing was observed in between."""
    if not cum_end:
        return None
    start = dict(cum_start or [])
    deltas = [(le, c - start.get(le, 0.0)) for le, c in cum_end]
    total = deltas[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for le, c in deltas:
        if c >= rank:
            if math.isinf(le):
                return lower  # above the highest finite bound: that bound is all we know
            inside = c - below
            return lower + (le - lower) * ((rank - below) / inside if inside > 0 else 1.0)
        lower, below = le, c
    return lower


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=1):
    if v is None:
        return "-"
    return f"{v:.{digits}f}"


def main():
    work, out = sys.argv[1], sys.argv[2]
    duration = env_num("SOAK_SECONDS")
    sample_s = env_num("SOAK_SAMPLE_S", 10)
    period_s = env_num("SOAK_PERIOD_S")
    calls = int(env_num("SOAK_CALLS"))
    hz = env_num("SOAK_CLK_TCK", 100)
    bounds = {
        "rss_growth_pct": env_num("RSS_GROWTH_PCT"), "rss_growth_mb": env_num("RSS_GROWTH_MB"),
        "fd_growth_pct": env_num("FD_GROWTH_PCT"), "fd_growth": env_num("FD_GROWTH"),
        "thread_growth": env_num("THREAD_GROWTH"),
        "store_kb_per_call": env_num("STORE_KB_PER_CALL"), "store_slack_mb": env_num("STORE_SLACK_MB"),
        "p99_growth_pct": env_num("P99_GROWTH_PCT"), "p99_growth_ms": env_num("P99_GROWTH_MS"),
        "failed_max_pct": env_num("FAILED_MAX_PCT"),
    }
    warmup_s = max(0.2 * duration, 30.0, period_s + sample_s)
    tail_from_s = 0.8 * duration

    # --- the samples ---------------------------------------------------------------------
    rows = read_tsv(os.path.join(work, "samples.tsv"))
    samples, prev = [], None
    for r in rows:
        t = float(r["t_ms"]) / 1000
        db, wal, shm = (num(r[k]) or 0 for k in ("db_bytes", "wal_bytes", "shm_bytes"))
        buckets = parse_buckets(r.get("resp_buckets"))
        s = {
            "t_s": round(t, 1), "phase": r["phase"],
            "rss_mb": round(num(r["rss_kb"]) / 1024, 2) if num(r["rss_kb"]) is not None else None,
            "fds": int(num(r["fds"])) if num(r["fds"]) is not None else None,
            "threads": int(num(r["threads"])) if num(r["threads"]) is not None else None,
            "cpu_pct": None,
            "store_bytes": int(db + wal + shm), "store_db_bytes": int(db), "store_wal_bytes": int(wal),
            "active_calls": num(r["active"]), "calls_started": num(r["started"]), "calls_ended": num(r["ended"]),
            "turns": num(r["turns"]), "websockets_open": num(r["ws"]),
            "response_p99_ms": None, "response_mean_ms": None, "gateway_mean_us": None,
        }
        s["_cpu"], s["_buckets"] = num(r["cpu_ticks"]), buckets
        s["_resp"] = (num(r["resp_sum"]), num(r["resp_count"]))
        s["_gw"] = (num(r["gw_sum"]), num(r["gw_count"]))
        if prev is not None:
            dt = t - prev["_t"]
            if dt > 0 and s["_cpu"] is not None and prev["_cpu"] is not None:
                s["cpu_pct"] = round(100 * (s["_cpu"] - prev["_cpu"]) / hz / dt, 1)
            p99 = hist_quantile(buckets, prev["_buckets"], 0.99)
            s["response_p99_ms"] = round(1000 * p99, 1) if p99 is not None else None
            (rs, rc), (ps, pc) = s["_resp"], prev["_resp"]
            if None not in (rs, rc, ps, pc) and rc > pc:
                s["response_mean_ms"] = round(1000 * (rs - ps) / (rc - pc), 1)
            (gs, gc), (qs, qc) = s["_gw"], prev["_gw"]
            if None not in (gs, gc, qs, qc) and gc > qc:
                s["gateway_mean_us"] = round(1e6 * (gs - qs) / (gc - qc), 1)
        s["_t"] = t
        samples.append(s)
        prev = s

    load = [s for s in samples if s["phase"] == "load"]
    warm = [s for s in load if s["t_s"] <= warmup_s] or load[:1]
    later = [s for s in load if s["t_s"] > warmup_s]
    tail = [s for s in later if s["t_s"] >= tail_from_s] or later[-1:]
    idle = [s for s in samples if s["phase"] == "idle"]
    idle_before, idle_after = (idle[0], idle[-1]) if len(idle) >= 2 else (None, None)

    # --- the batches -------------------------------------------------------------------
    batches = []
    for r in read_tsv(os.path.join(work, "batches.tsv")):
        b = {"index": int(r["index"]), "start_s": round(float(r["start_ms"]) / 1000, 1),
             "end_s": round(float(r["end_ms"]) / 1000, 1) if r["end_ms"] else None,
             "exit_code": int(r["rc"]) if r["rc"] else None, "calls": calls}
        try:
            with open(os.path.join(work, "batches", f"{b['index']}.json")) as f:
                rep = json.load(f)
            b.update({
                "ok": rep["ok"], "failed": rep["failed"], "wall_s": round(rep["wall_s"], 1),
                "peak_concurrent": rep["peak_concurrent_calls"], "turns": rep["turns"],
                "reply_p50_ms": round(rep["reply_latency_ms"]["p50"], 1),
                "reply_p99_ms": round(rep["reply_latency_ms"]["p99"], 1),
                "server_response_p99_ms": round(rep["server_response_ms"]["p99"], 1),
                "errors": rep.get("errors", [])[:5],
            })
        except (OSError, ValueError, KeyError):
            b.update({"ok": 0, "failed": calls, "errors": ["no report: the batch was killed or crashed"]})
        batches.append(b)

    # --- the checks ----------------------------------------------------------------------
    checks = []

    def check(name, unit, base, end, limit, rule, digits=1):
        ok = base is None or end is None or end <= limit
        checks.append({"series": name, "unit": unit, "baseline": base, "end": end, "limit": limit,
                       "rule": rule, "pass": ok, "digits": digits})

    def series(key, which):
        return [s[key] for s in which if s[key] is not None]

    def slope_per_hour(key, scale=1.0):
        """Least-squares slope of a series over the samples after the warm-up, per hour."""
        pts = [(s["t_s"], s[key] * scale) for s in later if s[key] is not None]
        if len(pts) < 3:
            return None
        mt = sum(t for t, _ in pts) / len(pts)
        mv = sum(v for _, v in pts) / len(pts)
        den = sum((t - mt) ** 2 for t, _ in pts)
        return 3600 * sum((t - mt) * (v - mv) for t, v in pts) / den if den else None

    base = max(series("rss_mb", warm), default=None)
    end = median(series("rss_mb", tail))
    if base is not None:
        check("RSS", "MiB", base, end, base * (1 + bounds["rss_growth_pct"] / 100) + bounds["rss_growth_mb"],
              f"end <= warm-up max x (1 + {bounds['rss_growth_pct']:g} %) + {bounds['rss_growth_mb']:g} MiB")
    base = max(series("fds", warm), default=None)
    end = median(series("fds", tail))
    if base is not None:
        check("open FDs", "", base, end, base * (1 + bounds["fd_growth_pct"] / 100) + bounds["fd_growth"],
              f"end <= warm-up max x (1 + {bounds['fd_growth_pct']:g} %) + {bounds['fd_growth']:g}", 0)
    base = max(series("threads", warm), default=None)
    end = median(series("threads", tail))
    if base is not None:
        check("threads", "", base, end, base + bounds["thread_growth"],
              f"end <= warm-up max + {bounds['thread_growth']:g}", 0)
    # The store: what it grew by after the warm-up, against what the calls ended since then
    # explain, at every later sample and the final idle one (every record is in by then).
    # Shown: the worst sample if one is over, else the last.
    if warm:
        ref, rows_ = warm[-1], []
        for s in later + ([idle_after] if idle_after else []):
            if s["calls_ended"] is None or ref["calls_ended"] is None:
                continue
            grew = (s["store_bytes"] - ref["store_bytes"]) / 2**20
            allowed = (s["calls_ended"] - ref["calls_ended"]) * bounds["store_kb_per_call"] / 1024 + bounds["store_slack_mb"]
            rows_.append((grew - allowed, grew, allowed, s))
        if rows_:
            over = max(rows_, key=lambda r: r[0])
            _, grew, allowed, s = over if over[0] > 0 else rows_[-1]
            check("store growth", "MiB", 0.0, grew, allowed,
                  f"growth since warm-up <= calls ended since x {bounds['store_kb_per_call']:g} KiB + "
                  f"{bounds['store_slack_mb']:g} MiB (at {s['t_s']:.0f} s: {s['calls_ended'] - ref['calls_ended']:.0f} "
                  f"calls ended, {1024 * grew / max(1, s['calls_ended'] - ref['calls_ended']):.1f} KiB each)", 2)
    # Latency: the callers' reply latency p99 of each batch (exact, from voxbridge loadtest).
    done = [b for b in batches if b.get("reply_p99_ms") is not None]
    warm_b = [b for b in done if b["start_s"] < warmup_s] or done[:1]
    tail_b = [b for b in done if b["start_s"] >= tail_from_s and b not in warm_b] or \
             [b for b in done[-1:] if b not in warm_b]
    if warm_b and tail_b:
        base = max(b["reply_p99_ms"] for b in warm_b)
        end = median([b["reply_p99_ms"] for b in tail_b])
        check("reply p99 (caller)", "ms", base, end,
              base * (1 + bounds["p99_growth_pct"] / 100) + bounds["p99_growth_ms"],
              f"end <= warm-up max x (1 + {bounds['p99_growth_pct']:g} %) + {bounds['p99_growth_ms']:g} ms")
    total_calls = sum(b["calls"] for b in batches)
    failed = sum(b.get("failed", 0) for b in batches)
    check("failed calls", "", 0, failed, math.floor(total_calls * bounds["failed_max_pct"] / 100),
          f"failed <= {bounds['failed_max_pct']:g} % of {total_calls} calls", 0)

    if not later:
        print(f"soak: no sample after the warm-up ({warmup_s:.0f} s): nothing to compare RSS, FDs and threads "
              f"against; run longer", file=sys.stderr)
    passed = all(c["pass"] for c in checks)
    active_later = series("active_calls", later)
    slopes = {"rss_mb": slope_per_hour("rss_mb"), "fds": slope_per_hour("fds"),
              "threads": slope_per_hour("threads"), "store_mb": slope_per_hour("store_bytes", 2**-20)}
    summary = {
        "pass": passed,
        "slope_per_hour_after_warmup": {k: round(v, 2) if v is not None else None for k, v in slopes.items()},
        "warmup_s": round(warmup_s, 1), "tail_from_s": round(tail_from_s, 1),
        "batches": len(batches), "calls": total_calls, "calls_failed": failed,
        "live_calls_median": median(active_later), "live_calls_max": max(active_later, default=None),
        "server_cpu_pct_median": median(series("cpu_pct", later)),
        "checks": [{k: v for k, v in c.items() if k != "digits"} for c in checks],
        "idle_before": {k: idle_before[k] for k in ("rss_mb", "fds", "threads", "store_bytes")} if idle_before else None,
        "idle_after": {k: idle_after[k] for k in ("rss_mb", "fds", "threads", "store_bytes")} if idle_after else None,
    }
    config = {
        "calls": calls, "seconds": duration, "sample_s": sample_s, "period_s": period_s,
        "lines": int(env_num("SOAK_LINES")), "ttfb_ms": env_num("SOAK_TTFB_MS"),
        "stt_delay_ms": env_num("SOAK_STT_DELAY_MS"), "server_threads": int(env_num("SOAK_THREADS")),
        "binary": os.environ.get("SOAK_BIN", ""), "started_at": os.environ.get("SOAK_STARTED_AT", ""),
    }
    for s in samples:
        for k in [k for k in s if k.startswith("_")]:
            del s[k]
    report = {"config": config, "bounds": bounds, "samples": samples, "batches": batches, "summary": summary}
    with open(os.path.join(out, "soak.json"), "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    with open(os.path.join(out, "soak.html"), "w") as f:
        f.write(render_html(report, checks))

    # --- the table -----------------------------------------------------------------------
    print(f"\nsoak: {total_calls} calls in {len(batches)} batches over {duration:g} s, {failed} failed; "
          f"live calls after warm-up: median {fmt(summary['live_calls_median'], 0)}, "
          f"max {fmt(summary['live_calls_max'], 0)}; server CPU median {fmt(summary['server_cpu_pct_median'], 0)} %")
    print(f"warm-up: first {warmup_s:.0f} s (baseline = its max); end = median from {tail_from_s:.0f} s on")
    print(f"{'series':<20} {'baseline':>10} {'end':>10} {'limit':>10}  result")
    for c in checks:
        d = c["digits"]
        print(f"{c['series']:<20} {fmt(c['baseline'], d):>10} {fmt(c['end'], d):>10} {fmt(c['limit'], d):>10}  "
              f"{'ok' if c['pass'] else 'FAIL'}  {c['unit']}")
    print("trend after the warm-up (least squares, per hour): " + ", ".join(
        f"{name} {fmt(slopes[key], 1)}{unit}" for name, key, unit in
        (("RSS", "rss_mb", " MiB"), ("FDs", "fds", ""), ("threads", "threads", ""), ("store", "store_mb", " MiB"))))
    if idle_before and idle_after:
        print(f"idle before/after: RSS {idle_before['rss_mb']:.1f}/{idle_after['rss_mb']:.1f} MiB, "
              f"FDs {idle_before['fds']}/{idle_after['fds']}, threads {idle_before['threads']}/{idle_after['threads']}, "
              f"store {idle_before['store_bytes'] / 2**20:.2f}/{idle_after['store_bytes'] / 2**20:.2f} MiB")
    for c in checks:
        if not c["pass"]:
            d = c["digits"]
            u = f" {c['unit']}" if c["unit"] else ""
            print(f"soak: FAIL: {c['series']}: {fmt(c['end'], d)}{u} at the end against a baseline of "
                  f"{fmt(c['baseline'], d)}{u}, over the bound of {fmt(c['limit'], d)}{u} ({c['rule']})",
                  file=sys.stderr)
    print(f"soak: {'PASS' if passed else 'FAIL'}; wrote {os.path.join(out, 'soak.json')} and {os.path.join(out, 'soak.html')}")
    return 0 if passed else 1


# --- HTML ----------------------------------------------------------------------------------

def nice_ticks(lo, hi, n=5):
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    first = math.ceil(lo / step) * step
    ticks, v = [], first
    while v <= hi + 1e-9:
        ticks.append(round(v, 10))
        v += step
    return ticks


def chart(title, unit, lines, t_max, warmup_s, marks=(), points=()):
    """An SVG line chart. lines: [(label, colour, [(t, v), ...])]; marks: horizontal
    lines [(label, colour, value)]; points: [(label, colour, [(t, v), ...])] drawn as dots."""
    W, H, L, R, T, B = 760, 220, 60, 20, 24, 34
    pw, ph = W - L - R, H - T - B
    values = [v for _, _, pts in list(lines) + list(points) for _, v in pts if v is not None]
    values += [v for _, _, v in marks if v is not None]
    if not values:
        return f"<h2>{html.escape(title)}</h2><p>No data.</p>"
    lo, hi = min(values), max(values)
    # From zero unless the series lives far above it (memory): then zoomed in, so growth shows.
    lo = min(0.0, lo) if lo <= 0.5 * hi else lo - 0.1 * (hi - lo) - 0.01 * hi
    if hi <= lo:
        hi = lo + 1
    hi += (hi - lo) * 0.05
    t_max = max(t_max, 1.0)
    x = lambda t: L + pw * t / t_max
    y = lambda v: T + ph * (1 - (v - lo) / (hi - lo))
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img">',
         f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ccc"/>',
         f'<rect x="{L}" y="{T}" width="{x(min(warmup_s, t_max)) - L:.1f}" height="{ph}" fill="#eee">'
         f'<title>warm-up</title></rect>']
    for v in nice_ticks(lo, hi):
        s.append(f'<line x1="{L}" x2="{L + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e2e2e2"/>'
                 f'<text x="{L - 4}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11">{v:g}</text>')
    for t in nice_ticks(0, t_max, 8):
        s.append(f'<text x="{x(t):.1f}" y="{T + ph + 14}" text-anchor="middle" font-size="11">{t:g}</text>')
    s.append(f'<text x="{L + pw}" y="{H - 4}" text-anchor="end" font-size="11">time (s)</text>')
    s.append(f'<text x="{L}" y="{T - 8}" font-size="11">{html.escape(unit)}</text>')
    legend_x = L + 60
    for label, colour, value in marks:
        if value is None:
            continue
        s.append(f'<line x1="{L}" x2="{L + pw}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="{colour}" '
                 f'stroke-dasharray="6 4"><title>{html.escape(label)}: {value:g}</title></line>')
    for label, colour, pts in lines:
        segs, cur = [], []
        for t, v in pts:
            if v is None:
                if cur:
                    segs.append(cur)
                cur = []
            else:
                cur.append(f"{x(t):.1f},{y(v):.1f}")
        if cur:
            segs.append(cur)
        for seg in segs:
            if len(seg) == 1:
                cx, cy = seg[0].split(",")
                s.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{colour}"/>')
            else:
                s.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{" ".join(seg)}"/>')
    for label, colour, pts in points:
        for t, v in pts:
            if v is not None:
                s.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}">'
                         f'<title>{html.escape(label)} at {t:g} s: {v:g}</title></circle>')
    for label, colour, _ in list(lines) + list(points) + [(l, c, None) for l, c, v in marks if v is not None]:
        s.append(f'<text x="{legend_x}" y="{T - 8}" font-size="11" fill="{colour}">{html.escape(label)}</text>')
        legend_x += 8 + 6.5 * len(label)
    s.append("</svg>")
    return f"\n<h2>{html.escape(title)}</h2>\n" + "\n".join(s)


def render_html(report, checks):
    c, summ, samples, batches = report["config"], report["summary"], report["samples"], report["batches"]
    t_max = max([s["t_s"] for s in samples] + [0])
    warm = summ["warmup_s"]
    by = {ch["series"]: ch for ch in checks}

    def pts(key, scale=1.0):
        return [(s["t_s"], s[key] * scale if s[key] is not None else None) for s in samples]

    def marks(name):
        ch = by.get(name)
        if not ch:
            return []
        return [("baseline", "#888", ch["baseline"]), ("limit", "#d04a4a", ch["limit"])]

    verdict = "PASS" if summ["pass"] else "FAIL"
    colour = "#2a7a2a" if summ["pass"] else "#c02020"
    h = ['<!DOCTYPE html><html><head><meta charset="utf-8"><title>voxbridge soak</title>',
         "<style>body{font-family:sans-serif;margin:2em;max-width:60em}td,th{padding:2px 10px;text-align:right}"
         "th:first-child,td:first-child{text-align:left}table{border-collapse:collapse}"
         "tr:nth-child(even){background:#f4f4f4}h2{font-size:1.1em;margin-top:1.6em}</style></head><body>",
         f'<h1>voxbridge soak: <span style="color:{colour}">{verdict}</span></h1>',
         f"<p>{c['calls']} calls kept going for {c['seconds']:g} s (a batch of {c['calls']} every "
         f"{c['period_s']:g} s, each ramped over that period), {c['lines']} lines a call, provider delays "
         f"{c['ttfb_ms']:g} ms TTS first byte and {c['stt_delay_ms']:g} ms STT (the ElevenLabs emulator), "
         f"{c['server_threads']} server thread(s); sampled every {c['sample_s']:g} s. "
         f"{summ['calls']} calls in {summ['batches']} batches, {summ['calls_failed']} failed; live calls after "
         f"the warm-up: median {fmt(summ['live_calls_median'], 0)}, max {fmt(summ['live_calls_max'], 0)}. "
         f"Started {html.escape(c['started_at'])}.</p>",
         f"<p>Warm-up (shaded): the first {warm:g} s; baseline = its maximum; end = the median from "
         f"{summ['tail_from_s']:g} s on.</p>",
         "<table><tr><th>series</th><th>baseline</th><th>end</th><th>limit</th><th>result</th><th>rule</th></tr>"]
    for ch in checks:
        d = ch["digits"]
        res = "ok" if ch["pass"] else '<b style="color:#c02020">FAIL</b>'
        h.append(f"<tr><td>{html.escape(ch['series'])} {html.escape(ch['unit'])}</td><td>{fmt(ch['baseline'], d)}</td>"
                 f"<td>{fmt(ch['end'], d)}</td><td>{fmt(ch['limit'], d)}</td><td>{res}</td>"
                 f"<td style='text-align:left'>{html.escape(ch['rule'])}</td></tr>")
    h.append("</table>")
    sl = summ["slope_per_hour_after_warmup"]
    h.append(f"<p>Trend after the warm-up (least-squares slope, per hour): RSS {fmt(sl['rss_mb'])} MiB, "
             f"FDs {fmt(sl['fds'])}, threads {fmt(sl['threads'])}, store {fmt(sl['store_mb'])} MiB.</p>")
    if summ["idle_before"] and summ["idle_after"]:
        a, b = summ["idle_before"], summ["idle_after"]
        h.append(f"<p>Idle before / after the load: RSS {a['rss_mb']:.1f} / {b['rss_mb']:.1f} MiB, FDs {a['fds']} / "
                 f"{b['fds']}, threads {a['threads']} / {b['threads']}, store {a['store_bytes'] / 2**20:.2f} / "
                 f"{b['store_bytes'] / 2**20:.2f} MiB.</p>")
    h.append(chart("Resident memory", "MiB", [("RSS", "#4a9a4a", pts("rss_mb"))], t_max, warm, marks("RSS")))
    h.append(chart("Open file descriptors", "count", [("FDs", "#4a7bd0", pts("fds"))], t_max, warm, marks("open FDs")))
    h.append(chart("Threads", "count", [("threads", "#9a4a9a", pts("threads"))], t_max, warm, marks("threads")))
    h.append(chart("Call store (SQLite db + -wal + -shm)", "MiB",
                   [("total", "#b07020", pts("store_bytes", 2**-20)), ("-wal", "#d0a060", pts("store_wal_bytes", 2**-20)),
                    ("db", "#805010", pts("store_db_bytes", 2**-20))], t_max, warm))
    h.append(chart("Live calls (voxbridge_active_calls)", "calls", [("live calls", "#4a7bd0", pts("active_calls"))],
                   t_max, warm, [("target", "#888", float(c["calls"]))]))
    h.append(chart("Server CPU", "% of one core", [("CPU", "#d04a4a", pts("cpu_pct"))], t_max, warm))
    rp = [(b["end_s"] if b["end_s"] is not None else b["start_s"], b.get("reply_p99_ms")) for b in batches]
    h.append(chart("Reply latency p99, caller side, per batch (at its end)", "ms", [], t_max, warm,
                   marks("reply p99 (caller)"), [("reply p99 per batch", "#d04a4a", rp)]))
    h.append(chart("Server response stage (utterance decided to first reply frame), per sample interval", "ms",
                   [("p99 (from the /metrics histogram buckets)", "#d04a4a", pts("response_p99_ms")),
                    ("mean", "#4a7bd0", pts("response_mean_ms"))], t_max, warm))
    h.append("<h2>Batches</h2><table><tr><th>batch</th><th>start s</th><th>end s</th><th>ok</th><th>failed</th>"
             "<th>peak live</th><th>reply p50 ms</th><th>reply p99 ms</th><th>server response p99 ms</th></tr>")
    for b in batches:
        h.append(f"<tr><td>{b['index']}</td><td>{fmt(b['start_s'], 0)}</td><td>{fmt(b['end_s'], 0)}</td>"
                 f"<td>{b.get('ok', '-')}</td><td>{b.get('failed', '-')}</td><td>{b.get('peak_concurrent', '-')}</td>"
                 f"<td>{fmt(b.get('reply_p50_ms'), 0)}</td><td>{fmt(b.get('reply_p99_ms'), 0)}</td>"
                 f"<td>{fmt(b.get('server_response_p99_ms'), 0)}</td></tr>")
    h.append("</table>")
    h.append('<script type="application/json" id="soak-data">' + json.dumps(report).replace("</", "<\\/") + "</script>")
    h.append("</body></html>\n")
    return "\n".join(h)


if __name__ == "__main__":
    sys.exit(main())
