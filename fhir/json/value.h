#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace carebridge::fhir::json {

enum class Kind : std::uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };

struct Member;

// An ordered JSON document tree for FHIR resources. Numbers keep the exact text the partner sent
// (FHIR decimals are not doubles: "2.50" must read back as 2.50) and object members keep their
// order, so what a partner writes is what it reads back.
class Value {
 public:
  Value() = default;  // null
  static Value Bool(bool b);
  static Value Number(std::string text);  // REQUIRES: text is a valid JSON number
  static Value String(std::string text);
  static Value Array();
  static Value Object();

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_number() const { return kind_ == Kind::kNumber; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_object() const { return kind_ == Kind::kObject; }

  bool as_bool() const { return bool_; }
  // The string's content, or the number's text. Empty for other kinds.
  const std::string& text() const { return text_; }
  std::string& mutable_text() { return text_; }

  // Arrays.
  const std::vector<Value>& items() const { return items_; }
  std::vector<Value>& items() { return items_; }
  void PushBack(Value v);

  // Objects. Lookups are linear: FHIR objects are small, and order matters more than speed here.
  const std::vector<Member>& members() const { return members_; }
  std::vector<Member>& members() { return members_; }
  const Value* Find(std::string_view key) const;
  Value* Find(std::string_view key);
  // The string content of member `key` if it is a string, else empty.
  std::string_view StringAt(std::string_view key) const;
  // Replaces the value of `key` in place, or appends it.
  Value& Set(std::string key, Value v);
  // Inserts or replaces `key` at position `index` (clamped to the end) when it is new.
  Value& SetAt(std::size_t index, std::string key, Value v);
  bool Remove(std::string_view key);

  // Deep equality; object member order counts.
  friend bool operator==(const Value& a, const Value& b);

 private:
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  std::string text_;
  std::vector<Value> items_;
  std::vector<Member> members_;
};

struct Member {
  std::string key;
  Value value;
};

}  // namespace carebridge::fhir::json
