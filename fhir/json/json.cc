#include "fhir/json/json.h"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>
#include <rapidjson/stream.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
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

// Partner text quoted in a message, cut to a readable length on a UTF-8 character boundary (the
// message ends up in an OperationOutcome, which must itself be valid UTF-8).
std::string Excerpt(std::string_view s) {
  constexpr std::size_t kMax = 64;
  if (s.size() <= kMax) {
    return std::string(s);
  }
  std::size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  return std::string(s.substr(0, cut)) + "...";
}

// Objects up to this size are checked for duplicate keys by a linear scan; past it a hash set
// keeps a partner's 10'000-member object from costing 50 million comparisons.
constexpr std::size_t kLinearKeyScanLimit = 16;

// Heterogeneous lookup, so a key can be checked without building a std::string first.
struct KeyHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using KeySet = std::unordered_set<std::string, KeyHash, std::equal_to<>>;

// Builds a Value from RapidJSON's SAX events with an explicit stack (RapidJSON's iterative mode
// keeps its own stack off the call stack too), so nesting depth never becomes C++ recursion.
// Children of open containers collect on two shared scratch stacks and move into a vector of
// the exact size when their container closes: one allocation per container instead of a
// growing vector each. Every handler returns false to stop the parse; the reason is kept in
// error_ / message_.
class Builder {
 public:
  // `stream` is the in-situ stream over the NUL-terminated copy of the text; `base_offset` is
  // added to positions in it to report offsets in the caller's text. `surrogate_escapes` says
  // whether the text may contain a \uD800-\uDFFF escape at all.
  Builder(const Limits& limits, const rapidjson::InsituStringStream& stream,
          std::size_t base_offset, bool surrogate_escapes)
      : limits_(limits),
        stream_(stream),
        base_offset_(base_offset),
        surrogate_escapes_(surrogate_escapes) {
    stack_.reserve(16);
    members_.reserve(64);
    items_.reserve(64);
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
      return Fail(errc::kNumberOutOfRange, At(str),
                  "number " + Excerpt({str, length}) + " does not fit a double");
    }
    return Add(Value::Number(std::string(str, length)));
  }

  // In situ, `str` points into the text right after the opening quote.
  bool String(const char* str, rapidjson::SizeType length, bool /*copy*/) {
    if (!CheckString(str, length)) {
      return false;
    }
    return Add(Value::String(std::string(str, length)));
  }

  bool StartObject() { return Push(true); }
  bool StartArray() { return Push(false); }

  bool Key(const char* str, rapidjson::SizeType length, bool /*copy*/) {
    if (!CheckString(str, length)) {
      return false;
    }
    Frame& top = stack_.back();
    const std::size_t count = members_.size() - top.start;
    std::string_view key(str, length);
    if (count >= limits_.max_object_members) {
      return Fail(
          errc::kTooManyItems, At(str) - 1,
          "object has more than " + std::to_string(limits_.max_object_members) + " members");
    }
    bool duplicate = false;
    if (count < kLinearKeyScanLimit) {
      for (std::size_t i = top.start; i < members_.size(); ++i) {
        if (members_[i].key == key) {
          duplicate = true;
          break;
        }
      }
    } else {
      if (!top.keys) {
        // Copies, not views: the scratch stack moves its strings when it grows.
        top.keys = std::make_unique<KeySet>();
        top.keys->reserve(count * 2);
        for (std::size_t i = top.start; i < members_.size(); ++i) {
          top.keys->insert(members_[i].key);
        }
      }
      duplicate = !top.keys->emplace(key).second;
    }
    if (duplicate) {
      return Fail(errc::kDuplicateKey, At(str) - 1, "duplicate key \"" + Excerpt(key) + "\"");
    }
    // The value arrives next and fills this member in (Attach).
    members_.push_back(Member{std::string(key), Value()});
    return true;
  }

  bool EndObject(rapidjson::SizeType /*count*/) {
    const std::size_t start = stack_.back().start;
    Value object = Value::Object();
    object.members().reserve(members_.size() - start);
    object.members().assign(std::make_move_iterator(members_.begin() + Signed(start)),
                            std::make_move_iterator(members_.end()));
    members_.erase(members_.begin() + Signed(start), members_.end());
    stack_.pop_back();
    return Attach(std::move(object));
  }

  bool EndArray(rapidjson::SizeType /*count*/) {
    const std::size_t start = stack_.back().start;
    Value array = Value::Array();
    array.items().reserve(items_.size() - start);
    array.items().assign(std::make_move_iterator(items_.begin() + Signed(start)),
                         std::make_move_iterator(items_.end()));
    items_.erase(items_.begin() + Signed(start), items_.end());
    stack_.pop_back();
    return Attach(std::move(array));
  }

  Value TakeRoot() { return std::move(root_); }
  bool failed() const { return error_ != errc{}; }
  errc error() const { return error_; }
  std::string& message() { return message_; }

 private:
  struct Frame {
    bool is_object;
    std::size_t start;  // where this container's children begin on members_ / items_
    // Only for objects past kLinearKeyScanLimit members.
    std::unique_ptr<KeySet> keys;
  };

  static std::ptrdiff_t Signed(std::size_t n) { return static_cast<std::ptrdiff_t>(n); }

  // The offset in the caller's text of a pointer into the in-situ buffer. Strings are decoded in
  // place, but never move forward, so a string's start still sits at its original offset.
  std::size_t At(const char* p) const {
    return base_offset_ + static_cast<std::size_t>(p - stream_.head_);
  }
  // The reader's position. RapidJSON calls StartObject/StartArray with the bracket not yet
  // consumed, so there it is the bracket's offset.
  std::size_t Offset() const {
    return base_offset_ + static_cast<std::size_t>(stream_.src_ - stream_.head_);
  }

  bool CheckString(const char* str, std::size_t length) {
    if (length > limits_.max_string_bytes) {
      return Fail(errc::kStringTooLong, At(str) - 1,
                  "string of " + std::to_string(length) + " bytes exceeds the limit of " +
                      std::to_string(limits_.max_string_bytes));
    }
    // Raw surrogates (ED A0..ED BF) were rejected with the rest of the UTF-8, and RapidJSON pairs
    // a \uD800-\uDBFF escape with a following low surrogate, but it lets a lone low surrogate
    // escape (\uDC00-\uDFFF) through, encoded as ED B0..ED BF. That is not UTF-8; catch it here.
    if (surrogate_escapes_) {
      const char* p = str;
      const char* end = str + length;
      while ((p = static_cast<const char*>(std::memchr(p, '\xED', end - p))) != nullptr) {
        if (p + 1 < end && static_cast<unsigned char>(p[1]) >= 0xA0) {
          return Fail(errc::kInvalidUtf8, At(str) - 1, "lone UTF-16 surrogate in a \\u escape");
        }
        ++p;
      }
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
    const Frame& top = stack_.back();
    if (top.is_object) {
      // Inner containers have taken their members off the scratch stack by now, so the last
      // member is the one whose key came just before this value.
      members_.back().value = std::move(v);
      return true;
    }
    if (items_.size() - top.start >= limits_.max_array_items) {
      return Fail(errc::kTooManyItems, Offset(),
                  "array has more than " + std::to_string(limits_.max_array_items) + " items");
    }
    items_.push_back(std::move(v));
    return true;
  }

  bool Push(bool is_object) {
    if (!CountValue()) {
      return false;
    }
    if (stack_.size() >= limits_.max_depth) {
      return Fail(errc::kTooDeep, Offset(),
                  "nesting deeper than " + std::to_string(limits_.max_depth) + " levels");
    }
    // An array's item count is checked when the item is attached; a container counts as one.
    if (!stack_.empty() && !stack_.back().is_object &&
        items_.size() - stack_.back().start >= limits_.max_array_items) {
      return Fail(errc::kTooManyItems, Offset(),
                  "array has more than " + std::to_string(limits_.max_array_items) + " items");
    }
    stack_.push_back(Frame{is_object, is_object ? members_.size() : items_.size(), nullptr});
    return true;
  }

  bool Fail(errc e, std::size_t at, std::string what) {
    error_ = e;
    message_ = std::move(what);
    message_ += " at byte ";
    message_ += std::to_string(at);
    return false;
  }

  const Limits& limits_;
  const rapidjson::InsituStringStream& stream_;
  std::size_t base_offset_;
  bool surrogate_escapes_;
  std::vector<Frame> stack_;
  std::vector<Member> members_;
  std::vector<Value> items_;
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

// The offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629: no
// overlongs, no surrogates, nothing past U+10FFFF), or npos. Checked up front over the whole
// text instead of with kParseValidateEncodingFlag: RapidJSON's per-byte validation was half of
// the parse time on FHIR resources, which are almost all ASCII and skip here 8 bytes at a time.
std::size_t FindInvalidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      std::uint64_t chunk;
      std::memcpy(&chunk, p + i, 8);
      if ((chunk & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned char lo = 0x80;  // bounds of the second byte
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) {
        lo = 0xA0;  // overlong below U+0800
      } else if (c == 0xED) {
        hi = 0x9F;  // UTF-16 surrogates
      }
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) {
        lo = 0x90;  // overlong below U+10000
      } else if (c == 0xF4) {
        hi = 0x8F;  // past U+10FFFF
      }
    } else {
      return i;  // continuation byte without a lead, C0/C1 overlongs, F5..FF
    }
    if (i + len > n || p[i + 1] < lo || p[i + 1] > hi) {
      return i;
    }
    for (std::size_t k = 2; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) {
        return i;
      }
    }
    i += len;
  }
  return std::string_view::npos;
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

  if (const std::size_t bad = FindInvalidUtf8(text); bad != std::string_view::npos) {
    message = "invalid UTF-8 byte sequence at byte " + std::to_string(base + bad);
    return make_error_code(errc::kInvalidUtf8);
  }

  // In-situ parsing decodes strings in place and hands the handler pointers into the buffer;
  // RapidJSON's copying mode pushes every byte through its own stack first, which was a third of
  // the parse time. One memcpy of the text is much cheaper. The copy is NUL-terminated, and has
  // no NUL inside (checked above), as InsituStringStream needs.
  std::string buffer(text);
  rapidjson::InsituStringStream stream(buffer.data());
  // Only a \uD8xx-\uDFxx escape can smuggle a lone surrogate past RapidJSON (see CheckString);
  // most documents have none, which saves a scan of every string.
  const bool surrogate_escapes =
      text.find("\\uD") != std::string_view::npos || text.find("\\ud") != std::string_view::npos;
  Builder builder(limits, stream, base, surrogate_escapes);
  rapidjson::Reader reader;
  // No kParseValidateEncodingFlag: FindInvalidUtf8 has checked the whole text already.
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseInsituFlag |
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

void TextWriter::Separate() {
  if (need_comma_) {
    out_.push_back(',');
  }
}

TextWriter& TextWriter::Open(char bracket) {
  Separate();
  out_.push_back(bracket);
  need_comma_ = false;
  return *this;
}

TextWriter& TextWriter::Close(char bracket) {
  out_.push_back(bracket);
  need_comma_ = true;
  return *this;
}

TextWriter& TextWriter::Key(std::string_view key) {
  Separate();
  WriteString(key, out_);
  out_.push_back(':');
  need_comma_ = false;
  return *this;
}

TextWriter& TextWriter::String(std::string_view text) {
  Separate();
  WriteString(text, out_);
  need_comma_ = true;
  return *this;
}

TextWriter& TextWriter::Bool(bool value) {
  Separate();
  out_.append(value ? "true" : "false");
  need_comma_ = true;
  return *this;
}

}  // namespace carebridge::fhir::json
