// Calibration sets: .npy and .npz parsing (unsafe or oversized archives refused), binding to a
// model's inputs, and the calibration/validation split.
#include "core/calibration/calibration_set.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/engine/npy.h"
#include "core/base/error.h"
#include "tests/support/model_builder.h"

namespace aifgen {
namespace {

std::string npy_bytes(const engine::Tensor& t) {
  auto path = std::filesystem::temp_directory_path() / ("aifgen-npy-" + std::to_string(::getpid()) + ".npy");
  engine::write_npy(path.string(), t);
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::filesystem::remove(path);
  return ss.str();
}

engine::Tensor filled(engine::DType dt, engine::Shape shape) {
  auto t = engine::Tensor::allocate(dt, std::move(shape));
  for (std::size_t i = 0; i < t.bytes(); ++i) t.data[i] = static_cast<std::byte>(i * 7);
  if (dt == engine::DType::kF32)
    for (std::int64_t i = 0; i < t.numel(); ++i) t.as<float>()[i] = static_cast<float>(i) * 0.5f;
  return t;
}

// A zip archive with the given entries (name -> bytes), compressed with deflate like np.savez_compressed.
std::string zip(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::vector<char> buf(1 << 22);
  std::size_t used = 0;
  archive* a = archive_write_new();
  archive_write_set_format_zip(a);
  archive_write_set_options(a, "zip:compression=deflate");
  archive_write_open_memory(a, buf.data(), buf.size(), &used);
  for (const auto& [name, data] : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_write_header(a, e);
    archive_write_data(a, data.data(), data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return std::string(buf.data(), used);
}

std::string error_type(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.type();
  }
  return "no error";
}

TEST(Calibration, NpyNamesItsInputByFileStem) {
  auto set = parse_calibration(npy_bytes(filled(engine::DType::kF32, {4, 3})), "images.npy");
  ASSERT_EQ(set.tensors.count("images"), 1u);
  EXPECT_EQ(set.tensors.at("images").shape, (engine::Shape{4, 3}));
}

TEST(Calibration, NpzHoldsOneTensorPerInput) {
  auto bytes = zip({{"a.npy", npy_bytes(filled(engine::DType::kF32, {5, 2}))}, {"ids.npy", npy_bytes(filled(engine::DType::kI64, {5, 7}))}});
  auto set = parse_calibration(bytes, "cal.npz");
  EXPECT_EQ(set.tensors.size(), 2u);
  EXPECT_EQ(set.tensors.at("ids").dtype, engine::DType::kI64);
  EXPECT_EQ(set.tensors.at("a").as<float>()[3], 1.5f);
}

TEST(Calibration, UnsafeOrMalformedArchivesAreRefused) {
  const auto npy = npy_bytes(filled(engine::DType::kF32, {2, 2}));
  EXPECT_EQ(error_type([&] { parse_calibration(zip({{"../x.npy", npy}}), "c.npz"); }), "calibration-invalid");
  EXPECT_EQ(error_type([&] { parse_calibration(zip({{"dir/x.npy", npy}}), "c.npz"); }), "calibration-invalid");
  EXPECT_EQ(error_type([&] { parse_calibration(zip({{"x.txt", "hello"}}), "c.npz"); }), "calibration-invalid");
  EXPECT_EQ(error_type([&] { parse_calibration(zip({{"x\x01.npy", npy}}), "c.npz"); }), "calibration-invalid");
  EXPECT_EQ(error_type([&] { parse_calibration(zip({{"x.npy", npy}, {"x.npy", npy}}), "c.npz"); }), "calibration-invalid");
  EXPECT_EQ(error_type([&] { parse_calibration(zip({{"x.npy", "not an npy"}}), "c.npz"); }), "npy-invalid");
  EXPECT_EQ(error_type([&] { parse_calibration("PK\x03\x04garbage", "c.npz"); }), "calibration-invalid");
  EXPECT_EQ(error_type([&] { parse_calibration("plain text", "c.bin"); }), "calibration-invalid");
}

TEST(Calibration, FuzzerFoundArchiveWithoutAnErrorMessageIsRefusedNotACrash) {
  std::ifstream in(std::string(AIFGEN_SOURCE_DIR) + "/fuzz/corpus/calibration/regression-null-archive-error", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  ASSERT_FALSE(ss.str().empty());
  EXPECT_EQ(error_type([&] { parse_calibration(ss.str(), "upload.npz"); }), "calibration-invalid");
}

TEST(Calibration, DecompressedSizeIsLimitedWhileReading) {
  // 4 MiB of zeros compress to a few KiB: the limit must apply to what comes out.
  auto big = npy_bytes(engine::Tensor::allocate(engine::DType::kU8, {4, 1 << 20}));
  std::memset(big.data() + 128, 0, big.size() - 128);
  auto bytes = zip({{"x.npy", big}});
  EXPECT_LT(bytes.size(), 200000u);
  CalibrationLimits limits;
  limits.max_total_bytes = 1 << 20;
  EXPECT_EQ(error_type([&] { parse_calibration(bytes, "c.npz", limits); }), "calibration-too-large");
  limits.max_total_bytes = 8 << 20;
  EXPECT_EQ(parse_calibration(bytes, "c.npz", limits).tensors.at("x").shape[0], 4);
}

std::vector<BoundInput> image_input() { return {{"x", engine::DType::kF32, {-1, 3, 4, -1}}}; }

TEST(Calibration, BindsRowsAsBatchOneSamplesOrWholeInputs) {
  CalibrationSet rows;
  rows.tensors["whatever"] = filled(engine::DType::kF32, {6, 3, 4, 5});  // one input: any name binds
  auto s = bind_calibration(rows, image_input());
  ASSERT_EQ(s.size(), 6u);
  EXPECT_EQ(s[2][0].shape, (engine::Shape{1, 3, 4, 5}));
  EXPECT_EQ(s[2][0].as<float>()[0], 2 * 60 * 0.5f);
  CalibrationSet whole;
  whole.tensors["x"] = filled(engine::DType::kF32, {3, 2, 3, 4, 5});
  auto w = bind_calibration(whole, image_input());
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[1][0].shape, (engine::Shape{2, 3, 4, 5}));
}

TEST(Calibration, MismatchesNameTheProblem) {
  auto mismatch = [](CalibrationSet set, const std::vector<BoundInput>& in) {
    try {
      bind_calibration(set, in);
    } catch (const Error& e) {
      EXPECT_EQ(e.type(), "calibration-mismatch");
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CalibrationSet ints;
  ints.tensors["x"] = filled(engine::DType::kI64, {2, 3, 4, 5});
  EXPECT_NE(mismatch(ints, image_input()).find("int64"), std::string::npos);
  CalibrationSet dims;
  dims.tensors["x"] = filled(engine::DType::kF32, {2, 3, 9, 5});
  EXPECT_NE(mismatch(dims, image_input()).find("dim 2"), std::string::npos);
  CalibrationSet rank;
  rank.tensors["x"] = filled(engine::DType::kF32, {2, 3});
  EXPECT_NE(mismatch(rank, image_input()).find("rank"), std::string::npos);
  std::vector<BoundInput> two = {{"a", engine::DType::kF32, {-1, 2}}, {"b", engine::DType::kF32, {-1, 2}}};
  CalibrationSet counts;
  counts.tensors["a"] = filled(engine::DType::kF32, {4, 2});
  counts.tensors["b"] = filled(engine::DType::kF32, {5, 2});
  EXPECT_NE(mismatch(counts, two).find("samples"), std::string::npos);
  CalibrationSet missing;
  missing.tensors["a"] = filled(engine::DType::kF32, {4, 2});
  EXPECT_NE(mismatch(missing, two).find("'b'"), std::string::npos);
}

TEST(Calibration, HoldsOutAQuarterForValidationWhenThereAreEnough) {
  auto model = testing::conv_bn_relu_model();  // x [N,3,8,8]
  CalibrationSet set;
  set.tensors["x"] = filled(engine::DType::kF32, {16, 3, 8, 8});
  set.source = "x.npy";
  auto split = split_samples(model, &set, 32);
  EXPECT_EQ(split.calibrate.size(), 12u);
  EXPECT_EQ(split.validate.size(), 4u);
  EXPECT_TRUE(split.held_out);
  EXPECT_EQ(split.validate[0][0].as<float>()[0], filled(engine::DType::kF32, {16, 3, 8, 8}).as<float>()[12 * 192]);
  set.tensors["x"] = filled(engine::DType::kF32, {4, 3, 8, 8});
  auto few = split_samples(model, &set, 32);
  EXPECT_EQ(few.calibrate.size(), 4u);
  EXPECT_EQ(few.validate.size(), 4u);
  EXPECT_FALSE(few.held_out);
  auto synthetic = split_samples(model, nullptr, 5);
  EXPECT_TRUE(synthetic.synthetic);
  EXPECT_EQ(synthetic.calibrate.size(), 5u);
  EXPECT_EQ(synthetic.validate.size(), 2u);
}

}  // namespace
}  // namespace aifgen
