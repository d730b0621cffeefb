#include "fhir/json/json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <memory>
#include <unordered_set>
#include <utility>
#include <vector>

namespace carebridge::fhir::json {
namespace {

class JsonCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "carebridge.json"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::kSyntax:
        return "JSON syntax error";
      case errc::kInvalidUtf8:
        return "invalid UTF-8 in JSON text";
      case errc::kDuplicateKey:
        return "duplicate key in a JSON object";
      case errc::kTooDeep:
        return "JSON nesting too deep";
      case errc::kStringTooLong:
        return "JSON string too long";
      case errc::kTooManyItems:
        return "too many JSON array items, object members or values";
      case errc::kNumberOutOfRange:
        return "JSON number out of range";
      case errc::kEmpty:
        return "empty JSON document";
    }
    return "unknown JSON error";
  }
};

// Objects up to this size are checked for duplicate keys by a linear scan; past it a hash set
// keeps a partner's 10'000-member object from costing 50 million comparisons.
constexpr std::size_t kLinearKeyScanLimit = 16;

// Builds a Value from RapidJSON's SAX events with an explicit stack (RapidJSON's iterative mode
// keeps its own stack off the call stack too), so nesting depth never becomes C++ recursion.
// Every handler returns false to stop the parse; the reason is kept in error_ / message_.
struct KeyHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using KeySet = std::unordered_set<std::string, KeyHash, std::equal_to<>>;

class Builder {
 public:
  Builder(const Limits& limits, const rapidjson::MemoryStream& stream, std::size_t base_offset)
      : limits_(limits), stream_(stream), base_offset_(base_offset) {
    stack_.reserve(16);
  }

  bool Null() { return Add(Value()); }
  bool Bool(bool b) { return Add(Value::Bool(b)); }
  // kParseNumbersAsStringsFlag routes every number to RawNumber; these exist for the concept.
  bool Int(int) { return false; }
  bool Uint(unsigned) { return false; }
  bool Int64(std::int64_t) { return false; }
  bool Uint64(std::uint64_t) { return false; }
  bool Double(double) { return false; }

  bool RawNumber(const char* str, rapidjson::SizeType length, bool /*copy*/) {
    // FHIR decimals must be representable (the spec bounds them by IEEE double range); the text
    // itself is kept so precision survives the round trip.
    double d = 0;
    auto [ptr, ec] = std::from_chars(str, str + length, d);
    if (ec == std::errc::result_out_of_range || (ec == std::errc() && std::isinf(d))) {
      return Fail(errc::kNumberOutOfRange, Offset() - length,
                  "number " + std::string(str, length) + " does not fit a double");
    }
    return Add(Value::Number(std::string(str, length)));
  }

  bool String(const char* str, rapidjson::SizeType length, bool /*copy*/) {
    if (!CheckString(str, length, Offset() - length - 1)) {
      return false;
    }
    return Add(Value::String(std::string(str, length)));
  }

  bool StartObject() { return Push(Value::Object()); }
  bool StartArray() { return Push(Value::Array()); }

  bool Key(const char* str, rapidjson::SizeType length, bool /*copy*/) {
    const std::size_t at = Offset() - length - 1;
    if (!CheckString(str, length, at)) {
      return false;
    }
    Frame& top = stack_.back();
    std::vector<Member>& members = top.value.members();
    std::string_view key(str, length);
    if (members.size() >= limits_.max_object_members) {
      return Fail(
          errc::kTooManyItems, at,
          "object has more than " + std::to_string(limits_.max_object_members) + " members");
    }
    bool duplicate = false;
    if (members.size() < kLinearKeyScanLimit) {
      for (const Member& m : members) {
        if (m.key == key) {
          duplicate = true;
          break;
        }
      }
    } else {
      if (!top.keys) {
        top.keys = std::make_unique<KeySet>();
        top.keys->reserve(members.size() * 2);
        for (const Member& m : members) {
          top.keys->insert(m.key);
        }
      }
      duplicate = !top.keys->emplace(key).second;
    }
    if (duplicate) {
      return Fail(errc::kDuplicateKey, at, "duplicate key \"" + std::string(key) + "\"");
    }
    top.key.assign(str, length);
    return true;
  }

