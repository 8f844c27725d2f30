// Streaming multipart parser: same result whatever the chunking, clear errors on bad framing.
#include "api/rest/multipart.h"

#include <gtest/gtest.h>

#include <map>

#include "core/base/error.h"

namespace aifgen::api {
namespace {

struct Collected {
  std::map<std::string, std::string> fields;
  std::map<std::string, std::string> filenames;
};

Collected parse(const std::string& body, const std::string& boundary, std::size_t chunk) {
  Collected out;
  std::string current;
  MultipartParser p(boundary);
  p.on_part_begin = [&](const PartHeaders& h) {
    current = h.name;
    out.filenames[h.name] = h.filename;
    out.fields[h.name];
  };
  p.on_part_data = [&](const char* d, std::size_t n) { out.fields[current].append(d, n); };
  p.on_part_end = [&] { current.clear(); };
  for (std::size_t i = 0; i < body.size(); i += chunk) p.feed(body.data() + i, std::min(chunk, body.size() - i));
  p.finish();
  return out;
}

std::string binary_payload() {
  std::string s;
  for (int i = 0; i < 3000; ++i) s.push_back(static_cast<char>(i % 256));
  s += "\r\n--almost-boundary\r\n--XYZ";  // looks like a delimiter but is not one
  return s;
}

std::string sample_body(const std::string& payload) {
  return "preamble to ignore\r\n"
         "--XYZZY\r\n"
         "Content-Disposition: form-data; name=\"name\"\r\n\r\n"
         "my model\r\n"
         "--XYZZY\r\n"
         "Content-Disposition: form-data; name=\"model\"; filename=\"m.onnx\"\r\n"
         "Content-Type: application/octet-stream\r\n\r\n" +
         payload + "\r\n--XYZZY--\r\nepilogue";
}

TEST(Multipart, SameResultForEveryChunkSize) {
  auto payload = binary_payload();
  auto body = sample_body(payload);
  for (std::size_t chunk : {1u, 2u, 3u, 7u, 64u, 1000u, 100000u}) {
    auto got = parse(body, "XYZZY", chunk);
    EXPECT_EQ(got.fields["name"], "my model") << chunk;
    EXPECT_EQ(got.fields["model"], payload) << chunk;
    EXPECT_EQ(got.filenames["model"], "m.onnx") << chunk;
  }
}

TEST(Multipart, BoundaryFromContentType) {
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=abc123"), "abc123");
  EXPECT_EQ(multipart_boundary("multipart/form-data; charset=utf-8; boundary=\"a b\""), "a b");
  EXPECT_THROW(multipart_boundary("multipart/form-data"), Error);
  EXPECT_THROW(multipart_boundary("multipart/form-data; boundary=" + std::string(80, 'a')), Error);
}

TEST(Multipart, MissingClosingDelimiterIsAnError) {
  std::string body = "--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nabc";
  EXPECT_THROW(parse(body, "B", 5), Error);
}

TEST(Multipart, PartWithoutNameIsAnError) {
  std::string body = "--B\r\nContent-Type: text/plain\r\n\r\nabc\r\n--B--\r\n";
  EXPECT_THROW(parse(body, "B", 100), Error);
}

TEST(Multipart, GarbageAfterDelimiterIsAnError) {
  std::string body = "--Bxx\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc\r\n--B--\r\n";
  EXPECT_THROW(parse(body, "B", 100), Error);
}

TEST(Multipart, NoDelimiterAtAllIsAnError) {
  EXPECT_THROW(parse(std::string(20000, 'x'), "B", 4096), Error);
}

}  // namespace
}  // namespace aifgen::api
