#include "gateway/api/http.h"

namespace carebridge::api {

const std::string* HttpRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) {
      return &value;
    }
  }
  return nullptr;
}

}  // namespace carebridge::api
