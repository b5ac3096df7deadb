// The embedded broker's send path. A message a producer sends is appended,
// whole and checksummed, to a file of that process's own in a directory
// beside the database (one write(2), no lock shared with other processes,
// no B-tree, no WAL frames) and moved into the database's queues by the
// next write transaction of any process on the file: a worker's fetch, a
// batch of acks, a count. The record is in the file before send returns,
// so it survives the producer's crash as a commit with synchronous=NORMAL
// does; a record cut short (the producer died inside write(2)) was never
// acknowledged and is dropped. How far each file was moved is kept in the
// database (dramatiq_spools) and advanced in the transaction that inserts
// the rows, so a record becomes a message exactly once.
//
// A file is deleted once all of it is in the database and no more can come:
// its owner appended a seal (at close, or when the file grew past a size and
// it went on in a new one), or its owner is known dead.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sqlite/database.hpp"
#include "sqlite/doorbell.hpp"
#include "sqlite/liveness.hpp"

namespace dramatiq::sqlite {

// One row of dramatiq_messages as a producer makes it.
struct MessageRow {
  std::string queue;
  std::int64_t rank = 0;
  std::int64_t due = 0;
  std::string message_id;
  std::string body;
};

// Inside a write transaction.
void insert_message_row(Database& db, const MessageRow& row);

// A payload framed as a spool record (length, CRC-32): what the writer
// appends, for tests and fuzzing that write records of their own.
std::string spool_record(std::string_view payload);

// The directory of `database_path`'s spool files.
std::string spool_directory(const std::string& database_path);

// This process's spool file. Thread-safe.
class SpoolWriter {
 public:
  SpoolWriter(std::string directory, Doorbell& doorbell, ProcessIdentity self);
  // Seals the file: whoever moves its last record deletes it.
  ~SpoolWriter();
  SpoolWriter(const SpoolWriter&) = delete;
  SpoolWriter& operator=(const SpoolWriter&) = delete;

  // Appends `rows` as one record: all of them become messages, or none.
  // Throws ConnectionClosed when the file cannot be written (nothing of the
  // record is left in it then).
  void append(const std::vector<MessageRow>& rows);

 private:
  void open_file();
  void write_record(const std::string& record);
  void seal_locked();

  const std::string directory_;
  Doorbell& doorbell_;
  const ProcessIdentity self_;
  mutable std::mutex mutex_;
  int fd_ = -1;
  std::string name_;
  std::int64_t size_ = 0;
};

// Moves spooled records into the database. One per connection; used by
// one thread at a time (the connection's).
class SpoolDrainer {
 public:
  SpoolDrainer(std::string directory, Doorbell& doorbell, std::string logger);
  ~SpoolDrainer();
  SpoolDrainer(const SpoolDrainer&) = delete;
  SpoolDrainer& operator=(const SpoolDrainer&) = delete;

  // What one transaction moved.
  struct Pass {
    bool ran = false;
    std::uint32_t appends = 0;      // the doorbell's append count it started from
    bool more = false;              // stopped at its budget with records left
    std::set<std::string> queues;   // queues that got messages
    std::vector<std::string> reports;  // to log once the transaction is over
  };

  // Whether a pass could find anything: a record was appended (by any
  // process) since the last committed pass, or that pass left some.
  bool pending() const;
  // Inside a write transaction: moves the records not yet moved (up to a
  // budget) and deletes the files that are done.
  Pass drain(Database& db);
  // After the pass's transaction committed.
  void committed(const Pass& pass);
  // After it failed: a transaction after a while tries again.
  void failed();
  bool last_failed() const { return failed_; }

 private:
  struct File {
    int fd = -1;
    std::optional<ProcessIdentity> owner;  // from its header
    std::int64_t alive_checked_ms = 0;     // when the owner was last seen alive
  };
  void forget(const std::string& name);
  void drain_file(Database& db, const std::string& name, File& file, Pass& pass, std::size_t& budget);

  const std::string directory_;
  Doorbell& doorbell_;
  const std::string logger_;
  const ProcessIdentity self_;
  std::map<std::string, File> files_;
  bool drained_once_ = false;
  std::uint32_t appends_seen_ = 0;
  bool more_ = false;
  bool failed_ = false;
  std::int64_t retry_at_ms_ = 0;
  std::int64_t retry_delay_ms_ = 0;
};

}  // namespace dramatiq::sqlite
