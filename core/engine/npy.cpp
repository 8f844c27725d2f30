// .npy parsing: a fixed magic, a Python-dict header, then raw data.
#include "core/engine/npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "core/base/error.h"

namespace aifgen::engine {
namespace {

[[noreturn]] void bad(const std::string& why) { throw Error(ErrorCode::kInvalidArgument, "npy-invalid", "invalid .npy: " + why); }

DType dtype_of_descr(const std::string& d) {
  if (d.size() < 3) bad("descr '" + d + "'");
  if (d[0] == '>' && d.substr(1) != "u1" && d.substr(1) != "i1" && d.substr(1) != "b1") bad("big-endian data");
  std::string t = d.substr(1);
  if (t == "f4") return DType::kF32;
  if (t == "f8") return DType::kF64;
  if (t == "f2") return DType::kF16;
  if (t == "i8") return DType::kI64;
  if (t == "i4") return DType::kI32;
  if (t == "i2") return DType::kI16;
  if (t == "i1") return DType::kI8;
  if (t == "u1") return DType::kU8;
  if (t == "u2") return DType::kU16;
  if (t == "u4") return DType::kU32;
  if (t == "u8") return DType::kU64;
  if (t == "b1") return DType::kBool;
  bad("unsupported dtype '" + d + "'");
}

const char* descr_of(DType t) {
  switch (t) {
    case DType::kF32: return "<f4";
    case DType::kF64: return "<f8";
    case DType::kF16: return "<f2";
    case DType::kI64: return "<i8";
    case DType::kI32: return "<i4";
    case DType::kI16: return "<i2";
    case DType::kI8: return "|i1";
    case DType::kU8: return "|u1";
    case DType::kU16: return "<u2";
    case DType::kU32: return "<u4";
    case DType::kU64: return "<u8";
    case DType::kBool: return "|b1";
  }
  return "";
}

// Value of `key` in the header dict, as raw text up to the next top-level ',' or '}'.
std::string header_value(const std::string& h, const std::string& key) {
  auto k = h.find("'" + key + "'");
  if (k == std::string::npos) bad("header has no '" + key + "'");
  auto colon = h.find(':', k);
  if (colon == std::string::npos) bad("header syntax");
  std::size_t i = colon + 1, depth = 0;
  std::string v;
  for (; i < h.size(); ++i) {
    char c = h[i];
    if (c == '(') ++depth;
    if (c == ')') {
      if (depth == 0) bad("header syntax");
      --depth;
    }
    if (depth == 0 && (c == ',' || c == '}')) break;
    v.push_back(c);
  }
  auto b = v.find_first_not_of(" "), e = v.find_last_not_of(" ");
  return b == std::string::npos ? "" : v.substr(b, e - b + 1);
}

}  // namespace

Tensor parse_npy(const std::string& bytes) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0) bad("missing magic");
  const int major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_len, start;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) bad("truncated header");
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= static_cast<std::size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    start = 12;
  } else {
    bad("unknown version " + std::to_string(major));
  }
  if (header_len > 65536 || start + header_len > bytes.size()) bad("truncated header");
  std::string header = bytes.substr(start, header_len);
  std::string descr = header_value(header, "descr");
  if (descr.size() < 2 || descr.front() != '\'' || descr.back() != '\'') bad("descr");
  DType dt = dtype_of_descr(descr.substr(1, descr.size() - 2));
  if (header_value(header, "fortran_order") != "False") bad("Fortran order is not supported");
  std::string shape_text = header_value(header, "shape");
  if (shape_text.size() < 2 || shape_text.front() != '(' || shape_text.back() != ')') bad("shape");
  Shape shape;
  std::stringstream ss(shape_text.substr(1, shape_text.size() - 2));
  std::string item;
  __int128 count = 1;
  while (std::getline(ss, item, ',')) {
    auto b = item.find_first_not_of(" "), e = item.find_last_not_of(" ");
    if (b == std::string::npos) continue;
    item = item.substr(b, e - b + 1);
    for (char c : item)
      if (c < '0' || c > '9') bad("shape entry '" + item + "'");
    if (item.size() > 12) bad("shape entry too large");
    shape.push_back(std::stoll(item));
    count *= shape.back();
    if (count > (__int128(1) << 40)) bad("shape too large");
  }
  const std::size_t data_bytes = static_cast<std::size_t>(count) * dtype_size(dt);
  if (bytes.size() - start - header_len != data_bytes)
    bad("data size " + std::to_string(bytes.size() - start - header_len) + " does not match shape " + shape_str(shape));
  Tensor t = Tensor::allocate(dt, shape);
  std::memcpy(t.data, bytes.data() + start + header_len, data_bytes);
  return t;
}

Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kNotFound, "file-not-found", "cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_npy(ss.str());
}

void write_npy(const std::string& path, const Tensor& t) {
  std::string shape = "(";
  for (std::size_t i = 0; i < t.shape.size(); ++i) shape += std::to_string(t.shape[i]) + (t.shape.size() == 1 || i + 1 < t.shape.size() ? "," : "");
  shape += ")";
  std::string header = std::string("{'descr': '") + descr_of(t.dtype) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const auto len = static_cast<std::uint16_t>(header.size());
  out.put(static_cast<char>(len & 0xff));
  out.put(static_cast<char>(len >> 8));
  out << header;
  out.write(reinterpret_cast<const char*>(t.data), static_cast<std::streamsize>(t.bytes()));
  if (!out) throw Error(ErrorCode::kIo, "io-error", "cannot write " + path);
}

}  // namespace aifgen::engine
