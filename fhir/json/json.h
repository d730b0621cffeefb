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

// Writes compact JSON straight to text, escaped exactly as Write() escapes, for documents the
// gateway composes itself (AuditEvents) where building a tree only to serialise it would cost
// more than the text. The caller keeps the nesting well-formed; commas are placed here.
class TextWriter {
 public:
  explicit TextWriter(std::string& out) : out_(out) {}

  TextWriter& BeginObject() { return Open('{'); }
  TextWriter& EndObject() { return Close('}'); }
  TextWriter& BeginArray() { return Open('['); }
  TextWriter& EndArray() { return Close(']'); }
  TextWriter& Key(std::string_view key);
  TextWriter& String(std::string_view text);
  TextWriter& Bool(bool value);
  // Key then String: the common case.
  TextWriter& Member(std::string_view key, std::string_view text) { return Key(key).String(text); }

  std::size_t size() const { return out_.size(); }

 private:
  TextWriter& Open(char bracket);
  TextWriter& Close(char bracket);
  void Separate();

  std::string& out_;
  bool need_comma_ = false;
};

}  // namespace carebridge::fhir::json

template <>
struct std::is_error_code_enum<carebridge::fhir::json::errc> : std::true_type {};
