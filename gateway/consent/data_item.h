#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/json/value.h"

namespace carebridge::consent {

// A Coding seen through views into a resource.
struct CodeRef {
  std::string_view system;
  std::string_view code;
};

// A FHIR date's precision range [low, high) in epoch milliseconds UTC (fhir::DateRange).
struct DateSpan {
  std::int64_t low = 0;
  std::int64_t high = 0;
};

// What the consent engine needs to know about one resource about to be disclosed. Built once per
// resource with FromResource; every view points into that resource.
//
// REQUIRES: the json::Value a DataItem was built from outlives it and is not modified meanwhile.
struct DataItem {
  std::string_view type;  // resourceType
  std::string_view id;
  // The patient of the resource's compartment (fhir::PatientIdOf); nullopt for data that belongs
  // to no patient.
  std::optional<std::string> patient_id;
  // system|code of every Coding in the clinically meaningful CodeableConcepts: code, category,
  // type, class, reasonCode, description (Goal), valueCodeableConcept/valueCoding,
  // component[].code/value, activity[].detail.code (CarePlan), item[].answer[].valueCoding
  // (QuestionnaireResponse, nested items too) — and the same for each contained resource, because
  // contained resources leave the gateway with their container.
  std::vector<CodeRef> codes;
  // meta.security of the resource.
  std::vector<CodeRef> security;
  // The clinically relevant date (ClinicalDate), used for Consent.provision.dataPeriod.
  std::optional<DateSpan> date;
  // `date` is meta.lastUpdated: the resource has no date of its own.
  bool dated_by_last_updated = false;
  // References to whoever wrote the data, for data.meaning = authoredby: author, recorder,
  // asserter, requester, performer (and performer[].actor), contributor, expressedBy,
  // informationSource.
  std::vector<std::string_view> authors;
  // Every Reference.reference the resource holds (contained resources included, local "#x"
  // references excluded), as written. For data.meaning = dependents.
  std::vector<std::string_view> references;
  // The Organization ("Organization/<id>") that holds this data on whose behalf the gateway
  // discloses it, when the caller knows it (usually the partner that contributed it). Matched
  // against Consent actors in the custodian role. Not read from the resource; empty = unknown.
  std::string_view custodian;

  static DataItem FromResource(const fhir::json::Value& resource);

  // What FromResource read from the resource (codes, security labels, date, authors, references)
  // as compact JSON, kept beside each stored version so that a release decision needs no parse of
  // the resource itself.
  std::string Facts() const;
  // The item Facts() described, for the resource type/id of `patient_id` whose stored version was
  // stamped `last_updated` (the date of data without one of its own); every view points into
  // `facts` (the parsed Facts() text), which must outlive the item. nullopt when `facts` is not
  // what Facts() writes.
  static std::optional<DataItem> FromFacts(std::string_view type, std::string_view id,
                                           std::optional<std::string> patient_id,
                                           std::string_view last_updated,
                                           const fhir::json::Value& facts);

  // True when `reference` ("Type/id", "Type/id/_history/n" or an absolute URL ending in
  // Type/id) names this resource.
  bool Is(std::string_view reference) const;
};

// The date that places `resource` of `type` in clinical time, by type: effective[x] /
// issued (Observation, DiagnosticReport), onset[x] / recordedDate (Condition,
// AllergyIntolerance), period.start / created (CarePlan), occurrence[x] / authoredOn
// (ServiceRequest), executionPeriod.start / authoredOn (Task), authored (QuestionnaireResponse),
// startDate / statusDate (Goal), dateTime (Consent), period.start (Encounter), performed[x]
// (Procedure), authoredOn (MedicationRequest), date (DocumentReference), occurrence[x] /
// recorded (Immunization); the first one present and well formed wins. Periods count from their
// start. Every type falls back to meta.lastUpdated; nullopt when that is missing too.
std::optional<DateSpan> ClinicalDate(std::string_view type, const fhir::json::Value& resource);

// "Type/id" out of a reference's text: drops "/_history/<vid>" and any base URL. Other forms
// ("urn:uuid:...", "#local") come back unchanged.
std::string_view RelativeReference(std::string_view reference);

}  // namespace carebridge::consent
