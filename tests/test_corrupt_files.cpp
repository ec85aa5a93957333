// The broken-file suite: real golden files and writer-made files, truncated, bit-edited and hand-built
// wrong, fed to every loader. Each must fail with one llamascope::Error, one line, naming the file; never
// another exception, a crash, or a huge allocation (under ASan an oversized allocation aborts the test).
// The CLI is then run on a representative subset: one "llamascope: error:" line on stderr, non-zero exit.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "engine/gguf.h"
#include "engine/llama2c.h"
#include "engine/mapped_file.h"
#include "tests/support/formats_test_util.h"

extern char** environ;

namespace llamascope {
namespace {

using formats_test::Bytes;
using formats_test::expect_load_error;
using formats_test::gguf_str;
using formats_test::gguf_u32;
using formats_test::golden;
using formats_test::peek;
using formats_test::poke;
using formats_test::RawGguf;
using formats_test::RawTensor;
using formats_test::read_bytes;
using formats_test::ScratchDir;
using formats_test::tensor_entry_fields;
using formats_test::write_bytes;

using Loader = std::function<void(const std::string&)>;
const Loader kLoadGguf = [](const std::string& p) { GgufFile::open(p); };
const Loader kLoadCheckpoint = [](const std::string& p) { load_llama2c_checkpoint(p); };
const Loader kLoadTok512 = [](const std::string& p) { load_llama2c_tokenizer(p, 512); };

// Writes `bytes` as dir/name, expects `load` to fail as the suite requires, and checks that the message
// mentions `needle` (empty: no check on the wording).
std::string expect_broken(const ScratchDir& dir, const std::string& name, const std::vector<uint8_t>& bytes,
                          const Loader& load, const std::string& needle = "") {
  const std::string path = dir.file(name);
  write_bytes(path, bytes);
  const std::string message = expect_load_error(
      path, [&] { load(path); }, name);
  if (!needle.empty()) {
    EXPECT_NE(message.find(needle), std::string::npos) << name << ": " << message;
  }
  return message;
}

// Cut points: every byte of the first 4 KiB (where the headers are), then every 997th byte.
std::vector<uint64_t> cut_points(uint64_t size) {
  std::vector<uint64_t> cuts;
  for (uint64_t c = 0; c < size && c < 4096; ++c) cuts.push_back(c);
  for (uint64_t c = 4096; c < size; c += 997) cuts.push_back(c);
  cuts.push_back(size - 1);
  return cuts;
}

// Truncates a copy of `source` at every cut point (longest first, shrinking the same file in place) and
// loads it. Below `must_fail_below` the load must fail; at or above it a load may succeed (a metadata-only
// file cut inside its final padding is still whole), but a failure must still be a proper Error.
void truncation_sweep(const std::string& source, const Loader& load, uint64_t must_fail_below) {
  ScratchDir dir;
  const std::string path = dir.file("cut-" + std::filesystem::path(source).filename().string());
  std::filesystem::copy_file(source, path);
  const uint64_t size = std::filesystem::file_size(path);
  std::vector<uint64_t> cuts = cut_points(size);
  std::sort(cuts.rbegin(), cuts.rend());
  int failures_seen = 0;
  for (uint64_t cut : cuts) {
    ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(cut)), 0);
    const std::string context = source + " cut at " + std::to_string(cut);
    if (cut < must_fail_below) {
      expect_load_error(
          path, [&] { load(path); }, context);
    } else {
      try {
        load(path);
      } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << context;
      } catch (...) {
        ADD_FAILURE() << context << ": an exception other than llamascope::Error";
      }
    }
    if (::testing::Test::HasFailure() && ++failures_seen > 5) FAIL() << "stopping the sweep of " << source;
  }
}

// The first byte a truncation may remove without breaking a GGUF file: the end of the last tensor's data,
// or for a tensor-less file the end of its directory (at least data_offset - alignment + 1).
uint64_t gguf_needed_bytes(const std::string& path) {
  std::unique_ptr<GgufFile> g = GgufFile::open(path);
  if (g->tensors().empty()) return g->data_offset() - g->alignment() + 1;
  uint64_t end = 0;
  for (const GgufTensorInfo& t : g->tensors()) end = std::max(end, g->data_offset() + t.offset + t.bytes);
  return end;
}

