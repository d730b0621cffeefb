#include "fhir/json/json.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace carebridge::fhir::json {
namespace {

struct Parsed {
  Result<Value> result;
  std::string message;
};

Parsed ParseWith(std::string_view text, const Limits& limits = {}) {
  Parsed p{Value(), {}};
  p.result = Parse(text, limits, p.message);
  return p;
}

// Parses, expects the error `e`, and returns the message.
std::string ExpectError(std::string_view text, errc e, const Limits& limits = {}) {
  Parsed p = ParseWith(text, limits);
  EXPECT_FALSE(p.result.has_value()) << "accepted: " << text;
  if (!p.result.has_value()) {
    EXPECT_EQ(p.result.error(), make_error_code(e)) << p.message;
    const std::error_code ec = p.result.error();  // boost wraps std codes; unwrap to check
    EXPECT_EQ(ec.category().name(), std::string("carebridge.json"));
    EXPECT_EQ(ec, make_error_code(e));
  }
  EXPECT_FALSE(p.message.empty());
  return p.message;
}

Value ParseOk(std::string_view text, const Limits& limits = {}) {
  Parsed p = ParseWith(text, limits);
  EXPECT_TRUE(p.result.has_value()) << p.message << " for " << text;
  EXPECT_TRUE(p.message.empty());
  return p.result.has_value() ? std::move(*p.result) : Value();
}

TEST(JsonParse, RoundTripKeepsMemberOrderAndNumberText) {
  const std::string text =
      R"({"resourceType":"Observation","valueQuantity":{"value":2.50,"unit":"mg"},)"
      R"("z":1.0e2,"a":-0,"m":[1E5,0.000,12345678901234567890123],"b":true,"c":false,"n":null})";
  Value v = ParseOk(text);
  EXPECT_EQ(Write(v), text);
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v.members()[0].key, "resourceType");
  EXPECT_EQ(v.members()[2].key, "z");
  EXPECT_EQ(v.members()[3].key, "a");
  EXPECT_EQ(v.Find("valueQuantity")->Find("value")->text(), "2.50");
  EXPECT_EQ(v.Find("z")->text(), "1.0e2");
}

TEST(JsonParse, WhitespaceIsDroppedOnWrite) {
  Value v = ParseOk(" {\n  \"a\" : [ 1 , 2 ] ,\t\"b\" : { } \r\n} ");
  EXPECT_EQ(Write(v), R"({"a":[1,2],"b":{}})");
}

TEST(JsonParse, PrimitiveExtensionKeysSurvive) {
  const std::string text =
      R"({"resourceType":"Patient","birthDate":"1974-12-25","_birthDate":{"extension":[)"
      R"({"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime",)"
      R"("valueDateTime":"1974-12-25T14:35:45-05:00"}]},"name":[{"given":["Jim",null],)"
      R"("_given":[null,{"extension":[{"url":"http://x","valueString":"y"}]}]}]})";
  Value v = ParseOk(text);
  EXPECT_NE(v.Find("_birthDate"), nullptr);
  EXPECT_EQ(Write(v), text);
}

TEST(JsonParse, Scalars) {
  EXPECT_TRUE(ParseOk("null").is_null());
  EXPECT_TRUE(ParseOk("true").as_bool());
  EXPECT_FALSE(ParseOk("false").as_bool());
  EXPECT_EQ(ParseOk("\"x\"").text(), "x");
  EXPECT_EQ(ParseOk("-12.5e-3").text(), "-12.5e-3");
}

