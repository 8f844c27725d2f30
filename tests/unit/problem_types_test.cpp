// The one table of problem slugs (core/base/problem_types.h) against the code that raises them
// and against openapi.yaml: every raised slug is in the table, each slug is raised with one
// ErrorCode whose status the table gives, and the API document lists exactly the table.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "api/rest/problem.h"
#include "core/base/problem_types.h"

namespace aifgen {
namespace {

const std::map<std::string, ErrorCode> kCodes = {
    {"kInvalidArgument", ErrorCode::kInvalidArgument}, {"kForbidden", ErrorCode::kForbidden},
    {"kNotFound", ErrorCode::kNotFound},               {"kConflict", ErrorCode::kConflict},
    {"kTooLarge", ErrorCode::kTooLarge},               {"kUnsupportedMedia", ErrorCode::kUnsupportedMedia},
    {"kInvalidModel", ErrorCode::kInvalidModel},       {"kUnprocessable", ErrorCode::kUnprocessable},
    {"kUnavailable", ErrorCode::kUnavailable},         {"kIo", ErrorCode::kIo},
    {"kInternal", ErrorCode::kInternal}};

struct Raise {
  std::string file;
  int status;  // from the ErrorCode, or the literal status of problem_response
  bool from_code;
};

// Every place the product code raises a slug: Error(ErrorCode::kX, "slug" ...) (also the
// two-slug form `cond ? "a" : "b"`, tried only when no literal follows the code), onnx_model.cpp's invalid("slug", ...) helper (kInvalidModel),
// and problem_response(STATUS, "slug", ...).
std::multimap<std::string, Raise> raised_slugs() {
  const std::regex error_re(R"re(Error\(\s*ErrorCode::(k\w+)\s*,\s*(?:[^;?]*?\?\s*)??"([a-z0-9-]+)"(?:\s*:\s*"([a-z0-9-]+)")?)re");
  const std::regex invalid_re(R"re(\binvalid\(\s*"([a-z0-9-]+)")re");
  const std::regex response_re(R"re(problem_response\(\s*(\d+)\s*,\s*"([a-z0-9-]+)")re");
  std::multimap<std::string, Raise> out;
  for (const char* room : {"core", "storage", "targets", "service", "api"}) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(std::filesystem::path(AIFGEN_SOURCE_DIR) / room)) {
      const auto ext = e.path().extension();
      if (ext != ".cpp" && ext != ".h") continue;
      std::ifstream in(e.path());
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string text = ss.str();
      const std::string file = e.path().lexically_relative(AIFGEN_SOURCE_DIR).string();
      for (std::sregex_iterator m(text.begin(), text.end(), error_re), end; m != end; ++m) {
        const int status = api::http_status_for(kCodes.at((*m)[1]));
        out.insert({(*m)[2], {file, status, true}});
        if ((*m)[3].matched) out.insert({(*m)[3], {file, status, true}});
      }
      if (file == "core/onnx_model.cpp")
        for (std::sregex_iterator m(text.begin(), text.end(), invalid_re), end; m != end; ++m)
          out.insert({(*m)[1], {file, api::http_status_for(ErrorCode::kInvalidModel), true}});
      for (std::sregex_iterator m(text.begin(), text.end(), response_re), end; m != end; ++m)
        out.insert({(*m)[2], {file, std::stoi((*m)[1]), false}});
    }
  }
  return out;
}

TEST(ProblemTypes, TheScanFindsTheRaiseSitesItShould) {
  // Guards the regexes: if they stopped matching, the tests below would pass on nothing.
  const auto raised = raised_slugs();
  EXPECT_GT(raised.size(), 150u);
  for (const char* s : {"model-checker-failed", "storage-full", "missing-model-field", "missing-file-field", "route-not-found"})
    EXPECT_TRUE(raised.count(s)) << s;
}

TEST(ProblemTypes, EveryRaisedSlugIsInTheTableWithItsStatus) {
  for (const auto& [slug, r] : raised_slugs()) {
    const auto* t = find_problem_type(slug);
    ASSERT_NE(t, nullptr) << r.file << " raises '" << slug << "', which core/base/problem_types.h does not list";
    // One exception, on purpose: storage-full is an I/O error (500) that answers 507.
    if (slug == "storage-full" && r.from_code) continue;
    EXPECT_EQ(t->status, r.status) << r.file << " raises '" << slug << "' with status " << r.status << "; the table says "
                                   << t->status;
  }
}

TEST(ProblemTypes, EachSlugIsRaisedWithOneErrorCode) {
  std::map<std::string, std::set<int>> statuses;
  for (const auto& [slug, r] : raised_slugs())
    if (r.from_code) statuses[slug].insert(r.status);
  for (const auto& [slug, s] : statuses) EXPECT_EQ(s.size(), 1u) << "'" << slug << "' is raised with several statuses";
}

TEST(ProblemTypes, EveryTableEntryIsRaisedSomewhereAndListedOnce) {
  const auto raised = raised_slugs();
  std::set<std::string_view> seen;
  for (const auto& p : kProblemTypes) {
    EXPECT_TRUE(seen.insert(p.slug).second) << "listed twice: " << p.slug;
    EXPECT_TRUE(raised.count(std::string(p.slug))) << "the table lists '" << p.slug << "' but no code raises it";
    EXPECT_TRUE(std::regex_match(std::string(p.slug), std::regex("[a-z0-9]+(-[a-z0-9]+)*"))) << p.slug;
    EXPECT_FALSE(p.meaning.empty()) << p.slug;
  }
}

TEST(ProblemTypes, OpenApiListsExactlyTheTable) {
  const auto doc = YAML::LoadFile(std::string(AIFGEN_SOURCE_DIR) + "/openapi.yaml");
  const auto listed = doc["components"]["schemas"]["Problem"]["properties"]["type"]["x-problem-types"];
  ASSERT_TRUE(listed.IsMap()) << "openapi.yaml: Problem.type has no x-problem-types map";
  std::set<std::string> in_doc;
  for (const auto& kv : listed) {
    const auto slug = kv.first.as<std::string>();
    in_doc.insert(slug);
    const auto* t = find_problem_type(slug);
    ASSERT_NE(t, nullptr) << "openapi.yaml lists '" << slug << "', which the table does not";
    EXPECT_EQ(kv.second["status"].as<int>(), t->status) << slug;
    EXPECT_EQ(kv.second["meaning"].as<std::string>(), std::string(t->meaning)) << slug;
  }
  for (const auto& p : kProblemTypes) EXPECT_TRUE(in_doc.count(std::string(p.slug))) << "openapi.yaml does not list " << p.slug;
}

}  // namespace
}  // namespace aifgen