// A writer-made file with every metadata type and a few tensors, used as a second truncation subject.
void write_sample_gguf(const std::string& path) {
  GgufWriter w(path, 64);
  w.set_string("general.architecture", "llama");
  w.set_u32("u32", 7);
  w.set_i32("i32", -7);
  w.set_f32("f32", 1.5f);
  w.set_bool("bool", true);
  GgufValue strings;
  strings.type = GgufType::ARRAY;
  strings.elem_type = GgufType::STRING;
  for (const char* s : {"alpha", "beta", "", "gamma"}) {
    GgufValue v;
    v.type = GgufType::STRING;
    v.str = s;
    strings.array.push_back(v);
  }
  GgufValue nested;
  nested.type = GgufType::ARRAY;
  nested.elem_type = GgufType::ARRAY;
  nested.array = {strings, strings};
  w.set("strings", strings);
  w.set("nested", nested);
  w.declare_tensor("a", TensorType::F32, {10, 3});
  w.declare_tensor("b", TensorType::Q8_0, {64, 2});
  w.declare_tensor("c", TensorType::Q6_K, {256});
  w.write_header();
  const std::vector<uint8_t> data(4096, 0x5a);
  w.write_tensor_data(data.data(), 10 * 3 * 4);
  w.write_tensor_data(data.data(), 34 * 2 * 2);
  w.write_tensor_data(data.data(), 210);
  w.finish();
}

// ---------------------------------------------------------------------------------------------------
// Paths that are not model files at all
// ---------------------------------------------------------------------------------------------------

TEST(CorruptFiles, MissingPathDirectoryEmptyFileFifo) {
  ScratchDir dir;
  const std::string missing = dir.file("no-such-model.gguf");
  const std::string empty = dir.file("empty.bin");
  write_bytes(empty, {});
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const Loader& load : {kLoadGguf, kLoadCheckpoint, kLoadTok512}) {
    EXPECT_NE(expect_load_error(missing, [&] { load(missing); }).find("no such file"), std::string::npos);
    EXPECT_NE(expect_load_error(dir.path(), [&] { load(dir.path()); }).find("directory"), std::string::npos);
    expect_load_error(empty, [&] { load(empty); });
    // Opening a FIFO must not block waiting for a writer.
    EXPECT_NE(expect_load_error(fifo, [&] { load(fifo); }).find("not a regular file"), std::string::npos);
  }
  const MappedFile mapped(empty);
  EXPECT_EQ(mapped.size(), 0u);
  EXPECT_EQ(mapped.data(), nullptr);
}

