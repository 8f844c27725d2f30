// Files compiled into the binary (cmake/embed_files.cmake writes the table at build time from
// api/dashboard/ and Debian's Chart.js): the dashboard's HTML, scripts and styles.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace aifgen::api {

struct EmbeddedFile {
  std::string_view name;  // as the page refers to it, e.g. "app.js"
  const unsigned char* data;
  std::size_t size;
};

const std::vector<EmbeddedFile>& dashboard_files();

}  // namespace aifgen::api
