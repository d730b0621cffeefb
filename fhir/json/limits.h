#pragma once

#include <cstddef>

namespace carebridge::fhir::json {

// Bounds on what a partner can make the parser allocate or recurse into. The defaults are safe for
// real FHIR traffic (a large Bundle is a few MB, nesting rarely passes 15 levels).
struct Limits {
  std::size_t max_depth = 64;
  std::size_t max_string_bytes = 1 << 20;
  std::size_t max_array_items = 100'000;
  std::size_t max_object_members = 10'000;
  std::size_t max_total_values = 2'000'000;
};

}  // namespace carebridge::fhir::json
