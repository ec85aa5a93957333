#!/usr/bin/env python3
"""Writes the fuzz seed corpora (tests/fuzz/corpus/NAME/) from the bundled files, kept small: a GGUF's
metadata and tensor table cut before its data, a tiny but complete GGUF model re-using stories260K's
metadata, a tiny llama2.c checkpoint, tok512.bin, tokenizer test strings, and the golden JSON files.
Run from the repository root: /usr/bin/python3 tests/fuzz/make_seeds.py
`make_seeds.py --records LLAMASCOPE` writes only the result-record seeds (gate_records, history_records)
with a built binary: real bench and profile JSONL of short runs on stories260K-f32.gguf, cut to a few
lines each."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

GOLDEN = "golden"
OUT = "tests/fuzz/corpus"

SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.data[self.pos:self.pos + n]
        self.pos += n
        return s

    def value(self, t):
        if t in SCALARS:
            return self.take(SCALARS[t])
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("<I"), self.take("<Q")
            return (et, [self.value(et) for _ in range(n)])
        raise ValueError(t)


def read_gguf(path):
    r = Reader(open(path, "rb").read())
    assert r.data[:4] == b"GGUF"
    r.pos = 4
    version, n_tensors, n_kv = r.take("<I"), r.take("<Q"), r.take("<Q")
    kvs = []
    for _ in range(n_kv):
        key = r.string()
        t = r.take("<I")
        kvs.append((key, t, r.value(t)))
    tensors = []
    for _ in range(n_tensors):
        name = r.string()
        dims = [r.take("<Q") for _ in range(r.take("<I"))]
        tensors.append((name, dims, r.take("<I"), r.take("<Q")))
    return version, kvs, tensors, r.pos, r.data


def put_value(t, v):
    if t in SCALARS:
        return struct.pack(SCALARS[t], v)
    if t == 8:
        return struct.pack("<Q", len(v)) + v
    et, items = v
    return struct.pack("<IQ", et, len(items)) + b"".join(put_value(et, x) for x in items)


def write_gguf(path, kvs, tensors):
    """tensors: (name, dims, F32 values)."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for key, t, v in kvs:
        out += struct.pack("<Q", len(key)) + key + struct.pack("<I", t) + put_value(t, v)
    offset, blobs = 0, []
    for name, dims, values in tensors:
        out += struct.pack("<Q", len(name)) + name + struct.pack("<I", len(dims))
        out += b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", 0, offset)
        blob = struct.pack(f"<{len(values)}f", *values)
        blob += b"\0" * (-len(blob) % 32)
        blobs.append(blob)
        offset += len(blob)
    out += b"\0" * (-len(out) % 32)
    open(path, "wb").write(out + b"".join(blobs))


def values(n, seed):
    return [((i * 2654435761 + seed) % 1000) / 1000.0 - 0.5 for i in range(n)]


def gguf_seeds():
    d = os.path.join(OUT, "gguf")
    _, kvs, tensors, data_offset, data = read_gguf(os.path.join(GOLDEN, "models/stories260K-f32.gguf"))
    open(os.path.join(d, "stories260K-head.gguf"), "wb").write(data[:data_offset])
    # A whole model in a few kilobytes: stories260K's metadata with dim 8, one layer, 2 heads and a
    # 32-token vocabulary.
    small = {b"llama.embedding_length": 8, b"llama.feed_forward_length": 16, b"llama.block_count": 1,
             b"llama.attention.head_count": 2, b"llama.attention.head_count_kv": 2, b"llama.context_length": 16,
             b"llama.rope.dimension_count": 4}
    n_vocab = 32
    new_kvs = []
    for key, t, v in kvs:
        if key in small:
            v = small[key]
        elif t == 9 and key.startswith(b"tokenizer.ggml."):
            v = (v[0], v[1][:n_vocab])
        new_kvs.append((key, t, v))
    shapes = {"token_embd.weight": [8, n_vocab], "output_norm.weight": [8], "output.weight": [8, n_vocab],
              "attn_norm.weight": [8], "attn_q.weight": [8, 8], "attn_k.weight": [8, 8],
              "attn_v.weight": [8, 8], "attn_output.weight": [8, 8], "ffn_norm.weight": [8],
              "ffn_gate.weight": [8, 16], "ffn_down.weight": [16, 8], "ffn_up.weight": [8, 16]}
    new_tensors = []
    for i, (name, _, _, _) in enumerate(tensors):
        n = name.decode()
        if n.startswith("blk.") and not n.startswith("blk.0."):
            continue
        dims = shapes[n.split(".", 2)[-1] if n.startswith("blk.") else n]
        count = 1
        for x in dims:
            count *= x
        new_tensors.append((name, dims, values(count, i)))
    write_gguf(os.path.join(d, "tiny-model.gguf"), new_kvs, new_tensors)


