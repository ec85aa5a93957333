// GGUF reader and writer: every bundled GGUF file read with its known facts checked, the typed getters,
// and a writer round trip over every metadata type (nested arrays included) and several tensor types.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "engine/forward.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "kernels/kernel_set.h"
#include "tests/support/formats_test_util.h"

namespace llamascope {
namespace {

using formats_test::golden;
using formats_test::read_bytes;
using formats_test::ScratchDir;

std::vector<std::string> golden_gguf_files() {
  std::vector<std::string> files;
  for (const char* dir : {"models", "tokenizer"})
    for (const auto& entry : std::filesystem::directory_iterator(golden(dir)))
      if (entry.path().extension() == ".gguf") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

// ---- value factories ----
GgufValue uint_value(GgufType type, uint64_t v) {
  return {.type = type, .u = v};
}
GgufValue int_value(GgufType type, int64_t v) {
  return {.type = type, .i = v};
}
GgufValue float_value(GgufType type, double v) {
  return {.type = type, .f = v};
}
GgufValue string_value(std::string s) {
  return {.type = GgufType::STRING, .str = std::move(s)};
}
GgufValue array_value(GgufType elem, std::vector<GgufValue> items) {
  return {.type = GgufType::ARRAY, .elem_type = elem, .array = std::move(items)};
}

// Compares two values field by field (the fields a type does not use are default in both).
void expect_same_value(const GgufValue& a, const GgufValue& b, const std::string& where) {
  ASSERT_EQ(a.type, b.type) << where;
  EXPECT_EQ(a.u, b.u) << where;
  EXPECT_EQ(a.i, b.i) << where;
  EXPECT_EQ(a.f, b.f) << where;
  EXPECT_EQ(a.str, b.str) << where;
  ASSERT_EQ(a.elem_type, b.elem_type) << where;
  ASSERT_EQ(a.array.size(), b.array.size()) << where;
  for (size_t k = 0; k < a.array.size(); ++k)
    expect_same_value(a.array[k], b.array[k], where + "[" + std::to_string(k) + "]");
}

TEST(Gguf, ReadsEveryGoldenFileAndItsDataPointsIntoTheFile) {
  const std::vector<std::string> files = golden_gguf_files();
  ASSERT_GE(files.size(), 10u);
  for (const std::string& path : files) {
    SCOPED_TRACE(path);
    std::unique_ptr<GgufFile> g = GgufFile::open(path);
    EXPECT_EQ(g->path(), path);
    EXPECT_TRUE(g->version() == 2 || g->version() == 3);
    EXPECT_EQ(g->alignment(), 32u);
    EXPECT_EQ(g->data_offset() % g->alignment(), 0u);
    EXPECT_FALSE(g->metadata().empty());
    EXPECT_TRUE(g->get_string("general.architecture").has_value());
    const std::vector<uint8_t> bytes = read_bytes(path);
    ASSERT_EQ(bytes.size(), g->file_size());
    for (const GgufTensorInfo& t : g->tensors()) {
      EXPECT_EQ(t.offset % g->alignment(), 0u) << t.name;
      EXPECT_EQ(t.bytes, row_bytes(t.type, t.shape[0]) * static_cast<uint64_t>(t.elements() / t.shape[0]))
          << t.name;
      ASSERT_LE(g->data_offset() + t.offset + t.bytes, bytes.size()) << t.name;
      // The pointer must address the tensor's bytes in the file: compare with an independent read.
      const size_t n = std::min<uint64_t>(t.bytes, 256);
      EXPECT_EQ(std::memcmp(t.data, bytes.data() + g->data_offset() + t.offset, n), 0) << t.name;
      EXPECT_EQ(g->find_tensor(t.name), &t);
    }
  }
}

// How many of the whole pages of [data, data + bytes) are mapped in this process: bit 63 ("present") of
// each page's /proc/self/pagemap entry. Exact for the range, unlike process-wide counters.
long present_pages(const void* data, size_t bytes) {
  const long page = ::sysconf(_SC_PAGESIZE);
  const uintptr_t first = (reinterpret_cast<uintptr_t>(data) + page - 1) / page;
  const uintptr_t last = (reinterpret_cast<uintptr_t>(data) + bytes) / page;
  const int fd = ::open("/proc/self/pagemap", O_RDONLY);
  EXPECT_GE(fd, 0);
  long n = 0;
  for (uintptr_t p = first; p < last; ++p) {
    uint64_t entry = 0;
    EXPECT_EQ(::pread(fd, &entry, sizeof entry, static_cast<off_t>(p * sizeof entry)),
              static_cast<ssize_t>(sizeof entry));
    n += static_cast<long>(entry >> 63);
  }
  ::close(fd);
  return n;
}

// release_pages() must drop residency without changing what the mapping reads.
TEST(Gguf, ReleasedTensorPagesReadTheSameAndLeaveResidentMemory) {
  std::unique_ptr<GgufFile> g = GgufFile::open(golden("models/stories260K-f32.gguf"));
  const GgufTensorInfo* t = g->find_tensor("token_embd.weight");
  ASSERT_NE(t, nullptr);
  ASSERT_GE(t->bytes, 64u * 1024);  // several whole pages
  const auto* data = static_cast<const uint8_t*>(t->data);
  const std::vector<uint8_t> before(data, data + t->bytes);  // touches every page
  const long pages = static_cast<long>(t->bytes / ::sysconf(_SC_PAGESIZE)) - 1;
  ASSERT_GT(pages, 8);
  EXPECT_EQ(present_pages(data, t->bytes), pages);
  g->release_pages(t->data, t->bytes);
  EXPECT_EQ(present_pages(data, t->bytes), 0);
  EXPECT_EQ(std::memcmp(data, before.data(), before.size()), 0);  // faulted back in from the file
  // Out-of-mapping ranges are ignored rather than touching foreign memory.
  g->release_pages(before.data(), before.size());
  EXPECT_EQ(std::memcmp(data, before.data(), before.size()), 0);
}

// Generation reads one embedding row per step; a large table's pages must not stay mapped (the memory
// criterion of the kernels issue counts resident pages), while logits stay those of the file's values. The
// table must be over Forward's 16 MiB threshold: stories42M's shapes in Q8_0 have a 17 MiB one. Its
// embeddings are tied, so the table is also the output matrix: released once the backend has packed it.
TEST(Gguf, ForwardLeavesNoEmbeddingPagesResident) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("llamascope-embed-" + std::to_string(::getpid()) + ".gguf"))
          .string();
  const std::string command = std::string(LLAMASCOPE_BINARY) +
                              " synth --preset stories42m --type q8_0 -t 2 -o " + path + " > /dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  struct Remove {
    std::string path;
    ~Remove() { std::filesystem::remove(path); }
  } remove{path};

