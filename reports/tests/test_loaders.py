"""Unit tests of the report's loaders and roof rule (run by tests/cli/report_python_units.sh)."""
import io
import json
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stderr

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from llamascope_report import loaders, roofline  # noqa: E402

BENCH = {"schema": "llamascope.bench/1", "run_id": "r", "test": "pp8", "kernels": "simd", "threads": 1,
         "tokens_per_second": {"median": 10.0}, "model": {"name": "m"}, "environment": {}}


class LoaderTest(unittest.TestCase):
    def write(self, text):
        f = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False)
        f.write(text)
        f.close()
        self.addCleanup(os.unlink, f.name)
        return f.name

    def load(self, text):
        path = self.write(text)
        err = io.StringIO()
        with redirect_stderr(err):
            inputs = loaders.load_files([path])
        return path, inputs, err.getvalue().splitlines()

    def test_each_bad_line_is_reported_once_with_its_line_and_skipped(self):
        lines = [json.dumps(BENCH), "{broken", json.dumps(dict(BENCH, schema="llamascope.bench/2")), "[1, 2]",
                 json.dumps({k: v for k, v in BENCH.items() if k != "model"}),
                 json.dumps(dict(BENCH, tokens_per_second={"median": "fast"})), json.dumps(BENCH)]
        path, inputs, err = self.load("\n".join(lines) + "\n")
        self.assertEqual(len(inputs.bench), 2)
        self.assertEqual(inputs.skipped, 5)
        self.assertEqual(len(err), 5)
        for line, what in ((2, "not JSON"), (3, "unknown schema 'llamascope.bench/2'"), (4, "not a JSON object"),
                           (5, "without its required fields"), (6, "without its required fields")):
            self.assertEqual(sum(f"{path}:{line}: " in e and what in e for e in err), 1, err)

    def test_layer_records_join_their_profile_run_and_orphans_are_skipped(self):
        run = {"schema": "llamascope.profile/1", "run_id": "a", "kernels": "simd", "threads": 1, "model": {},
               "n_gen": 1}
        layer = {"schema": "llamascope.layer/2", "run_id": "a", "phase": "decode", "step": 1, "layer": 0,
                 "op": "attn_add", "ns": 5, "bytes": 12.0, "flops": 1.0}
        _, inputs, err = self.load("\n".join(json.dumps(r) for r in (run, layer, dict(layer, run_id="b"))))
        self.assertEqual(len(inputs.profiles), 1)
        self.assertEqual(len(inputs.profiles[0].layers), 1)
        self.assertEqual(len(err), 1)
        self.assertIn(":3: ", err[0])

    def test_a_pretty_printed_machine_object_is_one_record(self):
        machine = {"schema": "llamascope.machine/1", "threads": 2, "compute": [], "memory": [{"level": "DRAM"}]}
        _, inputs, err = self.load(json.dumps(machine, indent=2))
        self.assertEqual(len(inputs.machines), 1)
        self.assertEqual(err, [])
        self.assertFalse(inputs.usable())


class RoofTest(unittest.TestCase):
    MACHINE = {"threads": 2,
               "memory": [{"level": "L1d", "capacity_bytes": 48 << 10, "shared_by": 1, "gbps_1": 400, "gbps_n": 800},
                          {"level": "L2", "capacity_bytes": 1 << 20, "shared_by": 1, "gbps_1": 200, "gbps_n": 390},
                          {"level": "L3", "capacity_bytes": 32 << 20, "shared_by": 2, "gbps_1": 100, "gbps_n": 150},
                          {"level": "DRAM", "capacity_bytes": 0, "shared_by": 2, "gbps_1": 20, "gbps_n": 30}],
               "compute": [{"name": "fp32_fma", "gflops_1": 250, "gflops_n": 500},
                           {"name": "int8_dot", "gflops_1": 1000, "gflops_n": 1500}]}

    def test_matches_the_cpp_rule(self):
        # The same cases as tests/test_machine_roofs.cpp.
        r = roofline.roof_for(self.MACHINE, "int8_dot", 2e6 + 1e4, 2e6, 40e6, 1)
        self.assertEqual(r["memory"], "DRAM+L1d")
        self.assertAlmostEqual(r["memory_gbps"], (2e6 + 1e4) / (2e6 / 20e9 + 1e4 / 400e9) / 1e9)
        self.assertEqual(roofline.roof_for(self.MACHINE, "fp32_fma", 1.5 * (1 << 20), 0, 0, 2)["memory"], "L2")
        self.assertEqual(roofline.roof_for(self.MACHINE, "fp32_fma", 40.0 * (1 << 20), 0, 0, 2)["memory"], "DRAM")
        self.assertEqual(roofline.roof_for(self.MACHINE, "bf16_dot", 1e3, 0, 0, 1)["compute"], "fp32_fma")
        self.assertEqual(roofline.compute_kind({"op_kind": "matmul", "backend": "simd", "weight_type": "Q4_K"}),
                         "int8_dot")
        self.assertEqual(roofline.compute_kind({"op_kind": "matmul", "backend": "scalar", "weight_type": "Q4_K"}),
                         "fp32_fma")


if __name__ == "__main__":
    unittest.main()