TEST(CorruptFiles, UnreadableFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  ScratchDir dir;
  const std::string path = dir.file("locked.gguf");
  std::filesystem::copy_file(golden("models/stories260K-f32.gguf"), path);
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  EXPECT_NE(expect_load_error(path, [&] { GgufFile::open(path); }).find("cannot open"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------------
// Truncation at many points
// ---------------------------------------------------------------------------------------------------

// One case per file, so that CTest runs them side by side (a cut past a big vocabulary parses all of it).
class TruncatedGoldenGguf : public ::testing::TestWithParam<const char*> {};

TEST_P(TruncatedGoldenGguf, FailsCleanlyAtEveryCut) {
  const std::string path = golden(GetParam());
  truncation_sweep(path, kLoadGguf, gguf_needed_bytes(path));
}

INSTANTIATE_TEST_SUITE_P(CorruptFiles, TruncatedGoldenGguf,
                         ::testing::Values("models/stories260K-f32.gguf", "models/synth-mini-Q4_K.gguf",
                                           "tokenizer/ggml-vocab-llama-spm.gguf"));

TEST(CorruptFiles, TruncatedWriterMadeGguf) {
  ScratchDir dir;
  const std::string path = dir.file("sample.gguf");
  write_sample_gguf(path);
  ASSERT_NO_THROW(GgufFile::open(path));
  truncation_sweep(path, kLoadGguf, gguf_needed_bytes(path));
}

TEST(CorruptFiles, TruncatedLlama2cCheckpointAndTokenizer) {
  const std::string checkpoint = golden("models/stories260K.bin");
  truncation_sweep(checkpoint, kLoadCheckpoint, std::filesystem::file_size(checkpoint));
  const std::string tokenizer = golden("models/tok512.bin");
  truncation_sweep(tokenizer, kLoadTok512, std::filesystem::file_size(tokenizer));
}

// ---------------------------------------------------------------------------------------------------
// Edited real GGUF files
// ---------------------------------------------------------------------------------------------------

class EditedStories : public ::testing::Test {
 protected:
  void SetUp() override { base = read_bytes(golden("models/stories260K-f32.gguf")); }
  std::string expect(const std::string& name, const std::vector<uint8_t>& bytes, const std::string& needle) {
    return expect_broken(dir, name, bytes, kLoadGguf, needle);
  }
  std::vector<uint8_t> edited(const std::function<void(std::vector<uint8_t>&)>& edit) const {
    std::vector<uint8_t> b = base;
    edit(b);
    return b;
  }
  ScratchDir dir;
  std::vector<uint8_t> base;
};

TEST_F(EditedStories, HeaderFields) {
  expect("magic.gguf", edited([](auto& b) { b[3] = 'X'; }), "not a GGUF file");
  expect("v1.gguf", edited([](auto& b) { poke<uint32_t>(b, 4, 1); }), "version 1");
  expect("v99.gguf", edited([](auto& b) { poke<uint32_t>(b, 4, 99); }), "version 99");
  expect("v0.gguf", edited([](auto& b) { poke<uint32_t>(b, 4, 0); }), "version 0");
  expect("big-endian.gguf", edited([](auto& b) { poke<uint32_t>(b, 4, 0x03000000); }), "big-endian");
  for (uint64_t huge : {uint64_t(1) << 60, ~uint64_t(0), uint64_t(1) << 32}) {
    const std::string h = std::to_string(huge);
    expect("tensors-" + h + ".gguf", edited([&](auto& b) { poke<uint64_t>(b, 8, huge); }), "tensor count");
    expect("kv-" + h + ".gguf", edited([&](auto& b) { poke<uint64_t>(b, 16, huge); }), "metadata count");
  }
  // Off-by-one counts make the parser read one structure as the other.
  const uint64_t n_kv = peek<uint64_t>(base, 16), n_tensors = peek<uint64_t>(base, 8);
  expect("kv-minus-1.gguf", edited([&](auto& b) { poke<uint64_t>(b, 16, n_kv - 1); }), "");
  expect("kv-plus-1.gguf", edited([&](auto& b) { poke<uint64_t>(b, 16, n_kv + 1); }), "");
  expect("tensors-plus-1.gguf", edited([&](auto& b) { poke<uint64_t>(b, 8, n_tensors + 1); }), "");
}

TEST_F(EditedStories, MetadataFields) {
  // The first key is tokenizer.ggml.tokens: key length at 24, then the key, the type, the element type and
  // count.
  const std::string first_key = "tokenizer.ggml.tokens";
  ASSERT_EQ(peek<uint64_t>(base, 24), first_key.size());
  const size_t array_count = 24 + 8 + first_key.size() + 4 + 4;
  expect("key-length.gguf", edited([](auto& b) { poke<uint64_t>(b, 24, uint64_t(1) << 60); }), "length");
  expect("key-length-max.gguf", edited([](auto& b) { poke<uint64_t>(b, 24, ~uint64_t(0)); }), "length");
  // 2^60 strings must be refused before anything is allocated for them.
  expect("string-count.gguf", edited([&](auto& b) { poke<uint64_t>(b, array_count, uint64_t(1) << 60); }),
         "declares");
  expect("string-count-2.gguf", edited([&](auto& b) { poke<uint64_t>(b, array_count, 1u << 20); }), "");
  expect("elem-type.gguf", edited([&](auto& b) { poke<uint32_t>(b, array_count - 4, 13); }),
         "unknown value type 13");
  // A huge length inside the first token string.
  expect("token-length.gguf", edited([&](auto& b) { poke<uint64_t>(b, array_count + 8, uint64_t(1) << 62); }),
         "length");

  const size_t arch = formats_test::find_key(base, "general.architecture");
  const size_t arch_type = arch + 8 + 20, arch_length = arch_type + 4;
  ASSERT_EQ(peek<uint32_t>(base, arch_type), 8u);
  expect("value-type.gguf", edited([&](auto& b) { poke<uint32_t>(b, arch_type, 13); }),
         "unknown value type 13");
  expect("value-type-big.gguf", edited([&](auto& b) { poke<uint32_t>(b, arch_type, 0xffffffffu); }),
         "unknown value type");
  expect("string-length.gguf", edited([&](auto& b) { poke<uint64_t>(b, arch_length, uint64_t(1) << 62); }),
         "length");
  expect("string-length-1.gguf", edited([&](auto& b) { poke<uint64_t>(b, arch_length, b.size()); }),
         "length");

  // Rename a key to another existing key of the same length.
  const size_t bos = formats_test::find_key(base, "tokenizer.ggml.bos_token_id");
  expect("duplicate-key.gguf",
         edited([&](auto& b) { std::memcpy(b.data() + bos + 8, "tokenizer.ggml.eos_token_id", 27); }),
         "duplicate metadata key 'tokenizer.ggml.eos_token_id'");
}

TEST_F(EditedStories, TensorDirectoryFields) {
  const auto embd = tensor_entry_fields(base, "token_embd.weight");
  ASSERT_EQ(peek<uint32_t>(base, embd.n_dims), 2u);
  const auto norm = tensor_entry_fields(base, "output_norm.weight");

  expect("n-dims-5.gguf", edited([&](auto& b) { poke<uint32_t>(b, embd.n_dims, 5); }), "n_dims 5");
  expect("n-dims-0.gguf", edited([&](auto& b) { poke<uint32_t>(b, embd.n_dims, 0); }), "n_dims 0");
  expect("n-dims-huge.gguf", edited([&](auto& b) { poke<uint32_t>(b, embd.n_dims, 0x80000000u); }), "n_dims");
  expect("ne0-zero.gguf", edited([&](auto& b) { poke<uint64_t>(b, embd.ne0, 0); }), "must be positive");
  expect("ne1-negative.gguf", edited([&](auto& b) { poke<int64_t>(b, embd.ne0 + 8, -1); }), "= -1");
  expect("ne-overflow.gguf", edited([&](auto& b) {
           poke<uint64_t>(b, embd.ne0, uint64_t(1) << 32);
           poke<uint64_t>(b, embd.ne0 + 8, uint64_t(1) << 32);
         }),
         "overflows");
  // The element count fits int64 but the byte count (x4 for F32) does not fit 64 bits.
  expect("bytes-overflow.gguf", edited([&](auto& b) {
           poke<uint64_t>(b, embd.ne0, uint64_t(1) << 31);
           poke<uint64_t>(b, embd.ne0 + 8, uint64_t(1) << 31);
         }),
         "overflows");
  expect("ne-past-end.gguf", edited([&](auto& b) { poke<uint64_t>(b, embd.ne0 + 8, 1u << 20); }),
         "past the end");

  expect("type-99.gguf", edited([&](auto& b) { poke<uint32_t>(b, embd.type, 99); }),
         "unknown tensor type id 99 for tensor 'token_embd.weight'");
  expect("type-4.gguf", edited([&](auto& b) { poke<uint32_t>(b, embd.type, 4); }),
         "unknown tensor type id 4");
  expect("type-q4k.gguf", edited([&](auto& b) { poke<uint32_t>(b, embd.type, 12); }), "block size 256");

  expect("offset-past-end.gguf", edited([&](auto& b) { poke<uint64_t>(b, embd.offset, uint64_t(1) << 40); }),
         "past the end");
  expect("offset-wraps.gguf", edited([&](auto& b) { poke<uint64_t>(b, embd.offset, ~uint64_t(31)); }),
         "past the end");
  expect("offset-misaligned.gguf",
         edited([&](auto& b) { poke<uint64_t>(b, norm.offset, peek<uint64_t>(b, norm.offset) + 4); }),
         "not a multiple of the alignment 32");
  expect("offset-overlap.gguf", edited([&](auto& b) { poke<uint64_t>(b, norm.offset, 0); }), "overlap");
  expect("name-length.gguf", edited([&](auto& b) { poke<uint64_t>(b, embd.name_length, uint64_t(1) << 61); }),
         "length");

  const size_t q1 = formats_test::find_tensor_entry(base, "blk.1.attn_q.weight");
  expect("duplicate-tensor.gguf", edited([&](auto& b) { b[q1 + 8 + 4] = '0'; }),
         "duplicate tensor name 'blk.0.attn_q.weight'");
  // A control character in a name is escaped so the message stays on one line.
  expect("newline-in-name.gguf", edited([&](auto& b) {
           b[q1 + 8 + 4] = '\n';
           poke<uint32_t>(b, tensor_entry_fields(b, "blk.\n.attn_q.weight").type, 77);
         }),
         "blk.\\x0a.attn_q.weight");
}

// ---------------------------------------------------------------------------------------------------
// Hand-built GGUF files (every field under the test's control)
// ---------------------------------------------------------------------------------------------------

RawGguf one_tensor_file() {
  RawGguf f;
  f.metadata.push_back({"general.architecture", gguf_str("llama")});
  f.tensors.push_back(RawTensor{"w", {8, 2}, 0, 0, 0});
  f.data_bytes = 64;
  return f;
}

TEST(CorruptFiles, HandBuiltControlLoads) {
  ScratchDir dir;
  const std::string path = dir.file("ok.gguf");
  write_bytes(path, one_tensor_file().build());
  std::unique_ptr<GgufFile> g = GgufFile::open(path);
  ASSERT_EQ(g->tensors().size(), 1u);
  EXPECT_EQ(g->tensors()[0].bytes, 64u);

  RawGguf v2 = one_tensor_file();
  v2.version = 2;
  write_bytes(path, v2.build());
  EXPECT_EQ(GgufFile::open(path)->version(), 2u);

  RawGguf aligned = one_tensor_file();
  aligned.metadata.push_back({"general.alignment", gguf_u32(256)});
  aligned.alignment = 256;
  aligned.tensors[0].offset = 0;
  write_bytes(path, aligned.build());
  EXPECT_EQ(GgufFile::open(path)->data_offset() % 256, 0u);
}

TEST(CorruptFiles, HandBuiltAlignment) {
  ScratchDir dir;
  for (uint32_t alignment : {0u, 3u, 48u, 0x80000001u}) {
    RawGguf f = one_tensor_file();
    f.metadata.push_back({"general.alignment", gguf_u32(alignment)});
    expect_broken(dir, "alignment-" + std::to_string(alignment) + ".gguf", f.build(), kLoadGguf,
                  "not a power of two");
  }
  RawGguf as_string = one_tensor_file();
  as_string.metadata.push_back({"general.alignment", gguf_str("32")});
  expect_broken(dir, "alignment-string.gguf", as_string.build(), kLoadGguf, "general.alignment");
  // A legal alignment that the tensor offsets do not respect.
  RawGguf misaligned = one_tensor_file();
  misaligned.metadata.push_back({"general.alignment", gguf_u32(64)});
  misaligned.tensors.push_back(RawTensor{"x", {4}, 0, 96, 0});
  misaligned.data_bytes = 256;
  expect_broken(dir, "offset-vs-alignment.gguf", misaligned.build(), kLoadGguf, "alignment 64");
}

TEST(CorruptFiles, HandBuiltMetadataValues) {
  ScratchDir dir;
  const auto file_with = [](const std::string& key, const Bytes& value) {
    RawGguf f = one_tensor_file();
    f.metadata.push_back({key, value});
    return f.build();
  };
  expect_broken(dir, "bool-2.gguf", file_with("b", Bytes().pod<uint32_t>(7).pod<uint8_t>(2)), kLoadGguf,
                "bool");
  // 2^60 strings, 2^40 bytes, 2^59 nested arrays: refused from the count alone.
  expect_broken(dir, "strings-2e60.gguf",
                file_with("a", Bytes().pod<uint32_t>(9).pod<uint32_t>(8).pod<uint64_t>(uint64_t(1) << 60)),
                kLoadGguf, "declares");
  expect_broken(dir, "bytes-2e40.gguf",
                file_with("a", Bytes().pod<uint32_t>(9).pod<uint32_t>(0).pod<uint64_t>(uint64_t(1) << 40)),
                kLoadGguf, "declares");
  expect_broken(dir, "arrays-2e59.gguf",
                file_with("a", Bytes().pod<uint32_t>(9).pod<uint32_t>(9).pod<uint64_t>(uint64_t(1) << 59)),
                kLoadGguf, "declares");
  expect_broken(dir, "array-elem-13.gguf",
                file_with("a", Bytes().pod<uint32_t>(9).pod<uint32_t>(13).pod<uint64_t>(0)), kLoadGguf,
                "unknown value type 13");
  // Elements that are present in the file but too many to hold as values: bounded in total.
  Bytes many;
  many.pod<uint32_t>(9).pod<uint32_t>(0).pod<uint64_t>(5u << 20).zeros(5u << 20);
  expect_broken(dir, "five-million-u8.gguf", file_with("a", many), kLoadGguf, "in total");

  RawGguf duplicate = one_tensor_file();
  duplicate.metadata.push_back({"general.architecture", gguf_str("gpt2")});
  expect_broken(dir, "duplicate-key.gguf", duplicate.build(), kLoadGguf,
                "duplicate metadata key 'general.architecture'");
  RawGguf duplicate_tensor = one_tensor_file();
  duplicate_tensor.tensors.push_back(RawTensor{"w", {8}, 0, 64, 0});
  duplicate_tensor.data_bytes = 128;
  expect_broken(dir, "duplicate-tensor.gguf", duplicate_tensor.build(), kLoadGguf,
                "duplicate tensor name 'w'");
}

// Arrays nested a million levels deep (12 bytes a level) must stop at the depth bound, not overflow the
// stack.
TEST(CorruptFiles, HandBuiltDeeplyNestedArrays) {
  ScratchDir dir;
  Bytes deep;
  deep.pod<uint32_t>(9);  // the value is an array...
  for (int level = 0; level < 1000000; ++level)
    deep.pod<uint32_t>(9).pod<uint64_t>(1);  // ...of one array, ...
  deep.pod<uint32_t>(0).pod<uint64_t>(0);
  RawGguf f = one_tensor_file();
  f.metadata.push_back({"deep", deep});
  expect_broken(dir, "deep.gguf", f.build(), kLoadGguf, "nests arrays deeper");
  // Declared deep but cut short: still an error about depth or the end of the file, never a crash.
  std::vector<uint8_t> bytes = f.build();
  bytes.resize(4096);
  expect_broken(dir, "deep-cut.gguf", bytes, kLoadGguf);
}

// ---------------------------------------------------------------------------------------------------
// llama2.c checkpoints and tokenizers
// ---------------------------------------------------------------------------------------------------

TEST(CorruptFiles, Llama2cCheckpointSizeAndHeader) {
  ScratchDir dir;
  const std::vector<uint8_t> base = read_bytes(golden("models/stories260K.bin"));
  const auto edited = [&](const std::function<void(std::vector<uint8_t>&)>& edit) {
    std::vector<uint8_t> b = base;
    edit(b);
    return b;
  };
  const std::string expected = "implies " + std::to_string(base.size()) + " bytes";
  expect_broken(dir, "one-float-short.bin", edited([](auto& b) { b.erase(b.end() - 4, b.end()); }),
                kLoadCheckpoint, expected + ", the file has " + std::to_string(base.size() - 4) + " bytes");
  expect_broken(dir, "one-float-long.bin", edited([](auto& b) { b.insert(b.end(), 4, 0); }), kLoadCheckpoint,
                expected + ", the file has " + std::to_string(base.size() + 4) + " bytes");
  expect_broken(dir, "one-byte-long.bin", edited([](auto& b) { b.push_back(0); }), kLoadCheckpoint, expected);
  expect_broken(dir, "header-only.bin", edited([](auto& b) { b.resize(28); }), kLoadCheckpoint, "");
  expect_broken(dir, "short-header.bin", edited([](auto& b) { b.resize(27); }), kLoadCheckpoint, "too short");

  // Header fields: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len at 0, 4, ... 24.
  const auto with_field = [&](int index, int32_t value) {
    return edited([&](auto& b) { poke<int32_t>(b, 4 * index, value); });
  };
  expect_broken(dir, "n-heads-0.bin", with_field(3, 0), kLoadCheckpoint, "n_heads = 0");
  expect_broken(dir, "n-kv-heads-3.bin", with_field(4, 3), kLoadCheckpoint,
                "not a multiple of n_kv_heads = 3");
  expect_broken(dir, "n-kv-heads-16.bin", with_field(4, 16), kLoadCheckpoint, "n_kv_heads = 16");
  expect_broken(dir, "dim-65.bin", with_field(0, 65), kLoadCheckpoint,
                "dim = 65 is not a multiple of n_heads = 8");
  expect_broken(dir, "odd-head.bin", with_field(0, 72), kLoadCheckpoint, "odd");
  expect_broken(dir, "dim-negative.bin", with_field(0, -64), kLoadCheckpoint, "dim = -64");
  expect_broken(dir, "layers-0.bin", with_field(2, 0), kLoadCheckpoint, "n_layers = 0");
  expect_broken(dir, "seq-negative.bin", with_field(6, -1), kLoadCheckpoint, "seq_len = -1");
  expect_broken(dir, "vocab-int-min.bin", with_field(5, INT32_MIN), kLoadCheckpoint, "vocab_size");
  expect_broken(dir, "vocab-0.bin", with_field(5, 0), kLoadCheckpoint, "vocab_size = 0");
  // A negative vocab_size announces a separate classifier the file does not hold.
  expect_broken(dir, "vocab-negative.bin", with_field(5, -512), kLoadCheckpoint, "size mismatch");
  // Sizes whose products overflow 64 bits, and large ones that merely do not match.
  expect_broken(dir, "overflow.bin", edited([](auto& b) {
                  poke<int32_t>(b, 0, 1 << 30);
                  poke<int32_t>(b, 4, INT32_MAX);
                  poke<int32_t>(b, 8, INT32_MAX);
                }),
                kLoadCheckpoint, "2^64");
  expect_broken(dir, "huge-vocab.bin", with_field(5, 1 << 30), kLoadCheckpoint, "size mismatch");
}

TEST(CorruptFiles, Llama2cTokenizerEntries) {
  ScratchDir dir;
  const std::vector<uint8_t> base = read_bytes(golden("models/tok512.bin"));
  const auto with_first_length = [&](int32_t length) {
    std::vector<uint8_t> b = base;
    poke<int32_t>(b, 4 + 4, length);
    return b;
  };
  expect_broken(dir, "len-negative.bin", with_first_length(-1), kLoadTok512, "length -1");
  expect_broken(dir, "len-huge.bin", with_first_length(INT32_MAX), kLoadTok512, "length 2147483647");
  expect_broken(dir, "len-past-end.bin", with_first_length(static_cast<int32_t>(base.size())), kLoadTok512,
                "");
  const std::string path = dir.file("tok512.bin");
  write_bytes(path, base);
  EXPECT_NE(expect_load_error(path, [&] { load_llama2c_tokenizer(path, 513); }).find("truncated"),
            std::string::npos);
  expect_load_error(path, [&] { load_llama2c_tokenizer(path, 1 << 30); });
  expect_load_error(path, [&] { load_llama2c_tokenizer(path, 0); });
  expect_load_error(path, [&] { load_llama2c_tokenizer(path, -5); });
}

// ---------------------------------------------------------------------------------------------------
// The CLI on broken files
// ---------------------------------------------------------------------------------------------------

struct CliResult {
  bool exited = false;
  int exit_code = -1;
  int signal = 0;
  std::string err;
};

// Runs the llamascope binary with `args`, stdout discarded, stderr captured.
CliResult run_cli(const std::vector<std::string>& args) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[1]);
  std::vector<std::string> argv_strings = {LLAMASCOPE_BINARY};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int spawn_error = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  CliResult r;
  if (spawn_error != 0) {
    ::close(pipe_fds[0]);
    r.err = std::string("spawn failed: ") + std::strerror(spawn_error);
    return r;
  }
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0) r.err.append(buf, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exited = WIFEXITED(status);
  r.exit_code = r.exited ? WEXITSTATUS(status) : -1;
  r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return r;
}

void expect_cli_error(const std::string& model, const std::string& needle = "") {
  const CliResult r = run_cli({"info", "-m", model});
  SCOPED_TRACE("llamascope info -m " + model);
  EXPECT_TRUE(r.exited) << "killed by signal " << r.signal << "; stderr: " << r.err;
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.rfind("llamascope: error: ", 0), 0u) << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.back(), '\n') << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr is not one line: " << r.err;
  EXPECT_NE(r.err.find(model), std::string::npos) << "stderr does not name the file: " << r.err;
  if (!needle.empty()) {
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  }
}

