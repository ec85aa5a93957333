// The roof an op is measured against (harness/machine_roofs.h): the compute peak of its arithmetic and the
// fastest memory level its working set fits in, for the thread count it ran with.
#include <gtest/gtest.h>

#include "base/error.h"
#include "harness/machine_roofs.h"
#include "harness/machine_roofs_isa.h"

namespace llamascope {
namespace {

MachineRoofs two_core_machine() {
  MachineRoofs r;
  r.cpu = "test";
  r.threads = 2;
  r.memory = {{"L1d", 48 << 10, 1, 24 << 10, 400, 800},
              {"L2", 1 << 20, 1, 512 << 10, 200, 390},
              {"L3", 32 << 20, 2, 8 << 20, 100, 150},
              {"DRAM", 0, 2, 1 << 30, 20, 30}};
  r.compute = {{"fp32_fma", "fma", 250, 500}, {"int8_dot", "vpdpbusd", 1000, 1500}};
  r.measured_at = "2026-11-30T00:00:00Z";
  r.loadavg = {0.1, 0.2, 0.3};
  r.source = "measured";
  return r;
}

TEST(MachineRoofs, QuantizedSimdMatmulsUseTheInt8PeakEverythingElseFp32) {
  EXPECT_EQ(compute_kind("matmul", "simd", "Q4_0"), "int8_dot");
  EXPECT_EQ(compute_kind("matmul", "simd,scalar", "Q4_K,Q6_K"), "int8_dot");
  EXPECT_EQ(compute_kind("matmul", "scalar", "Q4_0"), "fp32_fma");  // dequantizes to float
  EXPECT_EQ(compute_kind("matmul", "simd", "F16"), "fp32_fma");
  EXPECT_EQ(compute_kind("matmul", "onednn", "BF16"), "bf16_dot");  // bf16 x bf16 brgemm
  EXPECT_EQ(compute_kind("matmul", "onednn", "Q4_K"), "bf16_dot");  // u4 codes widened to bf16
  EXPECT_EQ(compute_kind("matmul", "onednn", "F16"), "fp32_fma");   // f16 weights, f32 activations
  EXPECT_EQ(compute_kind("add", "simd", ""), "fp32_fma");
}

// bench's bandwidth fraction and profile's `machine` object quote the roofs' DRAM and FP32 figures (one
// measurement, one cache), each replaced by a value given on the command line.
TEST(MachineRoofs, LimitsAreTheRoofsDramAndFp32FiguresUnlessGiven) {
  const MachineRoofs r = two_core_machine();
  const MachineLimits measured = machine_limits(r, 0, 0);
  EXPECT_DOUBLE_EQ(measured.bandwidth_gbps, 30);  // DRAM, all threads reading
  EXPECT_DOUBLE_EQ(measured.peak_gflops, 500);    // fp32_fma, not the faster int8 peak
  EXPECT_EQ(measured.bandwidth_source, "measured");
  EXPECT_EQ(measured.threads, 2);
  const MachineLimits given = machine_limits(r, 12.5, 0);
  EXPECT_DOUBLE_EQ(given.bandwidth_gbps, 12.5);
  EXPECT_EQ(given.bandwidth_source, "given");
  EXPECT_DOUBLE_EQ(given.peak_gflops, 500);
  EXPECT_EQ(given.peak_source, "measured");
  EXPECT_EQ(machine_limits(r, 0, 80).peak_source, "given");
  // A given bandwidth is all bench needs: nothing is measured or read from a cache.
  const MachineLimits bench = machine_bandwidth_limit(7);
  EXPECT_DOUBLE_EQ(bench.bandwidth_gbps, 7);
  EXPECT_EQ(bench.bandwidth_source, "given");
}

TEST(MachineRoofs, MemoryLevelIsTheFastestThatHoldsTheWorkingSet) {
  const MachineRoofs r = two_core_machine();
  OpRoof one = roof_for(r, "int8_dot", 10e3, 0, 0, 1);
  EXPECT_EQ(one.memory, "L1d");
  EXPECT_DOUBLE_EQ(one.memory_gbps, 400);
  EXPECT_EQ(one.compute, "int8_dot");
  EXPECT_DOUBLE_EQ(one.compute_gflops, 1000);
  // 1.5 MiB: past one core's L2, within two cores' L2s.
  EXPECT_EQ(roof_for(r, "fp32_fma", 1.5 * (1 << 20), 0, 0, 1).memory, "L3");
  const OpRoof two = roof_for(r, "fp32_fma", 1.5 * (1 << 20), 0, 0, 2);
  EXPECT_EQ(two.memory, "L2");
  EXPECT_DOUBLE_EQ(two.memory_gbps, 390);  // min(N-thread 390, 2 x 200)
  EXPECT_DOUBLE_EQ(two.compute_gflops, 500);
  // L3 is one shared instance: 2 threads do not double it.
  EXPECT_EQ(roof_for(r, "fp32_fma", 40.0 * (1 << 20), 0, 0, 2).memory, "DRAM");
  EXPECT_EQ(roof_for(r, "fp32_fma", 20.0 * (1 << 20), 0, 0, 2).memory, "L3");
  // More threads than the machine measured: the N-thread figures.
  EXPECT_DOUBLE_EQ(roof_for(r, "int8_dot", 1e12, 0, 0, 8).memory_gbps, 30);
}

TEST(MachineRoofs, WeightsComeFromTheLevelThatHoldsAllOfAStepsWeights) {
  const MachineRoofs r = two_core_machine();
  // A 2 MB weight of a 40 MB model, 10 kB of activations, 1 thread: the weight streams from DRAM.
  const OpRoof roof = roof_for(r, "int8_dot", 2e6 + 1e4, 2e6, 40e6, 1);
  EXPECT_EQ(roof.memory, "DRAM+L1d");
  EXPECT_DOUBLE_EQ(roof.memory_gbps, (2e6 + 1e4) / (2e6 / 20e9 + 1e4 / 400e9) / 1e9);
  // The same op in a model that fits in L3: both parts from cache.
  EXPECT_EQ(roof_for(r, "int8_dot", 2e6 + 1e4, 2e6, 20e6, 1).memory, "L3+L1d");
  // A norm's gain vector alone: its own level is the weights'.
  EXPECT_EQ(roof_for(r, "fp32_fma", 8e3, 8e3, 40e6, 1).memory, "DRAM");
}

TEST(MachineRoofs, APeakTheMachineLacksFallsBackToFp32) {
  const OpRoof roof = roof_for(two_core_machine(), "bf16_dot", 1e3, 0, 0, 1);
  EXPECT_EQ(roof.compute, "fp32_fma");
  EXPECT_DOUBLE_EQ(roof.compute_gflops, 250);
}

TEST(MachineRoofs, JsonRoundTripsAndRejectsAnIncompleteObject) {
  const MachineRoofs r = two_core_machine();
  const nlohmann::json j = r.to_json();
  EXPECT_EQ(j["schema"], "llamascope.machine/1");
  const MachineRoofs back = MachineRoofs::from_json(j);
  EXPECT_EQ(back.memory.size(), 4u);
  EXPECT_EQ(back.memory[2].shared_by, 2);
  EXPECT_DOUBLE_EQ(back.compute[1].gflops_n, 1500);
  EXPECT_EQ(back.loadavg, r.loadavg);
  nlohmann::json broken = j;
  broken["memory"] = nlohmann::json::array();
  EXPECT_ANY_THROW(MachineRoofs::from_json(broken));
  broken = j;
  broken.erase("compute");
  EXPECT_ANY_THROW(MachineRoofs::from_json(broken));
  broken = j;
  broken["schema"] = "llamascope.machine/0";
  EXPECT_ANY_THROW(MachineRoofs::from_json(broken));
  // A damaged cache's numbers: refused with Error, never cast out of range (undefined behaviour).
  broken = j;
  broken["threads"] = 1e300;
  EXPECT_THROW(MachineRoofs::from_json(broken), Error);
  broken = j;
  broken["memory"][0]["shared_by"] = -3;
  EXPECT_THROW(MachineRoofs::from_json(broken), Error);
}

}  // namespace
}  // namespace llamascope

namespace llamascope {
namespace {

// The ISA loops read every byte they are given (a value planted in the buffer comes back out) and time
// something (a positive rate), on whichever of AVX2 and AVX-512 this CPU has.
TEST(MachineRoofs, IsaLoopsReadTheirBufferAndReportARate) {
  alignas(64) static uint64_t buffer[1024] = {};
  buffer[0] = 0x1234;
  if (__builtin_cpu_supports("avx2")) {
    EXPECT_EQ(roofs::read_avx2(buffer, sizeof buffer, 1), 0x1234u);
    EXPECT_EQ(roofs::read_avx2(buffer, sizeof buffer, 2), 0u);  // read twice, XORed away
    EXPECT_GT(roofs::int8_maddubs_avx2(1000), 0);
  }
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) {
    EXPECT_EQ(roofs::read_avx512(buffer, sizeof buffer, 1), 0x1234u);
    if (__builtin_cpu_supports("avx512vnni")) {
      EXPECT_GT(roofs::int8_vnni_avx512(1000), 0);
    }
    if (__builtin_cpu_supports("avx512bf16")) {
      EXPECT_GT(roofs::bf16_dot_avx512(1000), 0);
    }
  }
}

}  // namespace
}  // namespace llamascope