  const std::unique_ptr<Model> model = load_model(path);
  const Weight& table = model->token_embd;
  ASSERT_GE(table.bytes(), size_t{16} << 20);
  const std::vector<uint8_t> before(static_cast<const uint8_t*>(table.data),
                                    static_cast<const uint8_t*>(table.data) + table.bytes());
  ASSERT_GT(present_pages(table.data, table.bytes()), 1000);  // the copy above mapped them
  KernelSet kernels("simd", BackendOptions{2});
  Forward forward(*model, kernels, 64, 16);
  if (forward.prepared_bytes() == 0)
    GTEST_SKIP() << "no interleaved kernels on this CPU: the output reads the table";
  std::vector<float> logits(static_cast<size_t>(model->config.vocab_size));
  const int32_t prompt[] = {1, 403, 4007, 261, 31378};
  forward.eval(prompt, 0, logits.data());
  EXPECT_EQ(present_pages(table.data, table.bytes()), 0);
  for (int32_t pos = 5, token = 400; pos < 12; ++pos, token += 3001) {
    forward.eval(std::span<const int32_t>(&token, 1), pos, logits.data());
    EXPECT_EQ(present_pages(table.data, table.bytes()), 0) << "after the step at position " << pos;
  }
  EXPECT_EQ(std::memcmp(table.data, before.data(), before.size()), 0);
  for (float v : logits) ASSERT_TRUE(std::isfinite(v));
}

