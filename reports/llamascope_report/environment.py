"""Environment: the machine, build and library versions of every run included, the measured roofs, and
links to the raw record files (copied next to the report so the links work offline)."""
import os
import shutil

from .section import Section, Table, fmt_num


def copy_inputs(inputs, out_dir):
    """Copies every input under data/; returns {source path: relative link}."""
    os.makedirs(os.path.join(out_dir, "data"), exist_ok=True)
    links, used = {}, set()
    for i, (path, _) in enumerate(inputs.files):
        name = os.path.basename(path)
        if name in used:
            name = f"{i}-{name}"
        used.add(name)
        shutil.copyfile(path, os.path.join(out_dir, "data", name))
        links[path] = "data/" + name
    return links


def _env_row(env):
    cpu = env.get("cpu", {})
    build = env.get("build", {})
    git = build.get("git", {}) or {}
    libs = env.get("libraries", {}) or {}
    rev = (git.get("revision") or "?") + (" (dirty)" if git.get("dirty") else "")
    return [cpu.get("model", "?"), str(cpu.get("logical_cpus", "?")), " ".join(cpu.get("isa", [])),
            env.get("os", {}).get("distribution", "?"), build.get("compiler", "?"), build.get("build_type", "?"),
            rev, ", ".join(f"{k} {v}" for k, v in sorted(libs.items()) if v is not None)]


def build(inputs, out_dir, options, links):
    sec = Section("environment", "Environment")
    header = ["CPU", "CPUs", "ISA", "OS", "compiler", "build", "revision", "libraries"]
    envs = {}
    for r in inputs.bench + [p.run for p in inputs.profiles]:
        if isinstance(r.get("environment"), dict):
            row = _env_row(r["environment"])
            envs.setdefault(tuple(row), []).append(r["run_id"])
    if envs:
        sec.tables.append(Table(header + ["runs"], [list(k) + [", ".join(sorted(set(v)))] for k, v in envs.items()],
                                "Machine and build of every run"))
    machines = list(inputs.machines) + [p.run["roofs"] for p in inputs.profiles if p.run.get("roofs")]
    seen = set()
    for m in machines:
        key = (m.get("cpu"), m.get("measured_at"))
        if key in seen:
            continue
        seen.add(key)
        rows = [[x["level"], fmt_num(x["gbps_1"]), fmt_num(x["gbps_n"])] for x in m["memory"]]
        rows += [[c["name"] + f" ({c.get('instruction', '')})", fmt_num(c["gflops_1"]), fmt_num(c["gflops_n"])]
                 for c in m["compute"]]
        load = " ".join(f"{v:.2f}" for v in m.get("loadavg", []))
        sec.tables.append(Table(["roof", "1 thread (GB/s or GOP/s)", f"{m['threads']} threads"], rows,
                                f"Roofs of {m.get('cpu', '?')} measured {m.get('measured_at', '?')} "
                                f"(load average {load or '?'})"))
    sec.paragraphs.append("Raw data (copies of the inputs):")
    for path, counts in inputs.files:
        what = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no usable records"
        sec.links.append((f"{os.path.basename(path)} ({what})", links[path]))
    return sec
