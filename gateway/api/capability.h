#pragma once

#include <string>

namespace carebridge::api {

// The CapabilityStatement served at /fhir/metadata, built from the same tables the server routes
// and searches with (supported types, search parameters), so it cannot claim what is not there.
std::string BuildCapabilityStatement();

}  // namespace carebridge::api