// What to do with one tensor when copying a file: keep it, drop it, or declare it with another shape
// (filled with the start of the original's data).
struct TensorEdit {
  bool drop = false;
  std::vector<int64_t> shape;  // empty: keep the original shape
};

// Copies stories260K-f32.gguf through the writer, metadata and tensors, applying `edit` to each tensor.
void copy_stories(const std::string& path, const std::function<TensorEdit(const GgufTensorInfo&)>& edit) {
  std::unique_ptr<GgufFile> src = GgufFile::open(golden("models/stories260K-f32.gguf"));
  GgufWriter w(path);
  for (const GgufKeyValue& kv : src->metadata()) w.set(kv.key, kv.value);
  std::vector<std::pair<const void*, uint64_t>> data;
  for (const GgufTensorInfo& t : src->tensors()) {
    const TensorEdit e = edit(t);
    if (e.drop) continue;
    const std::vector<int64_t> shape = e.shape.empty() ? t.shape : e.shape;
    uint64_t bytes = row_bytes(t.type, shape[0]);
    for (size_t d = 1; d < shape.size(); ++d) bytes *= static_cast<uint64_t>(shape[d]);
    if (bytes > t.bytes)
      throw std::runtime_error("copy_stories: a new shape must not be larger than the old");
    w.declare_tensor(t.name, t.type, shape);
    data.push_back({t.data, bytes});
  }
  w.write_header();
  for (const auto& [ptr, bytes] : data) w.write_tensor_data(ptr, bytes);
  w.finish();
}