TEST(JsonParse, EscapesDecodeToUtf8) {
  Value v = ParseOk(R"(["a\"b\\c\/d\b\f\n\r\t","\u00e9\u20AC","\uD83D\uDE00","x\u0000y"])");
  ASSERT_EQ(v.items().size(), 4u);
  EXPECT_EQ(v.items()[0].text(), "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(v.items()[1].text(), "\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(v.items()[2].text(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(v.items()[3].text(), std::string("x\0y", 3));
  // Written back: surrogate pair as raw UTF-8, '/' unescaped, control characters escaped.
  EXPECT_EQ(Write(v),
            "[\"a\\\"b\\\\c/d\\b\\f\\n\\r\\t\",\"\xC3\xA9\xE2\x82\xAC\","
            "\"\xF0\x9F\x98\x80\",\"x\\u0000y\"]");
}

TEST(JsonParse, AcceptsAndIgnoresByteOrderMark) {
  Value v = ParseOk("\xEF\xBB\xBF{\"a\":1}");
  EXPECT_EQ(Write(v), R"({"a":1})");
}

TEST(JsonParse, EmptyInput) {
  ExpectError("", errc::kEmpty);
  ExpectError(" \n\t\r ", errc::kEmpty);
}

TEST(JsonParse, SyntaxErrorsSayWhatAndWhere) {
  std::string m = ExpectError(R"({"resourceType" "Patient"})", errc::kSyntax);
  EXPECT_EQ(m, "JSON syntax error at byte 16: missing a colon after an object key");
  m = ExpectError(R"({"a":1,})", errc::kSyntax);
  EXPECT_NE(m.find("at byte 7"), std::string::npos) << m;
  ExpectError("[1,2", errc::kSyntax);
  ExpectError("[1 2]", errc::kSyntax);
  ExpectError("{'a':1}", errc::kSyntax);
  ExpectError("tru", errc::kSyntax);
  ExpectError("01", errc::kSyntax);
  ExpectError("1.", errc::kSyntax);
  ExpectError("1e", errc::kSyntax);
  ExpectError("NaN", errc::kSyntax);
  ExpectError("\"abc", errc::kSyntax);
  ExpectError("\"a\\x\"", errc::kSyntax);
  ExpectError("\"\\u12G4\"", errc::kSyntax);
  ExpectError("\"tab\there\"", errc::kSyntax);  // raw control character inside a string
}

TEST(JsonParse, TrailingGarbageAfterRoot) {
  std::string m = ExpectError(R"({"a":1} x)", errc::kSyntax);
  EXPECT_NE(m.find("at byte 8"), std::string::npos) << m;
  ExpectError(R"({"a":1}{"b":2})", errc::kSyntax);
  ExpectError("1 2", errc::kSyntax);
  // Trailing whitespace is fine.
  ParseOk("{\"a\":1}  \n");
}

TEST(JsonParse, RawNulByteIsRejectedEvenAfterTheRoot) {
  // RapidJSON treats NUL as end of input; without a check, garbage after it would be ignored.
  ExpectError(std::string_view("{\"a\":1}\0garbage", 15), errc::kSyntax);
  ExpectError(std::string_view("\"a\0b\"", 5), errc::kSyntax);
}

TEST(JsonParse, InvalidUtf8) {
  ExpectError("\"\xC3\x28\"", errc::kInvalidUtf8);          // bad continuation byte
  ExpectError("\"\xC0\xAF\"", errc::kInvalidUtf8);          // overlong '/'
  ExpectError("\"\xE0\x80\xAF\"", errc::kInvalidUtf8);      // overlong, 3 bytes
  ExpectError("\"\xED\xA0\x80\"", errc::kInvalidUtf8);      // raw surrogate
  ExpectError("\"\xF4\x90\x80\x80\"", errc::kInvalidUtf8);  // above U+10FFFF
  ExpectError("\"\xFF\"", errc::kInvalidUtf8);
  ExpectError("{\"k\xC3\":1}", errc::kInvalidUtf8);  // in a key, truncated sequence
  ParseOk("\"\xE2\x82\xAC \xF0\x9F\x98\x80\"");      // valid multi-byte sequences
}

TEST(JsonParse, LoneSurrogatesAreInvalidUtf8) {
  ExpectError(R"("\uD800")", errc::kInvalidUtf8);
  ExpectError(R"("\uD800x")", errc::kInvalidUtf8);
  ExpectError(R"("\uD800\u0041")", errc::kInvalidUtf8);
  ExpectError(R"("\uDC00")", errc::kInvalidUtf8);  // lone low surrogate
  ExpectError(R"("a\uDFFFb")", errc::kInvalidUtf8);
  ExpectError(R"({"\uDC00":1})", errc::kInvalidUtf8);
  EXPECT_EQ(ParseOk(R"("\uD83D\uDE00")").text(), "\xF0\x9F\x98\x80");
}

TEST(JsonParse, NumbersThatDoNotFitADouble) {
  std::string m = ExpectError("1e999", errc::kNumberOutOfRange);
  EXPECT_NE(m.find("1e999"), std::string::npos) << m;
  ExpectError(R"({"value":-1e400})", errc::kNumberOutOfRange);
  ExpectError("[1e-999]", errc::kNumberOutOfRange);  // underflow to zero
  ExpectError("1" + std::string(400, '0'), errc::kNumberOutOfRange);
  EXPECT_EQ(ParseOk("1.7976931348623157e308").text(), "1.7976931348623157e308");
  EXPECT_EQ(ParseOk("0e-999").text(), "0e-999");  // zero is exact
  EXPECT_EQ(ParseOk("4.9e-324").text(), "4.9e-324");
}

TEST(JsonParse, DuplicateKeys) {
  std::string m = ExpectError(R"({"status":"a","x":1,"status":"b"})", errc::kDuplicateKey);
  EXPECT_NE(m.find("duplicate key \"status\""), std::string::npos) << m;
  EXPECT_NE(m.find("at byte"), std::string::npos) << m;
  // Same key in different objects is fine.
  ParseOk(R"({"a":{"id":1},"b":{"id":2},"id":3})");
  // Nested duplicates are found.
  ExpectError(R"({"a":[{"x":1,"x":2}]})", errc::kDuplicateKey);
  // Escaped spelling of the same key is the same key.
  ExpectError(R"({"ab":1,"\u0061b":2})", errc::kDuplicateKey);
}

TEST(JsonParse, OffsetsPointAtTheProblem) {
  std::string m = ExpectError(R"({"status":"a","x":1,"status":"b"})", errc::kDuplicateKey);
  EXPECT_EQ(m, "duplicate key \"status\" at byte 20");
  m = ExpectError("[\"ok\",\"\xC3\x28\"]", errc::kInvalidUtf8);
  EXPECT_EQ(m, "invalid UTF-8 byte sequence at byte 7");
  m = ExpectError(R"(["ok","\u00e9\uDC00"])", errc::kInvalidUtf8);
  EXPECT_EQ(m, "lone UTF-16 surrogate in a \\u escape at byte 6");
  m = ExpectError(R"({"a":[1,2e999]})", errc::kNumberOutOfRange);
  EXPECT_EQ(m, "number 2e999 does not fit a double at byte 8");
  Limits limits;
  limits.max_string_bytes = 3;
  m = ExpectError(R"({"ab":"abcd"})", errc::kStringTooLong, limits);
  EXPECT_EQ(m, "string of 4 bytes exceeds the limit of 3 at byte 6");
  // Offsets count the byte order mark the parser skipped.
  m = ExpectError("\xEF\xBB\xBF[1 2]", errc::kSyntax);
  EXPECT_NE(m.find("at byte 6"), std::string::npos) << m;
}

TEST(JsonParse, EscapedBackslashBeforeUdIsNotASurrogate) {
  // The text contains "\\uDC00": an escaped backslash, then plain "uDC00".
  EXPECT_EQ(ParseOk(R"(["\\uDC00"])").items()[0].text(), "\\uDC00");
}

TEST(JsonParse, MessagesQuotePartnerTextShort) {
  const std::string key = std::string(62, 'k') + "\xE2\x82\xAC" + std::string(1000, 'k');
  std::string m = ExpectError("{\"" + key + "\":1,\"" + key + "\":2}", errc::kDuplicateKey);
  EXPECT_LT(m.size(), 200u) << m;
  // Cut on a character boundary: the euro sign straddles byte 64, so none of it is kept.
  EXPECT_EQ(m.find('\xE2'), std::string::npos) << m;
  EXPECT_NE(m.find(std::string(62, 'k') + "..."), std::string::npos) << m;
  m = ExpectError("[1" + std::string(500, '0') + "]", errc::kNumberOutOfRange);
  EXPECT_LT(m.size(), 200u) << m;
}

TEST(JsonParse, DuplicateKeysInLargeObjects) {
  std::string text = "{";
  for (int i = 0; i < 100; ++i) {
    text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  }
  Value ok = ParseOk(text + "\"last\":0}");
  EXPECT_EQ(ok.members().size(), 101u);
  ExpectError(text + "\"k3\":0}", errc::kDuplicateKey);   // dup of an early (pre-set) key
  ExpectError(text + "\"k99\":0}", errc::kDuplicateKey);  // dup of a late key
  ExpectError(text + "\"k0\":0}", errc::kDuplicateKey);
}

TEST(JsonParse, DepthBombIsRejectedQuicklyWithoutRecursion) {
  const std::string bomb(100000, '[');
  const auto start = std::chrono::steady_clock::now();
  std::string m = ExpectError(bomb, errc::kTooDeep);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(1));
  EXPECT_NE(m.find("at byte 64"), std::string::npos) << m;

  // Even with the limit lifted the parser does not recurse; the tree is deep but iterative.
  Limits deep;
  deep.max_depth = 5000;
  std::string nested = std::string(5000, '[') + std::string(5000, ']');
  Parsed p = ParseWith(nested, deep);
  EXPECT_TRUE(p.result.has_value()) << p.message;
  ExpectError(std::string(100000, '{'), errc::kSyntax);  // "{{" is a syntax error first
}

TEST(JsonParse, DepthLimitIsExact) {
  Limits limits;
  limits.max_depth = 3;
  ParseOk("[[[1]]]", limits);
  ParseOk(R"({"a":{"b":[]}})", limits);
  ExpectError("[[[[1]]]]", errc::kTooDeep, limits);
  ExpectError(R"({"a":{"b":[{}]}})", errc::kTooDeep, limits);
}

TEST(JsonParse, StringLimit) {
  Limits limits;
  limits.max_string_bytes = 4;
  ParseOk(R"(["abcd"])", limits);
  ExpectError(R"(["abcde"])", errc::kStringTooLong, limits);
  ExpectError(R"({"abcde":1})", errc::kStringTooLong, limits);  // keys count too
}

TEST(JsonParse, ArrayLimit) {
  Limits limits;
  limits.max_array_items = 3;
  ParseOk("[1,2,3]", limits);
  ExpectError("[1,2,3,4]", errc::kTooManyItems, limits);
  ExpectError("[[],[],[],[]]", errc::kTooManyItems, limits);
}

TEST(JsonParse, ObjectMemberLimit) {
  Limits limits;
  limits.max_object_members = 2;
  ParseOk(R"({"a":1,"b":2})", limits);
  ExpectError(R"({"a":1,"b":2,"c":3})", errc::kTooManyItems, limits);
}

TEST(JsonParse, TotalValueLimit) {
  Limits limits;
  limits.max_total_values = 5;
  ParseOk(R"({"a":[1,2],"b":3})", limits);  // object, array, 1, 2, 3
  ExpectError(R"({"a":[1,2],"b":3,"c":4})", errc::kTooManyItems, limits);
  ExpectError("[[[[[[]]]]]]", errc::kTooManyItems, limits);
}

TEST(JsonParse, ErrorCategory) {
  const std::error_code ec = errc::kDuplicateKey;  // implicit through is_error_code_enum
  EXPECT_EQ(&ec.category(), &json_category());
  EXPECT_EQ(std::string(json_category().name()), "carebridge.json");
  for (int e = 1; e <= static_cast<int>(errc::kEmpty); ++e) {
    EXPECT_FALSE(json_category().message(e).empty());
  }
}

TEST(JsonWrite, EscapesControlCharactersAndKeepsUtf8) {
  Value v = Value::Object();
  v.Set("k\"ey", Value::String(std::string("a\x01\x1f\x7f/\xE2\x82\xAC\"\\", 10)));
  EXPECT_EQ(Write(v), "{\"k\\\"ey\":\"a\\u0001\\u001f\x7f/\xE2\x82\xAC\\\"\\\\\"}");
}

TEST(JsonWrite, AppendsToExistingOutput) {
  std::string out = "prefix:";
  Write(Value::Bool(true), out);
  Write(Value(), out);
  EXPECT_EQ(out, "prefix:truenull");
}

TEST(JsonWrite, EmptyContainers) {
  EXPECT_EQ(Write(Value::Array()), "[]");
  EXPECT_EQ(Write(Value::Object()), "{}");
  EXPECT_EQ(Write(Value::String("")), "\"\"");
}

TEST(JsonWrite, ParseWriteParseIsStableOnEscapes) {
  const std::string text = R"({"div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">a\nb</div>"})";
  Value v = ParseOk(text);
  const std::string written = Write(v);
  EXPECT_EQ(written, text);
  EXPECT_EQ(ParseOk(written), v);
}

