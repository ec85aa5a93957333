// The op descriptor (kernels/op_desc.h): its printed form parses back to the same descriptor for every op
// checker case, bad text is one Error each, and bytes and FLOPs follow docs/results.md's table, worked by
// hand here.
#include <gtest/gtest.h>

#include <string>

#include "base/error.h"
#include "engine/forward.h"
#include "kernels/op_check.h"
#include "kernels/op_desc.h"

namespace llamascope {
namespace {

TEST(OpDesc, EveryDefaultCaseParsesBackFromItsText) {
  const std::vector<OpDesc> cases = default_op_cases();
  ASSERT_GT(cases.size(), 100u);
  for (const OpDesc& c : cases) {
    const std::string text = c.str();
    const OpDesc back = OpDesc::parse(text);
    EXPECT_EQ(back, c) << text << " came back as " << back.str();
    EXPECT_EQ(back.str(), text);
  }
}

TEST(OpDesc, NamesAndMixedGroupsParseBack) {
  OpDesc qkv = OpDesc::matmul(TensorType::Q4_K, 2048, 2048, 5);
  qkv.add_weight(TensorType::Q6_K, 256).add_weight(TensorType::Q6_K, 256);
  qkv.name = "attn_qkv";
  EXPECT_EQ(qkv.str(), "matmuls type=Q4_K,Q6_K,Q6_K rows=2048,256,256 cols=2048 n=5 name=attn_qkv");
  EXPECT_EQ(OpDesc::parse(qkv.str()), qkv);
  OpDesc norm = OpDesc::rowwise(OpKind::rmsnorm, 64, 3);
  norm.types[0] = TensorType::F16;
  EXPECT_EQ(norm.str(), "rmsnorm cols=64 n=3 type=F16");
  EXPECT_EQ(OpDesc::parse(norm.str()), norm);
  // Spacing and key order are free; the values are what count.
  EXPECT_EQ(OpDesc::parse("  attention  pos0=17 n=4 head_dim=64 kv_heads=2 heads=8 kv=f16 "),
            OpDesc::attention(TensorType::F16, 8, 2, 64, 4, 17));
}

TEST(OpDesc, BadTextIsOneErrorLine) {
  const char* bad[] = {
      "",
      "   ",
      "matmult type=F32 rows=1 cols=32 n=1",                          // unknown op
      "matmul type=F32 rows=1 cols=32",                               // n missing
      "matmul type=F32 rows=1 cols=32 n=1 n=2",                       // twice
      "matmul type=F32 rows=1 cols=32 n=1 pos0=3",                    // not a matmul key
      "matmul type=Q4_0 rows=1 cols=33 n=1",                          // not whole blocks
      "matmul type=Q4_K rows=1 cols=512 n=1,2",                       // not a number
      "matmul type=Q8_K rows=1 cols=256 n=1",                         // activation-only type
      "matmul type=Q9_9 rows=1 cols=32 n=1",                          // unknown type
      "matmul type=F32 rows=1,2 cols=32 n=1",                         // several weights: matmuls
      "matmuls type=F32 rows=4 cols=32 n=1",                          // one weight
      "matmuls type=F32 rows=4,1,1,1 cols=32 n=1",                    // four weights
      "matmuls type=F32,F16 rows=4,1,1 cols=32 n=1",                  // two types for three weights
      "matmul type=F32 rows=-1 cols=32 n=1",                          // negative
      "matmul type=F32 rows=+1 cols=32 n=1",                          // sign
      "matmul type=F32 rows=1x cols=32 n=1",                          // trailing junk
      "matmul type=F32 rows=99999999999999999999999 cols=32 n=1",     // overflow
      "matmul type=F32 rows=1 cols=32 n=0",                           // empty batch
      "matmul type=F32 rows=1 cols=32 n=1 =3",                        // no key
      "matmul type=F32 rows=1 cols=32 n=1 stray",                     // not key=value
      "rmsnorm cols=7 n=1 heads=2",                                   // not an rmsnorm key
      "swiglu cols=7 n=1 type=F32",                                   // only rmsnorm has a type
      "rope heads=6 kv_heads=4 head_dim=64 n=1 pos0=0 factors=0",     // 6 heads over 4 KV heads
      "rope heads=8 kv_heads=16 head_dim=64 n=1 pos0=0 factors=0",    // more KV heads than heads
      "rope heads=8 kv_heads=2 head_dim=63 n=1 pos0=0 factors=0",     // odd head_dim
      "rope heads=8 kv_heads=2 head_dim=64 n=1 pos0=0 factors=2",     // factors is 0 or 1
      "attention kv=Q4_0 heads=8 kv_heads=2 head_dim=64 n=1 pos0=0",  // not a cache type
      "attention heads=8 kv_heads=2 head_dim=64 n=1 pos0=0",          // kv missing
      "add cols=7 n=1 name=Attn-Add",                                 // not an op name
      "add cols=7\nn=1 name",  // a line break is white space; name is bare
  };
  for (const char* text : bad) {
    try {
      const OpDesc d = OpDesc::parse(text);
      ADD_FAILURE() << "accepted '" << text << "' as " << d.str();
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_FALSE(message.empty()) << text;
      EXPECT_EQ(message.find('\n'), std::string::npos) << text << ": " << message;
    }
  }
}

// docs/results.md, "Bytes and FLOPs", worked by hand.
TEST(OpDesc, BytesAndFlopsFollowTheDocumentedFormulas) {
  // Q4_0: 18 bytes per 32 values, so 144 bytes a row of 256; W = 64 x 144.
  const OpDesc mm = OpDesc::matmul(TensorType::Q4_0, 64, 256, 2);
  EXPECT_EQ(mm.bytes(), 64 * 144 + 2 * (256 + 64) * 4);
  EXPECT_EQ(mm.flops(), 2.0 * 2 * 64 * 256);
  // A grouped matmul is its weights stacked: 12 x 32 F32 rows, the 3 x 32 input read once.
  OpDesc group = OpDesc::matmul(TensorType::F32, 8, 32, 3);
  group.add_weight(TensorType::F32, 2).add_weight(TensorType::F32, 2);
  EXPECT_EQ(group.bytes(), 12 * 32 * 4 + 3 * (32 + 12) * 4);
  EXPECT_EQ(group.flops(), 2.0 * 3 * 12 * 32);
  // Q8_0: 34 bytes per 32 values; three table rows of 64 read, three float rows written.
  EXPECT_EQ(OpDesc::embed(TensorType::Q8_0, 37, 64, 3).bytes(), 3 * 68 + 3 * 64 * 4);
  EXPECT_EQ(OpDesc::embed(TensorType::Q8_0, 37, 64, 3).flops(), 0);
  EXPECT_EQ(OpDesc::rowwise(OpKind::rmsnorm, 64, 2).bytes(), 64 * 4 + 2 * 2 * 64 * 4);
  EXPECT_EQ(OpDesc::rowwise(OpKind::rmsnorm, 64, 2).flops(), 4 * 2 * 64);
  EXPECT_EQ(OpDesc::rowwise(OpKind::swiglu, 10, 3).bytes(), 3 * 3 * 10 * 4);
  EXPECT_EQ(OpDesc::rowwise(OpKind::swiglu, 10, 3).flops(), 5 * 3 * 10);
  EXPECT_EQ(OpDesc::rowwise(OpKind::add, 10, 3).bytes(), 3 * 3 * 10 * 4);
  EXPECT_EQ(OpDesc::rowwise(OpKind::add, 10, 3).flops(), 3 * 10);
  // q_dim 32, kv_dim 16.
  const OpDesc rope = OpDesc::rope(4, 2, 8, 2, 3, false);
  EXPECT_EQ(rope.bytes(), 2 * 2 * (32 + 16) * 4);
  EXPECT_EQ(rope.flops(), 3 * 2 * (32 + 16));
  // Two queries at positions 3 and 4 read 4 + 5 = 9 keys in all; 5 cache rows of K and V are read.
  const OpDesc att = OpDesc::attention(TensorType::F32, 4, 2, 8, 2, 3);
  EXPECT_EQ(att.n_keys(), 5);
  EXPECT_EQ(att.bytes(), 2 * 5 * 16 * 4 + 2 * 2 * 32 * 4);
  EXPECT_EQ(att.flops(), 4 * 9 * (4 * 8 + 5));
}

// The profile's descriptor of a forward op: the weights' own types and rows, the model's widths elsewhere.
TEST(OpDesc, ForwardEventsDescribeTheirWeights) {
  ModelConfig c;
  c.dim = 64, c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 16, c.hidden_dim = 96;
  const Weight q{"blk.0.attn_q.weight", TensorType::Q4_K, nullptr, 64, 256, row_bytes(TensorType::Q4_K, 256)};
  const Weight k{"blk.0.attn_k.weight", TensorType::Q6_K, nullptr, 32, 256, row_bytes(TensorType::Q6_K, 256)};
  OpEvent e{"attn_qkv", OpKind::matmul, 0, 7, 3, {&q, &k, &k}, 3, 0, 0, "host_steady"};
  const OpDesc d = e.desc(c, 3);
  EXPECT_EQ(d.str(), "matmuls type=Q4_K,Q6_K,Q6_K rows=64,32,32 cols=256 n=3 name=attn_qkv");
  EXPECT_EQ(d.bytes(), double(q.bytes() + 2 * k.bytes()) + 3 * (256 + 128) * 4);
  OpEvent attn{"attn", OpKind::attention, 0, 7, 3, {}, 0, 10, 0, "host_steady"};
  EXPECT_EQ(attn.desc(c, 3).str(), "attention kv=F32 heads=4 kv_heads=2 head_dim=16 n=3 pos0=7 name=attn");
  EXPECT_EQ(attn.desc(c, 3).n_keys(), attn.n_keys);
  OpEvent swiglu{"swiglu", OpKind::swiglu, 0, 7, 3, {}, 0, 0, 0, "host_steady"};
  EXPECT_EQ(swiglu.desc(c, 3).str(), "swiglu cols=96 n=3 name=swiglu");
}

// A case re-run from its text gives the same result: inputs come from the seed, op and type only.
TEST(OpDesc, ReparsedCaseChecksTheSame) {
  std::unique_ptr<Backend> scalar = find_backend("scalar")->create(BackendOptions{1});
  const std::vector<OpDesc> cases = default_op_cases();
  for (size_t i = 0; i < cases.size(); i += 23) {
    const OpCheckResult a = check_op(*scalar, cases[i]), b = check_op(*scalar, OpDesc::parse(cases[i].str()));
    EXPECT_EQ(a.nmse, b.nmse) << cases[i].str();
    EXPECT_TRUE(a.passed()) << cases[i].str();
  }
}

TEST(OpDesc, CheckerRefusesCasesTooLargeToHold) {
  EXPECT_NO_THROW(check_op_size(OpDesc::parse("matmul type=F32 rows=4096 cols=4096 n=64")));
  EXPECT_THROW(check_op_size(OpDesc::parse("matmul type=F32 rows=65536 cols=65536 n=1")), Error);
  EXPECT_THROW(
      check_op_size(OpDesc::parse("attention kv=F32 heads=32 kv_heads=32 head_dim=128 n=1 pos0=16777216")),
      Error);
}

}  // namespace
}  // namespace llamascope