// The norm gains are read every step; they live in the model's own memory, with the file's values.
TEST(Gguf, NormGainsAreCopiedOutOfTheMapping) {
  const std::unique_ptr<Model> model = load_model(golden("models/stories260K-f32.gguf"));
  auto check = [&](const Weight& w, const std::string& name) {
    const GgufTensorInfo* t = model->gguf->find_tensor(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_NE(w.data, t->data) << name;
    ASSERT_EQ(w.bytes(), t->bytes) << name;
    EXPECT_EQ(std::memcmp(w.data, t->data, t->bytes), 0) << name;
  };
  check(model->output_norm, "output_norm.weight");
  for (size_t l = 0; l < model->layers.size(); ++l) {
    check(model->layers[l].attn_norm, "blk." + std::to_string(l) + ".attn_norm.weight");
    check(model->layers[l].ffn_norm, "blk." + std::to_string(l) + ".ffn_norm.weight");
  }
}

TEST(Gguf, Stories260KFacts) {
  std::unique_ptr<GgufFile> g = GgufFile::open(golden("models/stories260K-f32.gguf"));
  EXPECT_EQ(g->version(), 3u);
  EXPECT_EQ(g->get_string("general.architecture"), "llama");
  EXPECT_EQ(g->get_int("llama.embedding_length"), 64);
  EXPECT_EQ(g->get_int("llama.feed_forward_length"), 172);
  EXPECT_EQ(g->get_int("llama.block_count"), 5);
  EXPECT_EQ(g->get_int("llama.attention.head_count"), 8);
  EXPECT_EQ(g->get_int("llama.attention.head_count_kv"), 4);
  EXPECT_FLOAT_EQ(static_cast<float>(*g->get_float("llama.attention.layer_norm_rms_epsilon")), 1e-5f);
  EXPECT_EQ(g->get_int("tokenizer.ggml.padding_token_id"), 4294967295);  // uint32 "none" sentinel, widened
  EXPECT_EQ(g->get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(g->get_string_array("tokenizer.ggml.tokens")->size(), 512u);
  EXPECT_EQ(g->get_float_array("tokenizer.ggml.scores")->size(), 512u);
  EXPECT_EQ(g->get_int_array("tokenizer.ggml.token_type")->size(), 512u);
  EXPECT_EQ(g->get_string_array("tokenizer.ggml.tokens")->at(1), "<s>");

  EXPECT_EQ(g->tensors().size(), 3u + 9u * 5u);
  const GgufTensorInfo* embd = g->find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->shape, (std::vector<int64_t>{64, 512}));
  EXPECT_EQ(embd->type, TensorType::F32);
  EXPECT_EQ(embd->bytes, 64u * 512u * 4u);
  EXPECT_EQ(embd->elements(), 64 * 512);
  const GgufTensorInfo* k = g->find_tensor("blk.4.attn_k.weight");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->shape, (std::vector<int64_t>{64, 32}));  // 4 kv heads x head size 8
  EXPECT_EQ(g->find_tensor("blk.5.attn_k.weight"), nullptr);
  EXPECT_EQ(g->find("no.such.key"), nullptr);
  EXPECT_FALSE(g->get_int("no.such.key").has_value());
}

TEST(Gguf, SynthMiniFilesHoldTheirTensorType) {
  const std::pair<const char*, TensorType> cases[] = {
      {"F32", TensorType::F32},   {"F16", TensorType::F16},   {"Q8_0", TensorType::Q8_0},
      {"Q4_0", TensorType::Q4_0}, {"Q4_K", TensorType::Q4_K}, {"Q6_K", TensorType::Q6_K},
  };
  for (const auto& [suffix, type] : cases) {
    const std::string path = golden(std::string("models/synth-mini-") + suffix + ".gguf");
    SCOPED_TRACE(path);
    std::unique_ptr<GgufFile> g = GgufFile::open(path);
    EXPECT_EQ(g->get_int("llama.embedding_length"), 256);
    EXPECT_EQ(g->get_string_array("tokenizer.ggml.tokens")->size(), 512u);
    int matrices = 0;
    for (const GgufTensorInfo& t : g->tensors()) {
      // Norm weights stay F32; every matrix is stored in the file's type.
      if (t.shape.size() == 1) {
        EXPECT_EQ(t.type, TensorType::F32) << t.name;
      } else {
        EXPECT_EQ(t.type, type) << t.name;
        ++matrices;
      }
    }
    EXPECT_EQ(matrices, 2 + 7 * 4);
    const GgufTensorInfo* down = g->find_tensor("blk.3.ffn_down.weight");
    ASSERT_NE(down, nullptr);
    EXPECT_EQ(down->shape, (std::vector<int64_t>{768, 256}));
    EXPECT_EQ(down->bytes, row_bytes(type, 768) * 256);
  }
}

