#ifndef HUT_TESTING_LOCAL_SECRETS_H_
#define HUT_TESTING_LOCAL_SECRETS_H_

// An environment's secrets as tests use them: the local backend in a
// temporary folder, an in-memory store for the events, and the service over
// both (environment "staging" of project "foohut"). Header-only: the test
// links hut_secret_backends and hut_store.

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "src/secrets/local_backend.h"
#include "src/secrets/service.h"
#include "src/store/sqlite_store.h"
#include "testing/test_env.h"

namespace hut::testing {

struct LocalSecrets {
  // Call from SetUp under ASSERT_NO_FATAL_FAILURE.
  void Open(const Clock& clock) {
    auto b = secrets::LocalSecretBackend::Open(
        {.file = dir.path() + "/store.json", .key_file = dir.path() + "/master.key", .key = Secret()},
        clock);
    ASSERT_TRUE(b.ok()) << b.status();
    backend = std::move(*b);
    auto s = store::SqliteStore::Open(":memory:", clock);
    ASSERT_TRUE(s.ok()) << s.status();
    store = std::move(*s);
    service = std::make_unique<secrets::SecretsService>(secrets::SecretsServiceOptions{
        .project = "foohut", .environment = "staging", .backend = backend.get(),
        .store = store.get(), .clock = &clock});
  }

  // The types of the events recorded so far, oldest first, but secret.set.
  std::vector<std::string> EventTypes() const {
    std::vector<std::string> types;
    auto events = store->EventsAfter(0, 1000);
    EXPECT_TRUE(events.ok()) << events.status();
    if (!events.ok()) return types;
    for (const store::Event& e : *events) {
      if (e.type != "secret.set") types.push_back(e.type);
    }
    return types;
  }

  TempDir dir;
  std::unique_ptr<secrets::LocalSecretBackend> backend;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<secrets::SecretsService> service;
};

}  // namespace hut::testing

#endif  // HUT_TESTING_LOCAL_SECRETS_H_