  bool EndObject(rapidjson::SizeType /*count*/) { return Pop(); }
  bool EndArray(rapidjson::SizeType /*count*/) { return Pop(); }

  Value TakeRoot() { return std::move(root_); }
  bool failed() const { return error_ != errc{}; }
  errc error() const { return error_; }
  std::string& message() { return message_; }

 private:
  struct Frame {
    Value value;
    std::string key;  // objects: the key whose value is being parsed
    // Only for objects past kLinearKeyScanLimit members. It holds copies: views into the
    // members' keys would dangle when the vector reallocates (short strings live inline).
    std::unique_ptr<KeySet> keys;
  };

  std::size_t Offset() const { return base_offset_ + stream_.Tell(); }

  bool CheckString(const char* str, std::size_t length, std::size_t at) {
    if (length > limits_.max_string_bytes) {
      return Fail(errc::kStringTooLong, at,
                  "string of " + std::to_string(length) + " bytes exceeds the limit of " +
                      std::to_string(limits_.max_string_bytes));
    }
    // RapidJSON validates raw bytes (raw surrogates ED A0..ED BF are rejected there) and pairs a
    // \uD800-\uDBFF escape with a following low surrogate, but lets a lone low surrogate escape
    // (\uDC00-\uDFFF) through, encoded as ED B0..ED BF. That is not UTF-8; catch it here.
    const char* p = str;
    const char* end = str + length;
    while ((p = static_cast<const char*>(std::memchr(p, '\xED', end - p))) != nullptr) {
      if (p + 1 < end && static_cast<unsigned char>(p[1]) >= 0xA0) {
        return Fail(errc::kInvalidUtf8, at, "lone UTF-16 surrogate in a \\u escape");
      }
      ++p;
    }
    return true;
  }

  bool CountValue() {
    if (++total_values_ > limits_.max_total_values) {
      return Fail(errc::kTooManyItems, Offset(),
                  "document has more than " + std::to_string(limits_.max_total_values) + " values");
    }
    return true;
  }

  bool Add(Value&& v) {
    if (!CountValue()) {
      return false;
    }
    return Attach(std::move(v));
  }

  bool Attach(Value&& v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return true;
    }
    Frame& top = stack_.back();
    if (top.value.is_array()) {
      std::vector<Value>& items = top.value.items();
      if (items.size() >= limits_.max_array_items) {
        return Fail(errc::kTooManyItems, Offset(),
                    "array has more than " + std::to_string(limits_.max_array_items) + " items");
      }
      items.push_back(std::move(v));
    } else {
      top.value.members().push_back(Member{std::move(top.key), std::move(v)});
    }
    return true;
  }

  bool Push(Value&& container) {
    if (!CountValue()) {
      return false;
    }
    if (stack_.size() >= limits_.max_depth) {
      // RapidJSON calls StartObject/StartArray before consuming the bracket.
      return Fail(errc::kTooDeep, Offset(),
                  "nesting deeper than " + std::to_string(limits_.max_depth) + " levels");
    }
    stack_.push_back(Frame{std::move(container), {}, nullptr});
    return true;
  }

  bool Pop() {
    Value done = std::move(stack_.back().value);
    stack_.pop_back();
    return Attach(std::move(done));
  }

  bool Fail(errc e, std::size_t at, std::string what) {
    error_ = e;
    message_ = std::move(what);
    message_ += " at byte ";
    message_ += std::to_string(at);
    return false;
  }

  const Limits& limits_;
  const rapidjson::MemoryStream& stream_;
  std::size_t base_offset_;
  std::vector<Frame> stack_;
  Value root_;
  std::size_t total_values_ = 0;
  errc error_{};
  std::string message_;
};

