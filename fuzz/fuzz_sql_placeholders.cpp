// libFuzzer target: the placeholder rewrite the PostgreSQL backend applies to every SQL text,
// and the URL redaction applied to every --database value before it is logged. Any input must
// end in a result or an aifgen::Error (never a crash); a rewritten text has no placeholders
// left, so rewriting it again changes nothing; a redacted URL is redacted already.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "storage/database.h"
#include "storage/sql_placeholders.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto once = aifgen::storage::to_postgres_placeholders(bytes);
    const auto twice = aifgen::storage::to_postgres_placeholders(once.text);
    if (twice.text != once.text || twice.parameters != 0) std::abort();
  } catch (const aifgen::Error& e) {
    if (e.code() != aifgen::ErrorCode::kInternal) std::abort();
  }
  const std::string redacted = aifgen::storage::redact_database_url(bytes);
  if (aifgen::storage::redact_database_url(redacted) != redacted) std::abort();
  return 0;
}
