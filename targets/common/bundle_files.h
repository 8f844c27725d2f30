// The files of one bundle, collected before writing so SHA256SUMS can cover all of them.
#pragma once

#include <string>
#include <vector>

namespace aifgen {

class BundleFiles {
 public:
  struct File {
    std::string name;  // relative, '/'-separated
    std::string bytes;
    bool executable = false;
  };

  void add(std::string name, std::string bytes, bool executable = false);
  // Writes every file plus SHA256SUMS (`sha256sum -c` format) into a .tar.gz under `top_dir/`.
  // Throws Error(kIo).
  void write(const std::string& out_path, const std::string& top_dir) const;
  std::vector<std::string> names() const;  // including SHA256SUMS

 private:
  std::vector<File> files_;
};

// A name usable as a Kubernetes object name, Triton model name and file name: lower-case
// [a-z0-9-], starting with a letter, at most `max` characters.
std::string dns_name(const std::string& s, std::size_t max = 63);

}  // namespace aifgen
