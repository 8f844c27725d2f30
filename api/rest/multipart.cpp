// Multipart framing: find delimiters in a sliding buffer, emitting part bytes that can no longer
// be the start of a delimiter.
#include "api/rest/multipart.h"

#include <algorithm>
#include <cctype>

#include "core/base/error.h"

namespace aifgen::api {
namespace {

constexpr std::size_t kMaxHeaderBlock = 16 * 1024;
constexpr std::size_t kMaxParts = 64;

[[noreturn]] void malformed(const std::string& why) {
  throw Error(ErrorCode::kInvalidArgument, "multipart-malformed", "malformed multipart body: " + why);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// Reads `key=value; key="quoted \" value"` parameters after the first ';'.
std::string header_param(const std::string& value, const std::string& key) {
  std::size_t i = value.find(';');
  while (i != std::string::npos && i < value.size()) {
    ++i;
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
    auto eq = value.find('=', i);
    if (eq == std::string::npos) return {};
    std::string k = lower(trim(value.substr(i, eq - i)));
    std::string v;
    std::size_t j = eq + 1;
    if (j < value.size() && value[j] == '"') {
      ++j;
      while (j < value.size() && value[j] != '"') {
        if (value[j] == '\\' && j + 1 < value.size()) ++j;
        v.push_back(value[j++]);
      }
      if (j >= value.size()) malformed("unterminated quoted parameter");
      ++j;
    } else {
      while (j < value.size() && value[j] != ';') v.push_back(value[j++]);
      v = trim(v);
    }
    if (k == key) return v;
    i = value.find(';', j);
  }
  return {};
}

}  // namespace

std::string multipart_boundary(const std::string& content_type) {
  std::string b = header_param(content_type, "boundary");
  if (b.empty() || b.size() > 70) malformed("the Content-Type has no valid boundary parameter");
  for (unsigned char c : b)
    if (c < 0x20 || c > 0x7e) malformed("the boundary has invalid characters");
  return b;
}

MultipartParser::MultipartParser(const std::string& boundary) : delimiter_("\r\n--" + boundary) {
  buf_ = "\r\n";  // lets the first delimiter, which has no leading CRLF, match like the others
}

void MultipartParser::feed(const char* data, std::size_t size) {
  if (state_ == State::kDone) return;  // epilogue is ignored
  buf_.append(data, size);
  while (step()) {
  }
}

// Consumes what it can from buf_; returns true when another step may make progress.
bool MultipartParser::step() {
  switch (state_) {
    case State::kPreamble: {
      auto pos = buf_.find(delimiter_);
      if (pos == std::string::npos) {
        if (buf_.size() > kMaxHeaderBlock) malformed("no boundary delimiter found");
        return false;
      }
      buf_.erase(0, pos + delimiter_.size());
      state_ = State::kAfterDelimiter;
      return true;
    }
    case State::kAfterDelimiter: {
      std::size_t i = 0;
      while (i < buf_.size() && (buf_[i] == ' ' || buf_[i] == '\t')) ++i;  // transport padding
      if (buf_.size() - i < 2) return false;
      if (buf_.compare(i, 2, "--") == 0) {
        state_ = State::kDone;
        buf_.clear();
        return false;
      }
      if (buf_.compare(i, 2, "\r\n") != 0) malformed("expected CRLF after a boundary");
      buf_.erase(0, i + 2);
      state_ = State::kHeaders;
      return true;
    }
    case State::kHeaders: {
      std::size_t end;
      std::string block;
      if (buf_.compare(0, 2, "\r\n") == 0) {
        end = 2;  // a part without headers
      } else {
        auto pos = buf_.find("\r\n\r\n");
        if (pos == std::string::npos) {
          if (buf_.size() > kMaxHeaderBlock) malformed("part headers too long");
          return false;
        }
        block = buf_.substr(0, pos);
        end = pos + 4;
      }
      if (++parts_ > kMaxParts) malformed("too many parts");
      parse_headers(block);
      buf_.erase(0, end);
      state_ = State::kBody;
      return true;
    }
    case State::kBody: {
      auto pos = buf_.find(delimiter_);
      if (pos == std::string::npos) {
        // Everything but a possible delimiter prefix at the end is part data.
        if (buf_.size() >= delimiter_.size()) {
          std::size_t emit = buf_.size() - (delimiter_.size() - 1);
          if (on_part_data) on_part_data(buf_.data(), emit);
          buf_.erase(0, emit);
        }
        return false;
      }
      if (pos > 0 && on_part_data) on_part_data(buf_.data(), pos);
      if (on_part_end) on_part_end();
      buf_.erase(0, pos + delimiter_.size());
      state_ = State::kAfterDelimiter;
      return true;
    }
    case State::kDone:
      return false;
  }
  return false;
}

void MultipartParser::parse_headers(const std::string& block) {
  PartHeaders h;
  bool has_disposition = false;
  std::size_t start = 0;
  while (start < block.size()) {
    auto end = block.find("\r\n", start);
    if (end == std::string::npos) end = block.size();
    std::string line = block.substr(start, end - start);
    start = end + 2;
    auto colon = line.find(':');
    if (colon == std::string::npos) malformed("a part header line has no ':'");
    std::string key = lower(trim(line.substr(0, colon)));
    std::string value = trim(line.substr(colon + 1));
    if (key == "content-disposition") {
      if (lower(value.substr(0, value.find(';'))) != "form-data") malformed("Content-Disposition is not form-data");
      h.name = header_param(value, "name");
      h.filename = header_param(value, "filename");
      has_disposition = true;
    } else if (key == "content-type") {
      h.content_type = value;
    }
  }
  if (!has_disposition || h.name.empty()) malformed("a part has no Content-Disposition name");
  if (on_part_begin) on_part_begin(h);
}

void MultipartParser::finish() {
  if (state_ != State::kDone) malformed("the body ended before the closing boundary");
}

}  // namespace aifgen::api
