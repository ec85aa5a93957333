"""Shared views of profile runs: a label per run and per-(phase, op) and per-(phase, layer, op) totals."""
from collections import OrderedDict


def run_labels(profiles):
    labels, seen = [], {}
    for p in profiles:
        r = p.run
        base = f"{r['kernels']} t={r['threads']} {r['model'].get('name', '?')}"
        seen[base] = seen.get(base, 0) + 1
        labels.append(base if seen[base] == 1 else f"{base} #{seen[base]}")
    return labels


def op_order(layers):
    order = OrderedDict()
    for rec in layers:
        order.setdefault(rec["op"], None)
    return list(order)


def decode_steps(p):
    return max(1, len({rec["step"] for rec in p.layers if rec["phase"] == "decode"}))


def totals(p, key):
    """Sums of calls, ns, bytes, flops and roof times per key(record), in first-seen order."""
    out = OrderedDict()
    for rec in p.layers:
        k = key(rec)
        t = out.setdefault(k, {"calls": 0, "ns": 0, "bytes": 0.0, "flops": 0.0, "memory_roof_s": 0.0,
                               "compute_roof_s": 0.0, "roof": None})
        t["calls"] += 1
        t["ns"] += rec["ns"]
        t["bytes"] += rec["bytes"]
        t["flops"] += rec["flops"]
        roof = rec.get("roof")
        if roof:
            if roof.get("memory_gbps"):
                t["memory_roof_s"] += rec["bytes"] / (roof["memory_gbps"] * 1e9)
            if roof.get("compute_gflops"):
                t["compute_roof_s"] += rec["flops"] / (roof["compute_gflops"] * 1e9)
            t["roof"] = (roof["compute"], roof["compute_gflops"], roof["memory"], roof["memory_gbps"])
    return out
