// The v2 inference wire format: JSON and binary tensors both ways, and requests that must be
// refused (before anything is allocated by a declared shape).
#include "api/kserve/kserve_codec.h"

#include <gtest/gtest.h>

#include <cstring>

#include "core/base/error.h"

namespace aifgen::api {
namespace {

std::string error_of(const std::string& body, std::size_t header = 0) {
  try {
    decode_request(body, header);
  } catch (const Error& e) {
    return e.type();
  }
  return "accepted";
}

TEST(KServeCodec, JsonAndBinaryRequestsRoundTrip) {
  auto r = decode_request(R"({"id":"7","inputs":[{"name":"x","datatype":"FP32","shape":[2,2],"data":[[1,2],[3,4.5]]}],
                             "outputs":[{"name":"y","parameters":{"binary_data":true}}]})", 0);
  ASSERT_EQ(r.inputs.count("x"), 1u);
  EXPECT_EQ(r.inputs.at("x").shape, (engine::Shape{2, 2}));
  EXPECT_EQ(r.inputs.at("x").as<float>()[3], 4.5f);
  EXPECT_EQ(r.id, "7");
  EXPECT_TRUE(r.binary_outputs.at("y"));

  auto t = engine::Tensor::allocate(engine::DType::kI64, {3});
  for (int i = 0; i < 3; ++i) t.as<std::int64_t>()[i] = 10 * i - 7;
  auto enc = encode_binary_request({{"ids", t}});
  auto back = decode_request(enc.body, enc.header_length);
  ASSERT_EQ(back.inputs.at("ids").dtype, engine::DType::kI64);
  EXPECT_EQ(std::memcmp(back.inputs.at("ids").data, t.data, t.bytes()), 0);

  auto resp = encode_response("m", "7", {{"ids", t}}, {}, true);
  EXPECT_GT(resp.header_length, 0u);
  auto outs = decode_response(resp.body, resp.header_length);
  EXPECT_EQ(std::memcmp(outs.at("ids").data, t.data, t.bytes()), 0);
  auto json = encode_response("m", "", {{"ids", t}}, {}, false);
  EXPECT_EQ(json.header_length, 0u);
  EXPECT_EQ(decode_response(json.body, 0).at("ids").as<std::int64_t>()[2], 13);
}

TEST(KServeCodec, MalformedRequestsAreRefused) {
  EXPECT_EQ(error_of("not json"), "infer-bad-request");
  EXPECT_EQ(error_of(R"({"inputs":[]})"), "infer-bad-request");
  EXPECT_EQ(error_of(R"({"inputs":[{"name":"x","datatype":"FP99","shape":[1],"data":[1]}]})"), "infer-bad-request");
  EXPECT_EQ(error_of(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[3],"data":[1,2]}]})"), "infer-bad-request");
  EXPECT_EQ(error_of(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":["a"]}]})"), "infer-bad-request");
  EXPECT_EQ(error_of(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[-1],"data":[]}]})"), "infer-bad-request");
  // Values the datatype cannot hold are refused instead of cast (undefined behaviour; found by
  // fuzz_kserve_request), and ones it can hold are kept exactly.
  for (const char* bad : {R"("UINT8","shape":[1],"data":[256])", R"("UINT8","shape":[1],"data":[-1])",
                          R"("UINT8","shape":[1],"data":[99999999.999])", R"("INT32","shape":[1],"data":[1.5])",
                          R"("INT64","shape":[1],"data":[9.3e18])", R"("INT64","shape":[1],"data":[18446744073709551615])",
                          R"("FP32","shape":[1],"data":[1e300])", R"("INT8","shape":[1],"data":[-129])"})
    EXPECT_EQ(error_of(std::string(R"({"inputs":[{"name":"x","datatype":)") + bad + "}]}"), "infer-bad-request") << bad;
  for (const char* good : {R"("UINT8","shape":[2],"data":[0,255])", R"("INT8","shape":[1],"data":[-128])",
                           R"("INT64","shape":[1],"data":[-9223372036854775808])", R"("INT32","shape":[1],"data":[7.0])",
                           R"("FP32","shape":[1],"data":[3.4e38])"})
    EXPECT_EQ(error_of(std::string(R"({"inputs":[{"name":"x","datatype":)") + good + "}]}"), "accepted") << good;
  // A huge declared shape with no data behind it is refused, not allocated.
  EXPECT_EQ(error_of(R"({"inputs":[{"name":"x","datatype":"FP64","shape":[65536,65536],"data":[]}]})"), "infer-bad-request");
  // Binary data shorter than declared, longer than claimed, or a header length past the body.
  const std::string header = R"({"inputs":[{"name":"x","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}}]})";
  EXPECT_EQ(error_of(header + "1234", header.size()), "infer-bad-request");
  EXPECT_EQ(error_of(header + "123456789", header.size()), "infer-bad-request");
  EXPECT_EQ(error_of(header + "12345678", header.size() + 100), "infer-bad-request");
  EXPECT_EQ(error_of(header + "12345678", header.size()), "accepted");
}

}  // namespace
}  // namespace aifgen::api
