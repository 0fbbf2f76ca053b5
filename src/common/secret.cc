#include "src/common/secret.h"

#include <sodium.h>

#include "nlohmann/json.hpp"

namespace hut {

Secret& Secret::operator=(const Secret& other) {
  if (this != &other) {
    Wipe();
    value_ = other.value_;
  }
  return *this;
}

Secret::Secret(Secret&& other) noexcept : value_(std::move(other.value_)) { other.Wipe(); }

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    Wipe();
    value_ = std::move(other.value_);
    other.Wipe();
  }
  return *this;
}

Secret::~Secret() { Wipe(); }

void Secret::Wipe() {
  if (!value_.empty()) sodium_memzero(value_.data(), value_.size());
  value_.clear();
}

bool Secret::Equals(const Secret& other) const {
  if (value_.size() != other.value_.size()) return false;
  return sodium_memcmp(value_.data(), other.value_.data(), value_.size()) == 0;
}

void to_json(nlohmann::json& j, const Secret&) { j = std::string(Secret::kRedacted); }
void to_json(nlohmann::ordered_json& j, const Secret&) { j = std::string(Secret::kRedacted); }

}  // namespace hut