// RapidJSON's English messages are written for C++ programmers ("a name of object member"); these
// are for a partner's developer reading an OperationOutcome.
std::pair<errc, const char*> Describe(rapidjson::ParseErrorCode code) {
  switch (code) {
    case rapidjson::kParseErrorDocumentRootNotSingular:
      return {errc::kSyntax, "unexpected content after the end of the JSON value"};
    case rapidjson::kParseErrorValueInvalid:
      return {errc::kSyntax, "invalid value"};
    case rapidjson::kParseErrorObjectMissName:
      return {errc::kSyntax, "missing a quoted key in an object"};
    case rapidjson::kParseErrorObjectMissColon:
      return {errc::kSyntax, "missing a colon after an object key"};
    case rapidjson::kParseErrorObjectMissCommaOrCurlyBracket:
      return {errc::kSyntax, "missing a comma or '}' after an object member"};
    case rapidjson::kParseErrorArrayMissCommaOrSquareBracket:
      return {errc::kSyntax, "missing a comma or ']' after an array item"};
    case rapidjson::kParseErrorStringUnicodeEscapeInvalidHex:
      return {errc::kSyntax, "invalid hex digit in a \\u escape"};
    case rapidjson::kParseErrorStringUnicodeSurrogateInvalid:
      return {errc::kInvalidUtf8, "invalid UTF-16 surrogate pair in a \\u escape"};
    case rapidjson::kParseErrorStringEscapeInvalid:
      return {errc::kSyntax, "invalid escape or unescaped control character in a string"};
    case rapidjson::kParseErrorStringMissQuotationMark:
      return {errc::kSyntax, "missing the closing quotation mark of a string"};
    case rapidjson::kParseErrorStringInvalidEncoding:
      return {errc::kInvalidUtf8, "invalid UTF-8 byte sequence in a string"};
    case rapidjson::kParseErrorNumberTooBig:
      return {errc::kNumberOutOfRange, "number does not fit a double"};
    case rapidjson::kParseErrorNumberMissFraction:
      return {errc::kSyntax, "missing digits after the decimal point"};
    case rapidjson::kParseErrorNumberMissExponent:
      return {errc::kSyntax, "missing digits in the exponent"};
    default:
      return {errc::kSyntax, rapidjson::GetParseError_En(code)};
  }
}

bool IsJsonWhitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// 0: copy as is; 'u': \u00XX; otherwise the character after the backslash.
constexpr std::array<char, 256> MakeEscapeTable() {
  std::array<char, 256> table{};
  for (int c = 0; c < 0x20; ++c) {
    table[c] = 'u';
  }
  table['\b'] = 'b';
  table['\f'] = 'f';
  table['\n'] = 'n';
  table['\r'] = 'r';
  table['\t'] = 't';
  table['"'] = '"';
  table['\\'] = '\\';
  return table;
}
constexpr std::array<char, 256> kEscape = MakeEscapeTable();

void WriteString(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  const char* run = s.data();
  const char* p = run;
  const char* end = run + s.size();
  for (; p != end; ++p) {
    const char e = kEscape[static_cast<unsigned char>(*p)];
    if (e == 0) {
      continue;
    }
    out.append(run, p - run);
    if (e == 'u') {
      const auto c = static_cast<unsigned char>(*p);
      const char buf[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
      out.append(buf, sizeof buf);
    } else {
      const char buf[2] = {'\\', e};
      out.append(buf, sizeof buf);
    }
    run = p + 1;
  }
  out.append(run, end - run);
  out.push_back('"');
}

// Recursion here is bounded by the parser's depth limit for partner data; trees built in code are
// shallow.
void WriteValue(const Value& v, std::string& out) {
  switch (v.kind()) {
    case Kind::kNull:
      out.append("null", 4);
      return;
    case Kind::kBool:
      if (v.as_bool()) {
        out.append("true", 4);
      } else {
        out.append("false", 5);
      }
      return;
    case Kind::kNumber:
      out.append(v.text());
      return;
    case Kind::kString:
      WriteString(v.text(), out);
      return;
    case Kind::kArray: {
      out.push_back('[');
      bool first = true;
      for (const Value& item : v.items()) {
        if (!first) {
          out.push_back(',');
        }
        first = false;
        WriteValue(item, out);
      }
      out.push_back(']');
      return;
    }
    case Kind::kObject: {
      out.push_back('{');
      bool first = true;
      for (const Member& m : v.members()) {
        if (!first) {
          out.push_back(',');
        }
        first = false;
        WriteString(m.key, out);
        out.push_back(':');
        WriteValue(m.value, out);
      }
      out.push_back('}');
      return;
    }
  }
}

// A lower bound of the output size (escapes aside), so the output is allocated once.
std::size_t EstimateSize(const Value& v) {
  switch (v.kind()) {
    case Kind::kNull:
    case Kind::kBool:
      return 5;
    case Kind::kNumber:
      return v.text().size();
    case Kind::kString:
      return v.text().size() + 2;
    case Kind::kArray: {
      std::size_t n = 2 + v.items().size();
      for (const Value& item : v.items()) {
        n += EstimateSize(item);
      }
      return n;
    }
    case Kind::kObject: {
      std::size_t n = 2;
      for (const Member& m : v.members()) {
        n += m.key.size() + 4 + EstimateSize(m.value);
      }
      return n;
    }
  }
  return 0;
}

}  // namespace