TEST(JsonValue, EqualityIsDeepAndOrderSensitive) {
  EXPECT_EQ(ParseOk(R"({"a":[1,{"b":null}]})"), ParseOk(R"({"a":[1,{"b":null}]})"));
  EXPECT_NE(ParseOk(R"({"a":1,"b":2})"), ParseOk(R"({"b":2,"a":1})"));
  EXPECT_NE(ParseOk("2.5"), ParseOk("2.50"));  // decimal precision matters in FHIR
  EXPECT_NE(ParseOk("1"), ParseOk("\"1\""));
  EXPECT_NE(ParseOk("true"), ParseOk("false"));
  EXPECT_NE(ParseOk("[1,2]"), ParseOk("[1]"));
  EXPECT_NE(ParseOk(R"({"a":1})"), ParseOk(R"({"a":1,"b":1})"));
  EXPECT_NE(ParseOk(R"({"a":1})"), ParseOk(R"({"b":1})"));
  EXPECT_EQ(Value(), Value());
  EXPECT_NE(Value(), Value::Object());
  EXPECT_NE(Value::Array(), Value::Object());
}

TEST(JsonValue, SetReplacesInPlaceOrAppends) {
  Value v = Value::Object();
  v.Set("a", Value::Number("1"));
  v.Set("b", Value::Number("2"));
  Value& a = v.Set("a", Value::String("x"));
  EXPECT_EQ(a.text(), "x");
  EXPECT_EQ(Write(v), R"({"a":"x","b":2})");
}

