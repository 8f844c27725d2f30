// Calibration files: .npy via the engine's parser, .npz (a zip of .npy) via libarchive, with the
// decompressed size counted while reading (a zip's declared sizes are not trusted).
#include "core/calibration/calibration_set.h"

#include <archive.h>
#include <archive_entry.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "core/engine/npy.h"
#include "core/base/error.h"

namespace aifgen {
namespace {

[[noreturn]] void invalid(const std::string& why) {
  throw Error(ErrorCode::kInvalidArgument, "calibration-invalid", "invalid calibration data: " + why);
}

[[noreturn]] void too_large(const CalibrationLimits& limits) {
  throw Error(ErrorCode::kTooLarge, "calibration-too-large",
              "calibration data decompresses to more than " + std::to_string(limits.max_total_bytes) + " bytes");
}

bool has_suffix(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// An entry or file stem must be a plain input name: printable, no path separators.
std::string input_name_of(const std::string& file_name) {
  std::string stem = file_name.substr(0, file_name.size() - 4);
  if (stem.empty() || stem.size() > 256) invalid("entry name '" + file_name + "' is empty or too long");
  for (unsigned char c : stem)
    if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') invalid("entry name '" + file_name + "' has a path separator or control character");
  if (stem == "." || stem == "..") invalid("entry name '" + file_name + "' is not a file name");
  return stem;
}

void add_tensor(CalibrationSet& set, const std::string& name, engine::Tensor t) {
  if (t.shape.empty() || t.shape[0] < 1) invalid("'" + name + "' has no sample dimension");
  if (!set.tensors.emplace(name, std::move(t)).second) invalid("two tensors for input '" + name + "'");
}

// libarchive may have no message (null) for some failures; never build a string from null.
std::string archive_message(archive* a) {
  const char* m = archive_error_string(a);
  return m ? m : "unreadable archive";
}

void read_npz(CalibrationSet& set, const std::string& bytes, const CalibrationLimits& limits, std::int64_t& total) {
  std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
  archive_read_support_format_zip(a.get());
  if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK)
    invalid(std::string(".npz is not a zip archive: ") + archive_message(a.get()));
  archive_entry* e = nullptr;
  int entries = 0;
  for (;;) {
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK) invalid(std::string(".npz: ") + archive_message(a.get()));
    if (++entries > limits.max_entries) invalid(".npz has more than " + std::to_string(limits.max_entries) + " entries");
    const char* path = archive_entry_pathname(e);
    std::string name = path ? path : "";
    if (archive_entry_filetype(e) != AE_IFREG || !has_suffix(name, ".npy") || name.find('/') != std::string::npos)
      invalid(".npz entry '" + name + "' is not a top-level .npy file");
    std::string data;
    char buf[1 << 16];
    for (;;) {
      auto n = archive_read_data(a.get(), buf, sizeof buf);
      if (n < 0) invalid(std::string(".npz entry '" + name + "': ") + archive_message(a.get()));
      if (n == 0) break;
      total += n;
      if (total > limits.max_total_bytes) too_large(limits);
      data.append(buf, static_cast<std::size_t>(n));
    }
    add_tensor(set, input_name_of(name), engine::parse_npy(data));
  }
  if (set.tensors.empty()) invalid(".npz has no .npy entries");
}

void add_file(CalibrationSet& set, const std::string& bytes, const std::string& file_name, const CalibrationLimits& limits,
              std::int64_t& total) {
  if (bytes.size() >= 4 && bytes.compare(0, 4, "PK\x03\x04") == 0) {
    read_npz(set, bytes, limits, total);
  } else if (bytes.size() >= 6 && bytes.compare(0, 6, "\x93NUMPY") == 0) {
    total += static_cast<std::int64_t>(bytes.size());
    if (total > limits.max_total_bytes) too_large(limits);
    std::string base = std::filesystem::path(file_name).filename().string();
    if (!has_suffix(base, ".npy")) base += ".npy";
    add_tensor(set, input_name_of(base), engine::parse_npy(bytes));
  } else {
    invalid("'" + file_name + "' is neither .npy nor .npz");
  }
}

}  // namespace

CalibrationSet parse_calibration(const std::string& bytes, const std::string& name, const CalibrationLimits& limits) {
  CalibrationSet set;
  std::int64_t total = 0;
  add_file(set, bytes, name, limits, total);
  set.source = name;
  return set;
}

CalibrationSet read_calibration_files(const std::vector<std::string>& paths, const CalibrationLimits& limits) {
  CalibrationSet set;
  std::int64_t total = 0;
  for (const auto& p : paths) {
    std::error_code ec;
    auto size = std::filesystem::file_size(p, ec);
    if (ec) throw Error(ErrorCode::kInvalidArgument, "calibration-invalid", "cannot read '" + p + "': " + ec.message());
    if (static_cast<std::int64_t>(size) > limits.max_total_bytes) too_large(limits);
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    add_file(set, ss.str(), p, limits, total);
    if (!set.source.empty()) set.source += ", ";
    set.source += std::filesystem::path(p).filename().string();
  }
  return set;
}

