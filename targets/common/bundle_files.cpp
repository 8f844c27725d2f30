#include "targets/common/bundle_files.h"

#include "core/base/sha256.h"
#include "targets/common/bundle_writer.h"

namespace aifgen {

void BundleFiles::add(std::string name, std::string bytes, bool executable) {
  files_.push_back({std::move(name), std::move(bytes), executable});
}

std::vector<std::string> BundleFiles::names() const {
  std::vector<std::string> out;
  for (const auto& f : files_) out.push_back(f.name);
  out.push_back("SHA256SUMS");
  return out;
}

void BundleFiles::write(const std::string& out_path, const std::string& top_dir) const {
  std::string sums;
  for (const auto& f : files_) sums += Sha256::of(f.bytes) + "  " + f.name + "\n";
  BundleWriter w(out_path, top_dir);
  for (const auto& f : files_) w.add(f.name, f.bytes, f.executable);
  w.add("SHA256SUMS", sums);
  w.close();
}

std::string dns_name(const std::string& s, std::size_t max) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max) break;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) out += c;
    else if (!out.empty() && out.back() != '-') out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.empty() || !(out[0] >= 'a' && out[0] <= 'z')) out = ("m-" + out).substr(0, max);
  return out;
}

}  // namespace aifgen
