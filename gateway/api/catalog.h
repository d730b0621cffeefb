#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "fhir/base/result.h"
#include "gateway/api/fhir_api.h"
#include "gateway/config/config.h"
#include "gateway/store/store.h"
#include "mappings/catalog.h"

namespace carebridge::api {

// The folder of the mapping data: config.mappings_dir, else the built-in default (the source
// tree's mappings/, fixed at build time).
std::string MappingsDir(const config::Config& config);

// Reads <dir>/conceptmaps/*.json, <dir>/partners/*.json and <dir>/questionnaires/*.json (each
// folder optional, files in name order). False, with `message` set, when `dir` is not a folder or
// a file cannot be read.
bool ReadMappingFiles(const std::string& dir, mappings::CatalogFiles& files, std::string& message);

// ReadMappingFiles(MappingsDir(config)) + Catalog::Build, refusing the whole catalog when any file
// has an error (the message lists them): a gateway does not run on a definition that does not
// validate. When the config names no folder and the built-in default is absent (an installed
// binary without the source tree), the catalog is empty.
// `extra_concept_maps` join the files' (ConceptMaps loaded through the API: StoredConceptMaps).
Result<mappings::CatalogPtr> LoadMappingCatalog(
    const config::Config& config, std::string& message,
    std::vector<mappings::DataFile> extra_concept_maps = {});

// The ConceptMaps loaded through the API (POST/PUT /fhir/ConceptMap by the admin partner, stored
// with meta.source naming it), except `except_id`: they join the shipped ones in every catalog
// the gateway builds. Blocking (a store search).
std::vector<mappings::DataFile> StoredConceptMaps(store::Store& store,
                                                  std::string_view except_id = {});

// Makes the catalog readable as FHIR: each Questionnaire at Questionnaire/<id> and each ConceptMap
// at ConceptMap/<id> (the file's id, else its name). Writes only what changed, so a restart adds
// no versions. Blocks until durable; call it at start-up.
Result<void> PublishCatalog(store::Store& store, const mappings::Catalog& catalog);

// A reload (SIGHUP, or an admin's POST /fhir/$reload-mappings): LoadMappingCatalog again and,
// only when every file validates, publish it; the caller then swaps it in
// (FhirApi::SetMappingCatalog). Otherwise the running catalog stays, and `message` says why.
// Blocking: run it on the blocking pool, never on an I/O thread.
Result<mappings::CatalogPtr> ReloadMappingCatalog(const config::Config& config, store::Store& store,
                                                  std::string& message);

}  // namespace carebridge::api
