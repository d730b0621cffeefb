#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "fhir/json/value.h"
#include "fhir/outcome.h"

namespace carebridge::fhir {

struct ResourceTypeInfo {
  std::string_view name;
  bool writable;  // false for AuditEvent: the gateway writes those itself
};

// The resource types carebridge serves (DESIGN.md capability 1).
std::span<const ResourceTypeInfo> SupportedTypes();
const ResourceTypeInfo* FindSupportedType(std::string_view name);
// True for any FHIR R4 resource type name, supported or not (so an unsupported type can be told
// apart from a typo).
bool IsR4ResourceType(std::string_view name);

// FHIR id: [A-Za-z0-9\-\.]{1,64}.
bool IsValidId(std::string_view id);

// Checks a resource a partner wants to write: resourceType present and equal to `expected_type`,
// id syntax, meta syntax, required elements and required-binding code sets (status, intent...)
// of each supported type, Reference.reference syntax everywhere in the tree, primitive syntax
// of the elements we know (dates, ids, booleans). Problems go to `outcome` with FHIRPath
// expressions. Returns true when no error was added.
bool ValidateResource(const json::Value& resource, std::string_view expected_type,
                      Outcome& outcome);

// Reference.reference text: "Type/id", "Type/id/_history/vid", an absolute URL, "#local",
// "urn:uuid:..." or "urn:oid:...".
bool IsValidReferenceText(std::string_view reference);

// The patient a resource belongs to (compartment): Patient/<its own id> for a Patient, otherwise
// the id in subject / patient / for / beneficiary when that is a "Patient/<id>" reference.
std::optional<std::string> PatientIdOf(std::string_view type, const json::Value& resource);

// The id in a relative reference to `type` ("Type/id" or "Type/id/_history/v"); empty for any
// other reference.
std::string LocalId(std::string_view reference, std::string_view type);

// The reference text of `element` of `resource`: a Reference, or the first of an array of them;
// empty when there is none.
std::string_view ReferenceAt(const json::Value& resource, std::string_view element);

// A Reference: {"reference": reference}.
json::Value MakeReference(std::string reference);

// A Parameters.parameter (or a part of one) named `name` whose value element is `value_element`
// ("valueString", "valueCode", "valueReference"...).
json::Value ParameterPart(std::string name, std::string_view value_element, json::Value value);
// A parameter (or part) `name` made of `parts` (an array of parts).
json::Value ParameterGroup(std::string name, json::Value parts);
// The same with a string value, and with a Reference value.
json::Value ParameterText(std::string name, std::string_view value_element, std::string value);
json::Value ParameterReference(std::string name, std::string reference);
// ... and with a valueInteger.
json::Value ParameterInteger(std::string name, std::int64_t value);
// A Parameters resource whose parameter array is `parameters` (parts and groups as above).
json::Value MakeParameters(json::Value parameters);

// Sets the id member of `resource` (placed right after resourceType when it has none).
void SetResourceId(json::Value& resource, std::string id);

// A resource's compact JSON before the store assigns its version, written on the request's thread
// so that the store's single writer only splices meta.versionId and meta.lastUpdated in.
struct UnstampedJson {
  std::string text;         // the resource without meta
  std::size_t meta_at = 0;  // the byte of `text` where meta goes
  std::string meta_rest;    // meta's other members, each as ,"key":value (or empty)
};

// `resource` written without meta. Meta stays where it was, or goes right after id (or after
// resourceType) when new; a versionId or lastUpdated the sender put in it is dropped, and one that
// is not an object is replaced.
UnstampedJson WriteUnstamped(json::Value resource);

// The stored JSON: meta with versionId and lastUpdated first (FHIR's order within Meta), then the
// rest of meta. REQUIRES: both texts need no JSON escaping (a version number, an instant).
std::string Stamped(const UnstampedJson& json, std::string_view version_id,
                    std::string_view last_updated);

}  // namespace carebridge::fhir