bool cli_binary_exists() {
  return std::filesystem::exists(LLAMASCOPE_BINARY);
}

TEST(CorruptFilesCli, BrokenFilesGiveOneErrorLine) {
  ASSERT_TRUE(cli_binary_exists()) << LLAMASCOPE_BINARY;
  ScratchDir dir;
  std::vector<std::string> paths;
  const auto add = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
    paths.push_back(dir.file(name));
    write_bytes(paths.back(), bytes);
  };
  const std::vector<uint8_t> gguf = read_bytes(golden("models/stories260K-f32.gguf"));
  for (size_t cut :
       {size_t(0), size_t(3), size_t(20), size_t(100), size_t(5000), gguf.size() / 2, gguf.size() - 1})
    add("cut-" + std::to_string(cut) + ".gguf", std::vector<uint8_t>(gguf.begin(), gguf.begin() + cut));
  const auto edited = [&](const std::function<void(std::vector<uint8_t>&)>& edit) {
    std::vector<uint8_t> b = gguf;
    edit(b);
    return b;
  };
  const auto embd = tensor_entry_fields(gguf, "token_embd.weight");
  add("magic.gguf", edited([](auto& b) { b[0] = 'X'; }));
  add("v1.gguf", edited([](auto& b) { poke<uint32_t>(b, 4, 1); }));
  add("kv-huge.gguf", edited([](auto& b) { poke<uint64_t>(b, 16, uint64_t(1) << 60); }));
  add("string-count.gguf", edited([](auto& b) { poke<uint64_t>(b, 24 + 8 + 21 + 8, uint64_t(1) << 60); }));
  add("n-dims-5.gguf", edited([&](auto& b) { poke<uint32_t>(b, embd.n_dims, 5); }));
  add("ne-overflow.gguf", edited([&](auto& b) {
        poke<uint64_t>(b, embd.ne0, uint64_t(1) << 32);
        poke<uint64_t>(b, embd.ne0 + 8, uint64_t(1) << 32);
      }));
  add("type-99.gguf", edited([&](auto& b) { poke<uint32_t>(b, embd.type, 99); }));
  add("offset-misaligned.gguf", edited([&](auto& b) { poke<uint64_t>(b, embd.offset, 4); }));
  add("offset-past-end.gguf", edited([&](auto& b) { poke<uint64_t>(b, embd.offset, uint64_t(1) << 40); }));
  RawGguf bad_alignment = one_tensor_file();
  bad_alignment.metadata.push_back({"general.alignment", gguf_u32(3)});
  add("alignment-3.gguf", bad_alignment.build());

  const std::vector<uint8_t> checkpoint = read_bytes(golden("models/stories260K.bin"));
  std::vector<uint8_t> b = checkpoint;
  b.erase(b.end() - 4, b.end());
  add("one-float-short.bin", b);
  b = checkpoint;
  b.insert(b.end(), 4, 0);
  add("one-float-long.bin", b);
  b = checkpoint;
  poke<int32_t>(b, 12, 0);
  add("n-heads-0.bin", b);
  b = checkpoint;
  poke<int32_t>(b, 16, 3);
  add("n-kv-heads-3.bin", b);
  add("empty.bin", {});
  paths.push_back(dir.path());                      // a directory
  paths.push_back(dir.file("no-such-model.gguf"));  // a missing path

  for (const std::string& path : paths) expect_cli_error(path);
}

