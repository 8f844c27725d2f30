// core/base's encoders, ids and clock against known vectors (RFC 4648 section 10 for base64) and
// round trips, so the one spelling every room uses is the standard one.
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <string>

#include "core/base/clock.h"
#include "core/base/encoding.h"
#include "core/base/random_hex.h"
#include "core/base/sha256.h"

namespace aifgen {
namespace {

TEST(BaseEncoding, HexIsLowerCaseTwoDigitsPerByte) {
  EXPECT_EQ(to_hex(std::string("\x00\x01\xab\xff", 4)), "0001abff");
  EXPECT_EQ(to_hex(""), "");
  EXPECT_EQ(from_hex("0001ABff"), std::string("\x00\x01\xab\xff", 4));
  EXPECT_EQ(from_hex(""), std::string());
}

TEST(BaseEncoding, MalformedHexIsRefused) {
  EXPECT_FALSE(from_hex("abc").has_value());   // odd length
  EXPECT_FALSE(from_hex("zz").has_value());    // not a digit
  EXPECT_FALSE(from_hex("ab:cd").has_value()); // separators are not hex
}

TEST(BaseEncoding, Base64MatchesRfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},           {"f", "Zg=="},         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},    {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(to_base64(plain), encoded) << plain;
    EXPECT_EQ(from_base64(encoded), std::string(plain)) << encoded;
  }
}

TEST(BaseEncoding, Base64RoundTripsEveryByteValue) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (std::size_t n = 0; n <= all.size(); n += 37) EXPECT_EQ(from_base64(to_base64(all.substr(0, n))), all.substr(0, n));
  EXPECT_FALSE(from_base64("Zm9").has_value());    // not a multiple of 4
  EXPECT_FALSE(from_base64("Zm9*").has_value());   // not in the alphabet
}

TEST(BaseEncoding, DigestHeaderFormOfASha256) {
  // RFC 9530's example digest of {"hello": "world"}\n is not ours to copy; compute one instead:
  // the base64 of the raw digest must decode back to the digest's bytes.
  const auto hex = Sha256::of("aifgen");
  const auto b64 = hex_digest_to_base64(hex);
  EXPECT_EQ(b64.size(), 44u);
  EXPECT_EQ(to_hex(from_base64(b64).value()), hex);
}

TEST(BaseClock, Iso8601UtcWithMilliseconds) {
  using namespace std::chrono;
  const system_clock::time_point t = sys_days{year{2026} / 12 / 2} + hours{15} + minutes{4} + seconds{5} + milliseconds{7};
  EXPECT_EQ(iso8601_utc(t), "2026-12-02T15:04:05.007Z");
  EXPECT_EQ(iso8601_utc_seconds(1700000000), "2023-11-14T22:13:20Z");
  EXPECT_TRUE(std::regex_match(now_iso8601(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"))) << now_iso8601();
}

TEST(BaseClock, TextOrderIsTimeOrder) {
  using namespace std::chrono;
  const system_clock::time_point a = sys_days{year{2026} / 1 / 9} + milliseconds{999};
  EXPECT_LT(iso8601_utc(a), iso8601_utc(a + milliseconds{1}));
  EXPECT_LT(iso8601_utc(a), iso8601_utc(a + hours{24 * 40}));
}

TEST(BaseIds, PrefixedNinetySixRandomBits) {
  const auto a = new_id("job"), b = new_id("job");
  EXPECT_TRUE(std::regex_match(a, std::regex("job_[0-9a-f]{24}"))) << a;
  EXPECT_NE(a, b);
  EXPECT_EQ(random_hex(0), "");
  EXPECT_EQ(random_hex(5).size(), 10u);
}

}  // namespace
}  // namespace aifgen
