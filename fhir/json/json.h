#pragma once

#include <string>
#include <string_view>
#include <system_error>

#include "fhir/base/result.h"
#include "fhir/json/limits.h"
#include "fhir/json/value.h"

namespace carebridge::fhir::json {

enum class errc {
  kSyntax = 1,
  kInvalidUtf8,  // includes lone surrogates in \u escapes
  kDuplicateKey,
  kTooDeep,
  kStringTooLong,
  kTooManyItems,
  kNumberOutOfRange,  // e.g. 1e999: not representable as a FHIR decimal/integer
  kEmpty,
};
const std::error_category& json_category();
std::error_code make_error_code(errc e);

// Parses strict RFC 8259 JSON under `limits`. On failure returns the error and, in `message`, a
// sentence a partner's developer can act on (with the byte offset). Never throws, never recurses
// in proportion to the input depth.
Result<Value> Parse(std::string_view text, const Limits& limits, std::string& message);

// Compact serialisation; object members in stored order, numbers as their original text.
void Write(const Value& value, std::string& out);
std::string Write(const Value& value);

}  // namespace carebridge::fhir::json

template <>
struct std::is_error_code_enum<carebridge::fhir::json::errc> : std::true_type {};
