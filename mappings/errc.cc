#include "mappings/errc.h"

#include <string>

namespace carebridge::mappings {
namespace {

class Category : public std::error_category {
 public:
  const char* name() const noexcept override { return "carebridge.mappings"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::kBadExpression:
        return "invalid or unsupported FHIRPath expression";
      case errc::kBadDefinition:
        return "mapping definition does not validate";
    }
    return "unknown mappings error";
  }
};

}  // namespace

const std::error_category& mappings_category() {
  static const Category category;
  return category;
}

std::error_code make_error_code(errc e) { return {static_cast<int>(e), mappings_category()}; }

}  // namespace carebridge::mappings
