// hut-dev-services: runs PostgreSQL and Redis on loopback in a folder, for the
// demo and for benchmarks, until SIGINT or SIGTERM; then stops both.
//
//   hut-dev-services DIR [--pg-port N] [--redis-port N]
//
// Once both answer, writes DIR/env (FOOHUT_DATABASE_URL=..., FOOHUT_REDIS_URL=...,
// FOOHUT_REDIS_PASSWORD_FILE=...)
// and prints the same lines on stdout.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "CLI/CLI.hpp"
#include "src/local/postgres_server.h"
#include "src/local/redis_server.h"
#include "testing/test_env.h"

int main(int argc, char** argv) {
  CLI::App app{"Run PostgreSQL and Redis on loopback until interrupted"};
  std::string dir;
  uint16_t pg_port = 0, redis_port = 0;
  app.add_option("dir", dir, "State folder (created if missing)")->required();
  app.add_option("--pg-port", pg_port, "PostgreSQL port (default: a free one)");
  app.add_option("--redis-port", redis_port, "Redis port (default: a free one)");
  CLI11_PARSE(app, argc, argv);

  // Block the stop signals before any thread or child exists; sigwait below.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  hut::local::PostgresOptions pg_opts;
  pg_opts.data_dir = dir + "/postgres";
  pg_opts.port = pg_port ? pg_port : hut::testing::PickFreePort();
  auto pg = hut::local::PostgresServer::Start(pg_opts);
  if (!pg.ok()) {
    std::cerr << "hut-dev-services: " << pg.status().message() << "\n";
    return 1;
  }
  hut::local::RedisOptions redis_opts;
  redis_opts.dir = dir + "/redis";
  redis_opts.port = redis_port ? redis_port : hut::testing::PickFreePort();
  auto redis = hut::local::RedisServer::Start(redis_opts);
  if (!redis.ok()) {
    std::cerr << "hut-dev-services: " << redis.status().message() << "\n";
    return 1;
  }
  std::string env = "FOOHUT_DATABASE_URL=" + (*pg)->url() + "\nFOOHUT_REDIS_URL=" +
                    (*redis)->url() + "\nFOOHUT_REDIS_PASSWORD_FILE=" +
                    (*redis)->password_file() + "\n";
  {
    std::ofstream out(dir + "/env.tmp");
    out << env;
  }
  std::rename((dir + "/env.tmp").c_str(), (dir + "/env").c_str());
  std::cout << env << std::flush;

  int sig = 0;
  sigwait(&stop, &sig);
  (*redis)->Stop();
  (*pg)->Stop();
  return 0;
}