const std::error_category& json_category() {
  static const JsonCategory category;
  return category;
}

std::error_code make_error_code(errc e) { return {static_cast<int>(e), json_category()}; }

Result<Value> Parse(std::string_view text, const Limits& limits, std::string& message) {
  message.clear();
  std::size_t base = 0;
  // RFC 8259 lets a parser ignore a byte order mark; some Windows clients send one.
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") {
    base = 3;
    text.remove_prefix(3);
  }
  std::size_t first = 0;
  while (first < text.size() && IsJsonWhitespace(text[first])) {
    ++first;
  }
  if (first == text.size()) {
    message = "JSON document is empty";
    return make_error_code(errc::kEmpty);
  }
  // RapidJSON's streams use NUL as end of input, so a raw NUL would silently truncate the
  // document. A raw NUL is never valid JSON (inside a string it must be written \u0000).
  if (const void* nul = std::memchr(text.data(), '\0', text.size())) {
    const std::size_t at = base + (static_cast<const char*>(nul) - text.data());
    message = "JSON syntax error at byte " + std::to_string(at) +
              ": raw NUL byte (inside a string write it as \\u0000)";
    return make_error_code(errc::kSyntax);
  }

  rapidjson::MemoryStream stream(text.data(), text.size());
  Builder builder(limits, stream, base);
  rapidjson::Reader reader;
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag |
                              rapidjson::kParseValidateEncodingFlag |
                              rapidjson::kParseNumbersAsStringsFlag;
  const rapidjson::ParseResult result = reader.Parse<kFlags>(stream, builder);
  if (builder.failed()) {
    message = std::move(builder.message());
    return make_error_code(builder.error());
  }
  if (result.IsError()) {
    auto [e, what] = Describe(result.Code());
    const std::size_t at = base + result.Offset();
    switch (e) {
      case errc::kSyntax:
        message = "JSON syntax error at byte " + std::to_string(at) + ": " + what;
        break;
      case errc::kNumberOutOfRange: {
        // RapidJSON reports the number's first byte; quote the number so the partner can find it.
        std::size_t end = result.Offset();
        while (end < text.size() && end - result.Offset() < 40 &&
               std::strchr("0123456789+-.eE", text[end]) != nullptr) {
          ++end;
        }
        message = "number " + std::string(text.substr(result.Offset(), end - result.Offset())) +
                  " does not fit a double at byte " + std::to_string(at);
        break;
      }
      default:
        message = std::string(what) + " at byte " + std::to_string(at);
        break;
    }
    return make_error_code(e);
  }
  return builder.TakeRoot();
}

void Write(const Value& value, std::string& out) {
  out.reserve(out.size() + EstimateSize(value) + 64);
  WriteValue(value, out);
}

std::string Write(const Value& value) {
  std::string out;
  Write(value, out);
  return out;
}

}  // namespace carebridge::fhir::json