TEST(JsonValue, SetAtInsertsNewKeysAtIndexAndReplacesExistingInPlace) {
  Value v = Value::Object();
  v.Set("resourceType", Value::String("Patient"));
  v.Set("id", Value::String("p1"));
  v.Set("active", Value::Bool(true));
  v.SetAt(2, "meta", Value::Object());
  EXPECT_EQ(Write(v), R"({"resourceType":"Patient","id":"p1","meta":{},"active":true})");
  v.SetAt(0, "active", Value::Bool(false));  // existing: stays where it is
  EXPECT_EQ(Write(v), R"({"resourceType":"Patient","id":"p1","meta":{},"active":false})");
  v.SetAt(99, "z", Value());  // clamped to the end
  EXPECT_EQ(v.members().back().key, "z");
  v.SetAt(0, "first", Value::Number("0"));
  EXPECT_EQ(v.members().front().key, "first");
}

TEST(JsonValue, RemoveAndFind) {
  Value v = ParseOk(R"({"a":1,"b":"two","c":[3]})");
  EXPECT_EQ(v.StringAt("b"), "two");
  EXPECT_EQ(v.StringAt("a"), "");  // not a string
  EXPECT_EQ(v.StringAt("zz"), "");
  ASSERT_NE(v.Find("c"), nullptr);
  EXPECT_TRUE(v.Find("c")->is_array());
  EXPECT_EQ(v.Find("nope"), nullptr);
  EXPECT_TRUE(v.Remove("b"));
  EXPECT_FALSE(v.Remove("b"));
  EXPECT_EQ(Write(v), R"({"a":1,"c":[3]})");
  const Value& cv = v;
  EXPECT_EQ(cv.Find("a")->text(), "1");
  EXPECT_EQ(ParseOk("[1]").Find("a"), nullptr);  // not an object
}

TEST(JsonValue, BuildersAndKinds) {
  Value arr;
  arr.PushBack(Value::Number("1"));  // a null becomes an array when pushed to
  arr.PushBack(Value::String("s"));
  EXPECT_EQ(arr.kind(), Kind::kArray);
  EXPECT_EQ(Write(arr), R"([1,"s"])");
  Value obj;
  obj.Set("k", Value::Bool(false));  // likewise an object when set
  EXPECT_EQ(obj.kind(), Kind::kObject);
  Value s = Value::String("abc");
  s.mutable_text() += "d";
  EXPECT_EQ(s.text(), "abcd");
  EXPECT_EQ(Value::Bool(true).text(), "");
}

}  // namespace
}  // namespace carebridge::fhir::json
