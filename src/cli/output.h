#ifndef HUT_CLI_OUTPUT_H_
#define HUT_CLI_OUTPUT_H_

// What the CLI's commands share to print the API's answers: tolerant reads
// of its JSON (a missing or mistyped field reads as empty), times in local
// time, and aligned tables.

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace hut::cli {

std::string Str(const nlohmann::json& j, const char* key);
int64_t Int(const nlohmann::json& j, const char* key);
bool Bool(const nlohmann::json& j, const char* key);
nlohmann::json Field(const nlohmann::json& j, const char* key);

// An API timestamp (RFC 3339) in local time with `format`; as given when unreadable.
std::string LocalTime(const std::string& rfc3339, const char* format);
std::string ClockTime(const std::string& rfc3339);  // 14:03:07
std::string DateTime(const std::string& rfc3339);   // 2026-12-02 14:03:07; "-" for ""

// Columns separated by two spaces, each as wide as its widest cell.
void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows);

// "revision 3 -> 4", or "revision 1 (first deployment)".
std::string Revisions(const nlohmann::json& rollout);

}  // namespace hut::cli

#endif  // HUT_CLI_OUTPUT_H_