std::vector<BoundInput> model_inputs(const onnx::ModelProto& model) {
  std::set<std::string> inits;
  for (const auto& i : model.graph().initializer()) inits.insert(i.name());
  std::vector<BoundInput> out;
  for (const auto& in : model.graph().input()) {
    if (inits.count(in.name()) || !in.type().has_tensor_type()) continue;
    BoundInput b{in.name(), engine::dtype_from_onnx(in.type().tensor_type().elem_type()), {}};
    for (const auto& d : in.type().tensor_type().shape().dim()) b.dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    out.push_back(std::move(b));
  }
  return out;
}

std::vector<Sample> bind_calibration(const CalibrationSet& set, const std::vector<BoundInput>& inputs) {
  auto mismatch = [](const std::string& input, const std::string& why) {
    throw Error(ErrorCode::kUnprocessable, "calibration-mismatch", "calibration input '" + input + "': " + why);
  };
  std::vector<const engine::Tensor*> chosen;
  for (const auto& in : inputs) {
    auto it = set.tensors.find(in.name);
    if (it == set.tensors.end() && inputs.size() == 1 && set.tensors.size() == 1) it = set.tensors.begin();
    if (it == set.tensors.end()) mismatch(in.name, "no tensor named after this model input");
    chosen.push_back(&it->second);
  }
  if (set.tensors.size() > inputs.size())
    throw Error(ErrorCode::kUnprocessable, "calibration-mismatch", "the calibration set has tensors for inputs the model does not have");
  std::int64_t count = -1;
  std::vector<bool> whole(inputs.size());
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const auto& in = inputs[k];
    const auto& t = *chosen[k];
    if (t.dtype != in.dtype) mismatch(in.name, std::string("is ") + engine::dtype_str(t.dtype) + ", the model takes " + engine::dtype_str(in.dtype));
    const auto rank = in.dims.size();
    if (t.shape.size() == rank + 1) whole[k] = true;
    else if (t.shape.size() != rank) mismatch(in.name, "rank " + std::to_string(t.shape.size()) + " fits neither the input's rank nor rank + 1");
    // Dims after the sample dim must match the model's fixed dims.
    for (std::size_t d = whole[k] ? 0 : 1; d < rank; ++d) {
      const auto got = t.shape[whole[k] ? d + 1 : d];
      if (in.dims[d] >= 0 && in.dims[d] != got)
        mismatch(in.name, "dim " + std::to_string(d) + " is " + std::to_string(got) + ", the model fixes it at " + std::to_string(in.dims[d]));
    }
    if (!whole[k] && rank > 0 && in.dims[0] > 1) mismatch(in.name, "the model's batch dim is fixed above 1; give whole inputs (rank + 1)");
    if (count >= 0 && t.shape[0] != count) mismatch(in.name, "has " + std::to_string(t.shape[0]) + " samples, another input has " + std::to_string(count));
    count = t.shape[0];
  }
  std::vector<Sample> samples(static_cast<std::size_t>(std::max<std::int64_t>(count, 0)));
  for (std::int64_t s = 0; s < count; ++s)
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      const auto& t = *chosen[k];
      engine::Shape shape = whole[k] ? engine::Shape(t.shape.begin() + 1, t.shape.end()) : t.shape;
      if (!whole[k]) shape[0] = 1;
      auto one = engine::Tensor::allocate(t.dtype, shape);
      std::memcpy(one.data, t.data + static_cast<std::size_t>(s) * one.bytes(), one.bytes());
      samples[static_cast<std::size_t>(s)].push_back(std::move(one));
    }
  return samples;
}

}  // namespace aifgen

#include "core/engine/random_inputs.h"

namespace aifgen {

SampleSplit split_samples(const onnx::ModelProto& model, const CalibrationSet* set, int max_calibration) {
  SampleSplit split;
  if (set) {
    auto all = bind_calibration(*set, model_inputs(model));
    const std::size_t n = all.size();
    const std::size_t hold = n >= 8 ? n / 4 : 0;
    const std::size_t cal_end = n - hold;
    for (std::size_t i = 0; i < cal_end && static_cast<int>(split.calibrate.size()) < max_calibration; ++i)
      split.calibrate.push_back(all[i]);
    for (std::size_t i = hold ? cal_end : 0; i < n; ++i) split.validate.push_back(all[i]);
    split.held_out = hold > 0;
    split.source = set->source;
    return split;
  }
  split.synthetic = true;
  split.held_out = true;
  split.source = "synthetic";
  std::vector<engine::IoInfo> io;
  auto shapes = engine::default_input_shapes(model);
  for (const auto& in : model_inputs(model)) io.push_back({in.name, in.dtype, shapes.at(in.name)});
  for (int i = 0; i < max_calibration; ++i) split.calibrate.push_back(engine::random_inputs(io, 100u + static_cast<std::uint32_t>(i)));
  for (int i = 0; i < 2; ++i) split.validate.push_back(engine::random_inputs(io, 1000u + static_cast<std::uint32_t>(i)));
  return split;
}

}  // namespace aifgen
