#pragma once

#include <cstdint>
#include <forward_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fhir/base/result.h"
#include "fhir/json/value.h"
#include "mappings/errc.h"

namespace carebridge::mappings::fhirpath {

// A FHIRPath (http://hl7.org/fhirpath/N1/) subset over FHIR R4 JSON, compiled once and evaluated
// many times. Supported:
//   navigation      a.b.c, `quoted`, a leading type name (Patient.name), choice elements by their
//                   base name (Observation.value finds valueQuantity), indexer [n]
//   literals        'string' (with \' \\ \n \t \uXXXX escapes), 12, 1.5, -3, true, false, {}
//   variables       $this, %resource, %context, %rootResource, %sct, %loinc, %ucum
//   operators       = != < > <= >= | (union) in contains and or xor implies
//   functions       where(c) select(e) exists() exists(c) all(c) empty() first() last() tail()
//                   skip(n) take(n) count() not() ofType(T) is(T) as(T) extension(url)
//                   hasValue() startsWith(s) endsWith(s) contains(s) length() distinct()
//                   iif(c, a[, b])
// Not supported (Compile refuses them): arithmetic, date/time and quantity literals, `is`/`as`
// operators, ~ and !~, and the remaining functions. Numbers compare as doubles.
//
// Thread safety: a compiled Expression is immutable; any number of threads may evaluate it at once.

// One element of a result collection. `value` points into the evaluated document (or, for
// literals and computed values, into the Expression or the Collection that holds them), so an Item
// is valid only while both live and the document is not modified.
struct Item {
  const fhir::json::Value* value = nullptr;
  // The object that holds this element as member `key`; null for the root and computed values.
  const fhir::json::Value* parent = nullptr;
  std::string_view key;     // the JSON member name, e.g. "valueQuantity" for Observation.value
  std::int32_t index = -1;  // position within the member's array; -1 when the member is no array
  std::string_view type;    // FHIR type known from a choice suffix ("Quantity"), else empty
};

// An ordered FHIRPath collection. Owns the values computed during evaluation (booleans aside,
// which are static), so it must outlive the Items taken from it.
class Collection {
 public:
  const std::vector<Item>& items() const { return items_; }
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  const Item& operator[](std::size_t i) const { return items_[i]; }

  // FHIRPath singleton evaluation of collections: empty -> nullopt, one boolean -> its value, one
  // item of another type -> true. Several items -> true here (the spec makes that an error;
  // its test list reads `(1|2).not()` as false).
  std::optional<bool> AsBoolean() const;

 private:
  friend class Expression;
  std::vector<Item> items_;
  std::forward_list<fhir::json::Value> owned_;
};

// Where an element sits, for rules that change the document. Pointers are into the document
// given to Locate(); any change to the document may invalidate the others.
struct Location {
  fhir::json::Value* parent = nullptr;  // object holding the member (null: the root itself)
  std::string key;                      // member name in `parent`
  std::int32_t index = -1;              // position in the member's array, or -1
  fhir::json::Value* value = nullptr;
};

class Expression {
 public:
  Expression() = default;  // evaluates to the context itself ($this)

  // Parses `text`. On failure returns errc::kBadExpression and, in `message`, what is wrong and
  // at which character. Nesting deeper than 64 levels is refused (no unbounded recursion).
  static Result<Expression> Compile(std::string_view text, std::string& message);

  // The source text ("" for the identity expression).
  const std::string& text() const;

  // Evaluates against `resource`, which is also %resource and %context.
  Collection Evaluate(const fhir::json::Value& resource) const;
  // Evaluates with `focus` as the input collection and `resource` as %resource.
  Collection Evaluate(const fhir::json::Value& resource, const Item& focus) const;

  // The locations of the document elements the expression selects (computed values and literals
  // are skipped), in document order of evaluation.
  std::vector<Location> Locate(fhir::json::Value& resource) const;

  // For rules that create elements: when the expression ends in a member name (`a.b.where(x).c`),
  // the expression of the parent (`a.b.where(x)`) and that name (`c`). Otherwise nullopt.
  struct Target;
  std::optional<Target> SplitLast() const;

  // When the expression is a plain member chain (`[Type.]a.b.c`, no functions or indexers), its
  // member names without the leading type; otherwise nullopt. Such paths can be created.
  std::optional<std::vector<std::string>> MemberChain() const;

  struct Program;  // the compiled form; immutable and shared by copies

 private:
  explicit Expression(std::shared_ptr<const Program> program) : program_(std::move(program)) {}
  std::shared_ptr<const Program> program_;  // null: the identity expression
};

struct Expression::Target {
  Expression parent;
  std::string name;
};

// Exposed for error messages: the FHIRPath ("ServiceRequest.code.coding[1]") of `node` inside
// `resource`, found by a search of the document; empty if `node` is not in it.
std::string PathOf(const fhir::json::Value& resource, const fhir::json::Value* node);

}  // namespace carebridge::mappings::fhirpath
