#pragma once

#include <string_view>
#include <vector>

namespace carebridge {

// `carebridge mappings check [--config FILE | --mappings-dir DIR] [--fixtures DIR]`: loads every
// ConceptMap, partner definition and Questionnaire, prints each file's problems, then checks each
// partner's round trip on its fixtures (<fixtures>/<partner-id>/*.json; by default the source
// tree's tests/fixtures/mappings next to the mappings folder). Exit 0 when everything holds, 1
// when a definition does not validate or a round trip fails, 2 for usage and I/O errors.
int RunMappingsCommand(const std::vector<std::string_view>& args);

}  // namespace carebridge