// Model-level problems are found by the model loader, after the GGUF reader accepted the file.
TEST(CorruptFilesCli, MissingTensorAndWrongShape) {
  ASSERT_TRUE(cli_binary_exists()) << LLAMASCOPE_BINARY;
  ScratchDir dir;
  const std::string control = dir.file("copy.gguf");
  copy_stories(control, [](const GgufTensorInfo&) { return TensorEdit{}; });
  const CliResult ok = run_cli({"info", "-m", control});
  EXPECT_TRUE(ok.exited && ok.exit_code == 0) << "an unedited copy must load: " << ok.err;

  const std::string missing = dir.file("missing-attn-q.gguf");
  copy_stories(missing, [](const GgufTensorInfo& t) {
    return TensorEdit{t.name == "blk.0.attn_q.weight", {}};
  });
  ASSERT_EQ(GgufFile::open(missing)->find_tensor("blk.0.attn_q.weight"), nullptr);
  expect_cli_error(missing, "blk.0.attn_q.weight");

  const std::string wrong_shape = dir.file("wrong-shape.gguf");
  copy_stories(wrong_shape, [](const GgufTensorInfo& t) {
    return t.name == "blk.0.attn_q.weight" ? TensorEdit{false, {64, 32}} : TensorEdit{};
  });
  expect_cli_error(wrong_shape, "blk.0.attn_q.weight");
}

}  // namespace
}  // namespace llamascope
