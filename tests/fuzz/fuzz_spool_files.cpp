// Spool files as a crashed or hostile local process may leave them (the
// spool directory is as writable as the database): after whole records
// from the real writer, the input appends raw bytes, or payloads framed
// with a valid checksum (so the payload parser sees them), or cuts the
// file short. Then a broker on the file counts its queue, which moves what
// it can. Nothing crashes; every whole record the writer appended before
// the input's bytes is in the queue; a second count moves nothing more.
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "dramatiq/errors.hpp"
#include "dramatiq/log.hpp"
#include "dramatiq/sqlite_broker.hpp"
#include "fuzz_support.hpp"
#include "sqlite/doorbell.hpp"
#include "sqlite/liveness.hpp"
#include "sqlite/spool.hpp"

using namespace dramatiq;
using dramatiq::fuzz::Input;
using dramatiq::fuzz::invariant_failed;

namespace {

std::string only_spool_file(const std::string& directory) {
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    std::string name = entry.path().filename().string();
    if (name.size() > 6 && name.compare(name.size() - 6, 6, ".spool") == 0) return entry.path().string();
  }
  invariant_failed("the writer made no spool file");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  log::set_sink([](const log::Record&) {});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static dramatiq::fuzz::BrokerFiles files("spool");
  static SQLiteBroker broker([] {
    SQLiteBrokerOptions options;
    options.path = files.path;
    options.busy_timeout_ms = 2000;
    return options;
  }());
  static sqlite::Doorbell doorbell(files.path + "-doorbell");
  static sqlite3* db = [] {
    broker.declare_queue("q");
    sqlite3* handle = nullptr;
    if (sqlite3_open(files.path.c_str(), &handle) != SQLITE_OK) invariant_failed("open failed");
    sqlite3_busy_timeout(handle, 2000);
    return handle;
  }();
  const std::string spool = sqlite::spool_directory(files.path);

  Input in(data, size);
  const std::int64_t whole = in.byte() % 4;
  std::string file;
  {
    // A writer of this process's identity: the file is never its owner's
    // dead one, so only the input decides what happens to it.
    sqlite::SpoolWriter writer(spool, doorbell, sqlite::ProcessIdentity::current());
    for (std::int64_t i = 0; i < whole; ++i) {
      writer.append({sqlite::MessageRow{"q", 0, 0, "id-" + std::to_string(i), in.bytes(32)}});
    }
    if (whole == 0) writer.append({sqlite::MessageRow{"q", 0, 0, "id-0", ""}});
    file = only_spool_file(spool);
    std::ofstream out(file, std::ios::binary | std::ios::app);
    while (!in.empty()) {
      switch (in.byte() % 3) {
        case 0: out << in.bytes(64); break;                               // raw bytes
        case 1: out << sqlite::spool_record(in.bytes(200)); break;         // a framed payload
        case 2: out << sqlite::spool_record(std::string(1, '\x01') + in.bytes(200)); break;  // rows kind
      }
    }
    out.close();
    // The writer's seal (at destruction) lands after the input's bytes.
  }
  const std::int64_t expected_at_least = whole == 0 ? 1 : whole;
  try {
    auto first = broker.queue_counts("q");
    auto second = broker.queue_counts("q");
    FUZZ_CHECK(first.ready + first.delayed >= expected_at_least, std::to_string(first.ready));
    FUZZ_CHECK(second.ready == first.ready && second.delayed == first.delayed, std::to_string(second.ready));
  } catch (const DramatiqError&) {
  }
  // The next input starts from an empty queue and no spool file.
  std::error_code ignored;
  std::filesystem::remove(file, ignored);
  char* error = nullptr;
  sqlite3_exec(db, "DELETE FROM dramatiq_messages; DELETE FROM dramatiq_spools", nullptr, nullptr, &error);
  sqlite3_free(error);
  return 0;
}