TEST(Gguf, TokenizerVocabularies) {
  std::unique_ptr<GgufFile> spm = GgufFile::open(golden("tokenizer/ggml-vocab-llama-spm.gguf"));
  EXPECT_TRUE(spm->tensors().empty());
  EXPECT_EQ(spm->get_string_array("tokenizer.ggml.tokens")->size(), 32000u);
  EXPECT_EQ(spm->get_float_array("tokenizer.ggml.scores")->size(), 32000u);
  EXPECT_EQ(spm->get_bool("tokenizer.ggml.add_bos_token"), true);
  EXPECT_EQ(spm->get_bool("tokenizer.ggml.add_eos_token"), false);

  std::unique_ptr<GgufFile> gpt2 = GgufFile::open(golden("tokenizer/ggml-vocab-gpt-2.gguf"));
  EXPECT_EQ(gpt2->get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(gpt2->get_string_array("tokenizer.ggml.tokens")->size(), 50257u);
  EXPECT_EQ(gpt2->get_string_array("tokenizer.ggml.merges")->size(), 50000u);
  EXPECT_EQ(gpt2->get_int("tokenizer.ggml.eos_token_id"), 50256);

  std::unique_ptr<GgufFile> tiny = GgufFile::open(golden("models/llama-2-tiny-random.gguf"));
  EXPECT_EQ(tiny->get_string_array("tokenizer.ggml.tokens")->size(), 32000u);
  EXPECT_EQ(tiny->find_tensor("token_embd.weight")->type, TensorType::F16);
}

// Writes a file holding every metadata type, arrays of every element type, arrays nested two deep, and
// tensors of three types; reads it back and compares everything, tensor bytes included.
class GgufRoundTrip : public ::testing::TestWithParam<uint64_t> {};

TEST_P(GgufRoundTrip, EveryMetadataTypeAndTensorsSurvive) {
  const uint64_t alignment = GetParam();
  ScratchDir dir;
  const std::string path = dir.file("round-trip.gguf");

  std::vector<GgufKeyValue> expected = {
      {"t.u8", uint_value(GgufType::UINT8, 250)},
      {"t.i8", int_value(GgufType::INT8, -120)},
      {"t.u16", uint_value(GgufType::UINT16, 65000)},
      {"t.i16", int_value(GgufType::INT16, -32000)},
      {"t.u32", uint_value(GgufType::UINT32, 4000000000u)},
      {"t.i32", int_value(GgufType::INT32, -2000000000)},
      {"t.u64", uint_value(GgufType::UINT64, 18000000000000000000ull)},
      {"t.i64", int_value(GgufType::INT64, -9000000000000000000ll)},
      {"t.f32", float_value(GgufType::FLOAT32, 0.1f)},
      {"t.f64", float_value(GgufType::FLOAT64, 0.1)},
      {"t.bool", int_value(GgufType::BOOL, 1)},
      {"t.str", string_value(std::string("h\xc3\xa9llo\n\0world", 13))},
      {"t.empty_str", string_value("")},
      {"t.arr_u8",
       array_value(GgufType::UINT8, {uint_value(GgufType::UINT8, 0), uint_value(GgufType::UINT8, 255)})},
      {"t.arr_i16", array_value(GgufType::INT16, {int_value(GgufType::INT16, -5)})},
      {"t.arr_i32",
       array_value(GgufType::INT32, {int_value(GgufType::INT32, 1), int_value(GgufType::INT32, -2)})},
      {"t.arr_u64", array_value(GgufType::UINT64, {uint_value(GgufType::UINT64, 1ull << 63)})},
      {"t.arr_f32", array_value(GgufType::FLOAT32, {float_value(GgufType::FLOAT32, -1.5),
                                                    float_value(GgufType::FLOAT32, 3.25)})},
      {"t.arr_f64", array_value(GgufType::FLOAT64, {float_value(GgufType::FLOAT64, 1e300)})},
      {"t.arr_bool",
       array_value(GgufType::BOOL, {int_value(GgufType::BOOL, 0), int_value(GgufType::BOOL, 1)})},
      {"t.arr_str",
       array_value(GgufType::STRING, {string_value("a"), string_value(""), string_value("ccc")})},
      {"t.arr_empty", array_value(GgufType::INT64, {})},
      {"t.arr_nested",
       array_value(
           GgufType::ARRAY,
           {array_value(GgufType::STRING, {string_value("x"), string_value("yz")}),
            array_value(GgufType::UINT16, {uint_value(GgufType::UINT16, 7)}),
            array_value(GgufType::ARRAY, {array_value(GgufType::INT8, {int_value(GgufType::INT8, -1)})})})},
  };

  struct TensorCase {
    std::string name;
    TensorType type;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::mt19937 rng(1234);
  std::vector<TensorCase> tensors = {
      {"a.f32", TensorType::F32, {3, 5}, {}},  // 60 bytes: forces padding before the next tensor
      {"b.q8_0", TensorType::Q8_0, {64, 2, 3}, {}},
      {"c.q4_k", TensorType::Q4_K, {256, 1, 1, 2}, {}},
      {"d.f16", TensorType::F16, {7}, {}},
  };
  for (TensorCase& t : tensors) {
    uint64_t n = row_bytes(t.type, t.shape[0]);
    for (size_t d = 1; d < t.shape.size(); ++d) n *= static_cast<uint64_t>(t.shape[d]);
    t.bytes.resize(n);
    for (uint8_t& b : t.bytes) b = static_cast<uint8_t>(rng());
  }

  {
    GgufWriter w(path, alignment);
    for (const GgufKeyValue& kv : expected) w.set(kv.key, kv.value);
    w.set_u32("t.u8", 1);  // replaced below: set() must replace, not append
    w.set(expected[0].key, expected[0].value);
    w.set_string("general.architecture", "llama");
    w.set_i32("x.i32", -7);
    w.set_f32("x.f32", 2.5f);
    w.set_bool("x.bool", false);
    for (const TensorCase& t : tensors) w.declare_tensor(t.name, t.type, t.shape);
    w.write_header();
    for (const TensorCase& t : tensors) {
      // Stream in uneven pieces, as the quantizer does.
      uint64_t done = 0;
      while (done < t.bytes.size()) {
        const uint64_t n = std::min<uint64_t>(t.bytes.size() - done, 1 + done % 13);
        w.write_tensor_data(t.bytes.data() + done, n);
        done += n;
      }
    }
    EXPECT_FALSE(std::filesystem::exists(path)) << "the file appears only on finish()";
    EXPECT_TRUE(std::filesystem::exists(path + ".tmp"));
    w.finish();
  }
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  std::unique_ptr<GgufFile> g = GgufFile::open(path);
  EXPECT_EQ(g->version(), 3u);
  EXPECT_EQ(g->alignment(), alignment);
  EXPECT_EQ(g->get_int("general.alignment").has_value(), alignment != 32);
  for (const GgufKeyValue& kv : expected) {
    const GgufValue* v = g->find(kv.key);
    ASSERT_NE(v, nullptr) << kv.key;
    expect_same_value(*v, kv.value, kv.key);
  }
  EXPECT_EQ(g->find("t.u8")->u, 250u);
  EXPECT_EQ(g->get_string("general.architecture"), "llama");
  EXPECT_EQ(g->get_int("x.i32"), -7);
  EXPECT_EQ(g->get_float("x.f32"), 2.5);
  EXPECT_EQ(g->get_bool("x.bool"), false);
  EXPECT_EQ(g->metadata().size(), expected.size() + 4 + (alignment != 32 ? 1 : 0));

  ASSERT_EQ(g->tensors().size(), tensors.size());
  for (size_t k = 0; k < tensors.size(); ++k) {
    const GgufTensorInfo& t = g->tensors()[k];
    EXPECT_EQ(t.name, tensors[k].name);
    EXPECT_EQ(t.type, tensors[k].type);
    EXPECT_EQ(t.shape, tensors[k].shape);
    EXPECT_EQ(t.bytes, tensors[k].bytes.size());
    EXPECT_EQ(t.offset % alignment, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % std::min<uint64_t>(alignment, 4096), 0u);
    EXPECT_EQ(std::memcmp(t.data, tensors[k].bytes.data(), t.bytes), 0) << t.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Alignments, GgufRoundTrip, ::testing::Values(32, 1, 64, 4096));

TEST(Gguf, CopyOfARealFileReadsTheSame) {
  ScratchDir dir;
  const std::string path = dir.file("copy.gguf");
  std::unique_ptr<GgufFile> src = GgufFile::open(golden("models/synth-mini-Q4_K.gguf"));
  {
    GgufWriter w(path);
    for (const GgufKeyValue& kv : src->metadata()) w.set(kv.key, kv.value);
    for (const GgufTensorInfo& t : src->tensors()) w.declare_tensor(t.name, t.type, t.shape);
    w.write_header();
    for (const GgufTensorInfo& t : src->tensors()) w.write_tensor_data(t.data, t.bytes);
    w.finish();
  }
  // ggml lays tensors out the same way (in order, each padded to the alignment), so the copy is
  // byte-identical.
  EXPECT_EQ(read_bytes(path), read_bytes(src->path()));
}

TEST(Gguf, TypedGettersRejectWrongTypes) {
  ScratchDir dir;
  const std::string path = dir.file("types.gguf");
  {
    GgufWriter w(path);
    w.set_string("s", "text");
    w.set_u32("u", 7);
    w.set("big", uint_value(GgufType::UINT64, 1ull << 63));
    w.set("neg", int_value(GgufType::INT8, -3));
    w.set_bool("b", true);
    w.set_f32("f", 0.5f);
    w.set("ints", array_value(GgufType::UINT16, {uint_value(GgufType::UINT16, 1)}));
    w.set("bigs", array_value(GgufType::UINT64, {uint_value(GgufType::UINT64, ~0ull)}));
    w.set("strs", array_value(GgufType::STRING, {string_value("q")}));
    w.set("nested", array_value(GgufType::ARRAY, {array_value(GgufType::FLOAT32, {})}));
    w.finish();
  }
  std::unique_ptr<GgufFile> g = GgufFile::open(path);
  EXPECT_EQ(g->get_int("u"), 7);
  EXPECT_EQ(g->get_int("neg"), -3);
  EXPECT_EQ(g->get_float("u"), 7.0);  // integers are accepted where a float is asked for
  EXPECT_EQ(g->get_float("f"), 0.5);
  EXPECT_EQ(g->get_bool("b"), true);
  EXPECT_EQ(g->get_int_array("ints"), (std::vector<int64_t>{1}));
  EXPECT_EQ(g->get_float_array("ints"), (std::vector<float>{1.0f}));
  EXPECT_EQ(g->get_string_array("strs"), (std::vector<std::string>{"q"}));

  const auto expect_error_naming = [&](const std::function<void()>& call, const std::string& key) {
    try {
      call();
      ADD_FAILURE() << key << ": no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("'" + key + "'"), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).rfind(path + ": ", 0), 0u) << e.what();
    }
  };
  expect_error_naming([&] { g->get_int("s"); }, "s");
  expect_error_naming([&] { g->get_int("f"); }, "f");
  expect_error_naming([&] { g->get_int("b"); }, "b");
  expect_error_naming([&] { g->get_int("big"); }, "big");  // does not fit int64
  expect_error_naming([&] { g->get_float("s"); }, "s");
  expect_error_naming([&] { g->get_bool("u"); }, "u");
  expect_error_naming([&] { g->get_string("u"); }, "u");
  expect_error_naming([&] { g->get_string("strs"); }, "strs");
  expect_error_naming([&] { g->get_string_array("ints"); }, "ints");
  expect_error_naming([&] { g->get_string_array("s"); }, "s");
  expect_error_naming([&] { g->get_float_array("strs"); }, "strs");
  expect_error_naming([&] { g->get_float_array("nested"); }, "nested");
  expect_error_naming([&] { g->get_int_array("strs"); }, "strs");
  expect_error_naming([&] { g->get_int_array("bigs"); }, "bigs");
  expect_error_naming([&] { g->get_int_array("u"); }, "u");
  EXPECT_FALSE(g->get_string_array("absent").has_value());
  EXPECT_FALSE(g->get_bool("absent").has_value());
}

TEST(GgufWriter, RejectsTensorDataOfTheWrongSize) {
  ScratchDir dir;
  const std::vector<uint8_t> data(64 * 4 + 100, 1);
  {  // too many bytes in one call
    const std::string path = dir.file("long.gguf");
    GgufWriter w(path);
    w.declare_tensor("t", TensorType::F32, {64});
    w.write_header();
    EXPECT_THROW(w.write_tensor_data(data.data(), 64 * 4 + 4), Error);
  }
  {  // too few bytes before finish()
    const std::string path = dir.file("short.gguf");
    GgufWriter w(path);
    w.declare_tensor("t", TensorType::F32, {64});
    w.declare_tensor("u", TensorType::F32, {64});
    w.write_header();
    w.write_tensor_data(data.data(), 64 * 4);
    w.write_tensor_data(data.data(), 64 * 4 - 4);
    try {
      w.finish();
      ADD_FAILURE() << "finish() accepted a short tensor";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("'u'"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("252"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(std::filesystem::exists(path));
  }
  {  // data beyond the last tensor
    const std::string path = dir.file("extra.gguf");
    GgufWriter w(path);
    w.declare_tensor("t", TensorType::F32, {64});
    w.write_header();
    w.write_tensor_data(data.data(), 64 * 4);
    EXPECT_THROW(w.write_tensor_data(data.data(), 1), Error);
  }
  // An unfinished writer leaves neither the file nor its temporary behind.
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    ADD_FAILURE() << "left behind: " << entry.path();
}

TEST(GgufWriter, RejectsInvalidDeclarations) {
  ScratchDir dir;
  EXPECT_THROW(GgufWriter(dir.file("a.gguf"), 0), Error);
  EXPECT_THROW(GgufWriter(dir.file("a.gguf"), 48), Error);
  GgufWriter w(dir.file("a.gguf"));
  EXPECT_THROW(w.declare_tensor("q", TensorType::Q4_K, {128}), Error);  // not a multiple of 256
  EXPECT_THROW(w.declare_tensor("z", TensorType::F32, {4, 0}), Error);
  EXPECT_THROW(w.declare_tensor("n", TensorType::F32, {-4}), Error);
  EXPECT_THROW(w.declare_tensor("five", TensorType::F32, {1, 1, 1, 1, 1}), Error);
  EXPECT_THROW(w.declare_tensor("none", TensorType::F32, {}), Error);
  EXPECT_THROW(w.declare_tensor("overflow", TensorType::F32, {int64_t(1) << 40, int64_t(1) << 40}), Error);
  EXPECT_THROW(w.declare_tensor(std::string(64, 'x'), TensorType::F32, {4}), Error);
  w.declare_tensor("ok", TensorType::F32, {4});
  EXPECT_THROW(w.declare_tensor("ok", TensorType::F32, {4}), Error);
  w.set("bad_array", array_value(GgufType::INT32, {string_value("not an int")}));
  EXPECT_THROW(w.write_header(), Error);  // element type differs from the array's
}

TEST(GgufWriter, DestructorRemovesTheTemporaryFile) {
  ScratchDir dir;
  const std::string path = dir.file("abandoned.gguf");
  {
    GgufWriter w(path);
    w.declare_tensor("t", TensorType::F32, {8});
    w.write_header();
    EXPECT_TRUE(std::filesystem::exists(path + ".tmp"));
  }
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(GgufWriter, MetadataOnlyFile) {
  ScratchDir dir;
  const std::string path = dir.file("meta.gguf");
  {
    GgufWriter w(path);
    w.set_string("general.architecture", "llama");
    w.finish();  // write_header() is implied
  }
  std::unique_ptr<GgufFile> g = GgufFile::open(path);
  EXPECT_TRUE(g->tensors().empty());
  EXPECT_EQ(g->get_string("general.architecture"), "llama");
}

}  // namespace
}  // namespace llamascope
