#pragma once

// A referral's history as the store holds it, for the timeline ($timeline, Provenance), the
// metrics and the SLA alerts: the Task's versions and the contacts linked to it. Blocking reads.
//
// Authors: a version (or contact) whose meta.source starts with `source_prefix` (the API's
// ContributorSource) was written by the partner named after the prefix; anything else by the
// gateway ("gateway"). An empty `source_prefix` attributes everything to the gateway.
//
// Contacts: Communications whose basedOn or partOf references the Task (the agency's or the
// coordinator's record of a contact with the person), each once, at Communication.sent (else
// its meta.lastUpdated). The gateway's own alerts point at the Task with `about`: not contacts.

#include <string_view>
#include <vector>

#include "fhir/base/result.h"
#include "fhir/json/limits.h"
#include "gateway/referral/timeline.h"
#include "gateway/store/store.h"

namespace carebridge::delivery {

// Every version of Task/<task_id> that is not a deletion, oldest first.
Result<std::vector<referral::TaskVersion>> LoadTaskVersions(store::Store& store,
                                                            const fhir::json::Limits& limits,
                                                            std::string_view task_id,
                                                            std::string_view source_prefix);

// The contacts linked to Task/<task_id>, at most `max_per_link` per link (basedOn, partOf).
Result<std::vector<referral::Contact>> LoadContacts(store::Store& store,
                                                    const fhir::json::Limits& limits,
                                                    std::string_view task_id,
                                                    std::string_view source_prefix,
                                                    int max_per_link = 1000);

}  // namespace carebridge::delivery