def llama2c_seeds():
    d = os.path.join(OUT, "llama2c_checkpoint")
    head = open(os.path.join(GOLDEN, "models/stories260K.bin"), "rb").read()[:4096]
    open(os.path.join(d, "stories260K-head.bin"), "wb").write(head)
    for name, vocab in (("tiny-shared.bin", 512), ("tiny-unshared.bin", -512)):
        dim, hidden, layers, heads, kv, seq = 8, 16, 1, 2, 2, 16
        v = abs(vocab)
        head_size = dim // heads
        n = v * dim + layers * (dim + dim * dim + 2 * dim * kv * head_size + dim * dim + dim + 3 * dim * hidden)
        n += dim + seq * head_size  # final norm, the legacy freq_cis_real/imag halves
        if vocab < 0:
            n += v * dim
        body = struct.pack("<7i", dim, hidden, layers, heads, kv, vocab, seq)
        open(os.path.join(d, name), "wb").write(body + struct.pack(f"<{n}f", *values(n, 7)))
    shutil.copy(os.path.join(GOLDEN, "models/tok512.bin"), os.path.join(OUT, "llama2c_tokenizer", "tok512.bin"))
    # The tokenizer target reads its first byte as the vocabulary-size choice (0 = 512).
    tok = open(os.path.join(GOLDEN, "models/tok512.bin"), "rb").read()
    open(os.path.join(OUT, "llama2c_tokenizer", "tok512-as-512.bin"), "wb").write(b"\0" + tok)


def text_seeds():
    for target, source in (("tokenizer_spm", "ggml-vocab-llama-spm.gguf.inp"),
                           ("tokenizer_bpe", "ggml-vocab-gpt-2.gguf.inp")):
        text = open(os.path.join(GOLDEN, "tokenizer", source), "rb").read()
        for i, piece in enumerate(text.split(b"\n__ggml_vocab_test__\n")):
            if piece:
                open(os.path.join(OUT, target, f"vector-{i:02d}.txt"), "wb").write(piece)


def json_seeds():
    shutil.copy(os.path.join(GOLDEN, "llamacpp/manifest.json"), os.path.join(OUT, "golden_manifest"))
    shutil.copy(os.path.join(GOLDEN, "tolerances.json"), os.path.join(OUT, "golden_tolerances"))
    cache = {"/tmp/model.gguf|3|1700000000.000000000": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}
    open(os.path.join(OUT, "json_cache", "sha256.json"), "w").write(json.dumps(cache, indent=1) + "\n")
    roofs = {"Intel(R) Xeon(R) CPU x2": {
        "schema": "llamascope.machine/1", "cpu": "Intel(R) Xeon(R) CPU", "threads": 2,
        "memory": [{"level": "L1d", "capacity_bytes": 49152, "shared_by": 1, "working_set_bytes": 24576,
                    "gbps_1": 400.0, "gbps_n": 800.0},
                   {"level": "DRAM", "capacity_bytes": 0, "shared_by": 2, "working_set_bytes": 536870912,
                    "gbps_1": 20.5, "gbps_n": 30.0}],
        "compute": [{"name": "fp32_fma", "instruction": "vfmadd ps ymm", "gflops_1": 75.0, "gflops_n": 150.0}],
        "measured_at": "2026-11-30T00:00:00Z", "loadavg": [0.1, 0.2, 0.3], "source": "measured"}}
    open(os.path.join(OUT, "json_cache", "machine-roofs.json"), "w").write(json.dumps(roofs, indent=1) + "\n")


def result_record_seeds(llamascope):
    model = os.path.join(GOLDEN, "models/stories260K-f32.gguf")
    with tempfile.TemporaryDirectory() as tmp:
        bench, profile = os.path.join(tmp, "bench.jsonl"), os.path.join(tmp, "profile.jsonl")
        # --bandwidth/--peak-gflops given: no machine measurement, no cache file written.
        subprocess.run([llamascope, "bench", "-m", model, "-t", "1", "-p", "4", "-n", "4", "-r", "3",
                        "--warmup", "0", "-o", "jsonl", "--out", bench, "--bandwidth", "10", "--no-progress"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([llamascope, "profile", "-m", model, "-p", "3", "-n", "2", "--jsonl", profile,
                        "--bandwidth", "10", "--peak-gflops", "100"], check=True, stdout=subprocess.DEVNULL)
        bench_lines = open(bench).read().splitlines(keepends=True)
        profile_lines = open(profile).read().splitlines(keepends=True)
    records = [json.loads(line) for line in profile_lines]
    # A profile run cut short but still whole: its profile/1 line, the step/1 lines, and for each phase the
    # first two steps' records of the whole-model ops (layer -1) and of layers 0 and 1.
    kept = [line for line, r in zip(profile_lines, records)
            if r["schema"] != "llamascope.layer/2" or (r["step"] < 2 and r["layer"] < 2)]
    profile_head = "".join(kept[:40])
    for target in ("gate_records", "history_records"):
        d = os.path.join(OUT, target)
        open(os.path.join(d, "bench.jsonl"), "w").write("".join(bench_lines))
        open(os.path.join(d, "profile-head.jsonl"), "w").write(profile_head)
        open(os.path.join(d, "bench-and-profile.jsonl"), "w").write(bench_lines[0] + profile_head)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--records":
        for name in ("gate_records", "history_records"):
            shutil.rmtree(os.path.join(OUT, name), ignore_errors=True)
            os.makedirs(os.path.join(OUT, name))
        result_record_seeds(sys.argv[2])
        sys.exit(0)
    for name in ("gguf", "llama2c_checkpoint", "llama2c_tokenizer", "tokenizer_spm", "tokenizer_bpe",
                 "golden_manifest", "golden_tolerances", "json_cache"):
        shutil.rmtree(os.path.join(OUT, name), ignore_errors=True)
        os.makedirs(os.path.join(OUT, name))
    gguf_seeds()
    llama2c_seeds()
    text_seeds()
    json_seeds()
