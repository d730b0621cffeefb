#include "fhir/json/value.h"

#include <algorithm>
#include <utility>

namespace carebridge::fhir::json {

Value Value::Bool(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.bool_ = b;
  return v;
}

Value Value::Number(std::string text) {
  Value v;
  v.kind_ = Kind::kNumber;
  v.text_ = std::move(text);
  return v;
}

Value Value::String(std::string text) {
  Value v;
  v.kind_ = Kind::kString;
  v.text_ = std::move(text);
  return v;
}

Value Value::Array() {
  Value v;
  v.kind_ = Kind::kArray;
  return v;
}

Value Value::Object() {
  Value v;
  v.kind_ = Kind::kObject;
  return v;
}

// There is no error channel on these mutators, so calling them on the wrong kind turns the value
// into the container the caller evidently wanted (null -> array/object is the common case: a
// default-constructed Value being filled in).
void Value::PushBack(Value v) {
  if (kind_ != Kind::kArray) {
    *this = Array();
  }
  items_.push_back(std::move(v));
}

const Value* Value::Find(std::string_view key) const {
  for (const Member& m : members_) {
    if (m.key == key) {
      return &m.value;
    }
  }
  return nullptr;
}

Value* Value::Find(std::string_view key) {
  for (Member& m : members_) {
    if (m.key == key) {
      return &m.value;
    }
  }
  return nullptr;
}

std::string_view Value::StringAt(std::string_view key) const {
  const Value* v = Find(key);
  if (v == nullptr || !v->is_string()) {
    return {};
  }
  return v->text_;
}

Value& Value::Set(std::string key, Value v) {
  return SetAt(members_.size(), std::move(key), std::move(v));
}

Value& Value::SetAt(std::size_t index, std::string key, Value v) {
  if (kind_ != Kind::kObject) {
    *this = Object();
  }
  if (Value* existing = Find(key)) {
    *existing = std::move(v);
    return *existing;
  }
  index = std::min(index, members_.size());
  auto it = members_.insert(members_.begin() + static_cast<std::ptrdiff_t>(index),
                            Member{std::move(key), std::move(v)});
  return it->value;
}

bool Value::Remove(std::string_view key) {
  auto it = std::find_if(members_.begin(), members_.end(),
                         [key](const Member& m) { return m.key == key; });
  if (it == members_.end()) {
    return false;
  }
  members_.erase(it);
  return true;
}

bool operator==(const Value& a, const Value& b) {
  if (a.kind_ != b.kind_) {
    return false;
  }
  switch (a.kind_) {
    case Kind::kNull:
      return true;
    case Kind::kBool:
      return a.bool_ == b.bool_;
    case Kind::kNumber:
    case Kind::kString:
      // Numbers compare by their text: FHIR gives "2.5" and "2.50" different precision.
      return a.text_ == b.text_;
    case Kind::kArray:
      return a.items_ == b.items_;
    case Kind::kObject:
      if (a.members_.size() != b.members_.size()) {
        return false;
      }
      for (std::size_t i = 0; i < a.members_.size(); ++i) {
        if (a.members_[i].key != b.members_[i].key ||
            !(a.members_[i].value == b.members_[i].value)) {
          return false;
        }
      }
      return true;
  }
  return false;
}

}  // namespace carebridge::fhir::json
