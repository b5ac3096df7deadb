#include "sqlite/spool.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <random>
#include <sstream>

#include "dramatiq/errors.hpp"

namespace dramatiq::sqlite {

std::int64_t now_ms();  // wall clock, in broker_context.cpp

namespace {

// File: a header (the magic line and the owner's identity, zero-padded),
// then records. Record: u32 payload length, u32 CRC-32 of the payload, the
// payload: one kind byte, then for kRows a u32 count and per row the queue,
// rank, due, message id and body (strings as u32 length + bytes). Native
// byte order: every reader is on this host.
constexpr std::size_t kHeaderSize = 512;
constexpr const char* kMagic = "dramatiq-spool 1";
constexpr std::uint8_t kRows = 1;
constexpr std::uint8_t kSeal = 2;
constexpr std::size_t kRecordHeader = 8;
// A record longer than this is not one we wrote (a message is at most
// 128 MiB; a group holds many).
constexpr std::uint32_t kMaxRecord = 1u << 30;
// A writer goes on in a new file once its file is this large, so drained
// files are deleted and none grows without bound.
constexpr std::int64_t kRollBytes = 16 << 20;
// One pass moves at most this many rows (or one record, if larger): the
// transaction holds every process's writers back meanwhile.
constexpr std::size_t kRowsPerPass = 4096;
// How much of a file one read takes.
constexpr std::size_t kReadChunk = 256 << 10;
// A live owner is looked up in /proc at most this often.
constexpr std::int64_t kAliveRecheckMs = 1000;
// A failed pass (the database refused the rows: disk full, ...) is tried
// again by a transaction after this long, doubling while it fails.
constexpr std::int64_t kFirstRetryMs = 100;
constexpr std::int64_t kMaxRetryMs = 5000;

const std::array<std::uint32_t, 256>& crc_table() {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

std::uint32_t crc32(std::string_view bytes) {
  const auto& table = crc_table();
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

template <typename T>
void put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

void put_string(std::string& out, std::string_view text) {
  put(out, static_cast<std::uint32_t>(text.size()));
  out.append(text);
}

std::string frame(const std::string& payload) {
  std::string record;
  record.reserve(kRecordHeader + payload.size());
  put(record, static_cast<std::uint32_t>(payload.size()));
  put(record, crc32(payload));
  record.append(payload);
  return record;
}

// Reads fields of a payload; any read past its end makes it malformed.
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view bytes) : bytes_(bytes) {}
  template <typename T>
  T get() {
    T value{};
    if (bytes_.size() - pos_ < sizeof value) throw std::runtime_error("truncated field");
    std::memcpy(&value, bytes_.data() + pos_, sizeof value);
    pos_ += sizeof value;
    return value;
  }
  std::string get_string() {
    auto size = get<std::uint32_t>();
    if (bytes_.size() - pos_ < size) throw std::runtime_error("truncated string");
    std::string text(bytes_.substr(pos_, size));
    pos_ += size;
    return text;
  }
  bool at_end() const { return pos_ == bytes_.size(); }

 private:
  std::string_view bytes_;
  std::size_t pos_ = 0;
};

std::vector<MessageRow> parse_rows(PayloadReader& in) {
  auto count = in.get<std::uint32_t>();
  std::vector<MessageRow> rows;
  for (std::uint32_t i = 0; i < count; ++i) {
    MessageRow row;
    row.queue = in.get_string();
    row.rank = in.get<std::int64_t>();
    row.due = in.get<std::int64_t>();
    row.message_id = in.get_string();
    row.body = in.get_string();
    rows.push_back(std::move(row));
  }
  if (!in.at_end()) throw std::runtime_error("trailing bytes");
  return rows;
}

std::string header_of(const ProcessIdentity& self) {
  std::ostringstream text;
  text << kMagic << '\n' << self.pid << '\n' << self.started << '\n' << self.boot_id << '\n'
       << self.pid_namespace << '\n' << self.hostname << '\n';
  std::string header = text.str();
  header.resize(kHeaderSize, '\0');
  return header;
}

std::optional<ProcessIdentity> parse_header(const std::string& header) {
  std::istringstream text(header.substr(0, header.find('\0')));
  std::string magic, pid, started;
  ProcessIdentity owner;
  if (!std::getline(text, magic) || magic != kMagic || !std::getline(text, pid) ||
      !std::getline(text, started) || !std::getline(text, owner.boot_id) ||
      !std::getline(text, owner.pid_namespace) || !std::getline(text, owner.hostname)) {
    return std::nullopt;
  }
  try {
    owner.pid = std::stoll(pid);
    owner.started = std::stoll(started);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return owner;
}

// Reads `size` bytes at `offset`; false if the file holds fewer.
bool read_at(int fd, std::int64_t offset, std::size_t size, std::string& out) {
  out.resize(size);
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, out.data() + done, size - done, offset + static_cast<std::int64_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      out.resize(done);
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::string random_name() {
  std::random_device random;
  std::ostringstream name;
  name << std::hex << ::getpid() << '-' << random() << random();
  return name.str();
}

bool same_process(const ProcessIdentity& a, const ProcessIdentity& b) {
  return a.pid == b.pid && a.started == b.started && a.boot_id == b.boot_id &&
         a.pid_namespace == b.pid_namespace && a.hostname == b.hostname;
}

}  // namespace

void insert_message_row(Database& db, const MessageRow& row) {
  db.query("INSERT INTO dramatiq_messages (queue, rank, due, message_id, body) VALUES (?, ?, ?, ?, ?)")
      .bind(1, row.queue)
      .bind(2, row.rank)
      .bind(3, row.due)
      .bind(4, row.message_id)
      .bind_blob(5, row.body)
      .run();
}

std::string spool_record(std::string_view payload) { return frame(std::string(payload)); }

std::string spool_directory(const std::string& database_path) { return database_path + "-spool"; }

// ---------------------------------------------------------------------------
// Writer

SpoolWriter::SpoolWriter(std::string directory, Doorbell& doorbell, ProcessIdentity self)
    : directory_(std::move(directory)), doorbell_(doorbell), self_(std::move(self)) {}

SpoolWriter::~SpoolWriter() {
  std::lock_guard lock(mutex_);
  try {
    seal_locked();
  } catch (const std::exception&) {
    // Unsealed, the file is deleted once its owner is seen dead.
  }
  if (fd_ >= 0) ::close(fd_);
}

void SpoolWriter::open_file() {
  if (::mkdir(directory_.c_str(), 0777) != 0 && errno != EEXIST) {
    throw ConnectionClosed("Cannot create the embedded broker's spool directory " + directory_ + ": " +
                           std::strerror(errno));
  }
  // Written under a temporary name and renamed: a drainer never sees a
  // file without its header.
  std::string name = random_name() + ".spool";
  std::string temporary = directory_ + "/." + name + ".tmp";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0666);
  if (fd < 0) {
    throw ConnectionClosed("Cannot create a spool file in " + directory_ + ": " + std::strerror(errno));
  }
  std::string header = header_of(self_);
  if (::write(fd, header.data(), header.size()) != static_cast<ssize_t>(header.size()) ||
      ::rename(temporary.c_str(), (directory_ + "/" + name).c_str()) != 0) {
    int error = errno;
    ::close(fd);
    ::unlink(temporary.c_str());
    throw ConnectionClosed("Cannot write a spool file in " + directory_ + ": " + std::strerror(error));
  }
  fd_ = fd;
  name_ = name;
  size_ = static_cast<std::int64_t>(kHeaderSize);
}

void SpoolWriter::write_record(const std::string& record) {
  std::size_t done = 0;
  while (done < record.size()) {
    ssize_t n = ::write(fd_, record.data() + done, record.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int error = n < 0 ? errno : ENOSPC;
      // Take back what part of the record was written, so the file goes
      // on with whole records; if that fails too, leave the file (its
      // records before this one are good) for a new one.
      if (::ftruncate(fd_, size_) != 0) {
        ::close(fd_);
        fd_ = -1;
      }
      throw ConnectionClosed("Cannot append to the embedded broker's spool file " + directory_ + "/" + name_ +
                             ": " + std::strerror(error));
    }
    done += static_cast<std::size_t>(n);
  }
  size_ += static_cast<std::int64_t>(record.size());
}

void SpoolWriter::append(const std::vector<MessageRow>& rows) {
  std::string payload;
  std::size_t bytes = 1 + 4;
  for (const auto& row : rows) bytes += 4 + row.queue.size() + 16 + 4 + row.message_id.size() + 4 + row.body.size();
  payload.reserve(bytes);
  put(payload, kRows);
  put(payload, static_cast<std::uint32_t>(rows.size()));
  for (const auto& row : rows) {
    put_string(payload, row.queue);
    put(payload, row.rank);
    put(payload, row.due);
    put_string(payload, row.message_id);
    put_string(payload, row.body);
  }
  if (payload.size() > kMaxRecord) throw ConnectionClosed("A batch of messages too large to send at once");
  std::string record = frame(payload);
  {
    std::lock_guard lock(mutex_);
    if (fd_ < 0) open_file();
    write_record(record);
    if (size_ >= kRollBytes) seal_locked();
  }
  doorbell_.count_spool_append();
}

void SpoolWriter::seal_locked() {
  if (fd_ < 0) return;
  std::string payload;
  put(payload, kSeal);
  write_record(frame(payload));
  ::close(fd_);
  fd_ = -1;
  doorbell_.count_spool_append();
}

// ---------------------------------------------------------------------------
// Drainer

SpoolDrainer::SpoolDrainer(std::string directory, Doorbell& doorbell, std::string logger)
    : directory_(std::move(directory)), doorbell_(doorbell), logger_(std::move(logger)),
      self_(ProcessIdentity::current()) {}

SpoolDrainer::~SpoolDrainer() {
  for (auto& [name, file] : files_) ::close(file.fd);
}

bool SpoolDrainer::pending() const {
  if (failed_) return now_ms() >= retry_at_ms_;
  return !drained_once_ || more_ || doorbell_.spool_appends() != appends_seen_;
}

void SpoolDrainer::forget(const std::string& name) {
  auto it = files_.find(name);
  if (it == files_.end()) return;
  ::close(it->second.fd);
  files_.erase(it);
}

SpoolDrainer::Pass SpoolDrainer::drain(Database& db) {
  Pass pass;
  pass.ran = true;
  // Read before looking: an append after this is seen by the next pass.
  pass.appends = doorbell_.spool_appends();

  std::set<std::string> present;
  if (DIR* dir = ::opendir(directory_.c_str())) {
    while (dirent* entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      if (name.size() > 6 && name[0] != '.' && name.compare(name.size() - 6, 6, ".spool") == 0) {
        present.insert(name);
      }
    }
    ::closedir(dir);
  }
  for (auto it = files_.begin(); it != files_.end();) {
    if (present.count(it->first)) {
      ++it;
    } else {
      ::close(it->second.fd);
      it = files_.erase(it);
    }
  }
  // Rows of files deleted by a pass that did not commit its row delete.
  {
    std::vector<std::string> orphans;
    auto rows = db.query("SELECT name FROM dramatiq_spools");
    while (rows.step()) {
      std::string name = rows.text(0);
      if (!present.count(name)) orphans.push_back(name);
    }
    for (const auto& name : orphans) db.query("DELETE FROM dramatiq_spools WHERE name = ?").bind(1, name).run();
  }

  std::size_t budget = kRowsPerPass;
  for (const auto& name : present) {
    if (budget == 0) {
      pass.more = true;
      break;
    }
    auto it = files_.find(name);
    if (it == files_.end()) {
      int fd = ::open((directory_ + "/" + name).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;  // deleted meanwhile
      File file;
      file.fd = fd;
      std::string header;
      if (read_at(fd, 0, kHeaderSize, header)) file.owner = parse_header(header);
      it = files_.emplace(name, file).first;
    }
    drain_file(db, name, it->second, pass, budget);
  }
  return pass;
}

void SpoolDrainer::drain_file(Database& db, const std::string& name, File& file, Pass& pass,
                              std::size_t& budget) {
  struct stat info{};
  if (::fstat(file.fd, &info) != 0 || info.st_nlink == 0) {
    forget(name);  // deleted by another process's committed pass
    return;
  }
  const std::int64_t size = info.st_size;
  std::int64_t drained = static_cast<std::int64_t>(kHeaderSize);
  bool sealed = false;
  bool known = false;
  {
    auto row = db.query("SELECT drained, sealed FROM dramatiq_spools WHERE name = ?");
    row.bind(1, name);
    if (row.step()) {
      drained = row.integer(0);
      sealed = row.integer(1) != 0;
      known = true;
    }
  }
  const std::string path = directory_ + "/" + name;
  auto owner_dead = [&] {
    if (!file.owner) return false;  // a header we cannot read: keep the file
    if (same_process(*file.owner, self_)) return false;
    std::int64_t now = now_ms();
    if (file.alive_checked_ms != 0 && now - file.alive_checked_ms < kAliveRecheckMs) return false;
    if (liveness(*file.owner, self_) == Liveness::Dead) return true;
    file.alive_checked_ms = now;
    return false;
  };
  auto delete_file = [&] {
    // Only files whose records an earlier, committed pass moved: were this
    // transaction undone, nothing it would undo came from this file.
    ::unlink(path.c_str());
    db.query("DELETE FROM dramatiq_spools WHERE name = ?").bind(1, name).run();
    forget(name);
  };

  if (drained >= size) {
    if (sealed || owner_dead()) delete_file();
    return;
  }

  std::int64_t pos = drained;
  bool cut_short = false;  // stopped at bytes that are not a whole record
  std::string chunk;
  std::int64_t chunk_start = pos;
  while (pos < size && budget > 0 && !sealed) {
    // The record header and payload, from the chunk when it holds them.
    auto available = [&](std::int64_t at, std::size_t n) {
      return at >= chunk_start && at + static_cast<std::int64_t>(n) <= chunk_start + static_cast<std::int64_t>(chunk.size());
    };
    if (!available(pos, kRecordHeader)) {
      chunk_start = pos;
      read_at(file.fd, pos, static_cast<std::size_t>(std::min<std::int64_t>(size - pos, kReadChunk)), chunk);
      if (!available(pos, kRecordHeader)) {
        cut_short = true;
        break;
      }
    }
    std::uint32_t length = 0, checksum = 0;
    std::memcpy(&length, chunk.data() + (pos - chunk_start), 4);
    std::memcpy(&checksum, chunk.data() + (pos - chunk_start) + 4, 4);
    if (length > kMaxRecord || length > static_cast<std::uint64_t>(size - pos) - kRecordHeader) {
      cut_short = true;  // more than the file holds: not whole (yet)
      break;
    }
    if (!available(pos + kRecordHeader, length)) {
      chunk_start = pos;
      read_at(file.fd, pos,
              static_cast<std::size_t>(std::min<std::int64_t>(
                  size - pos, static_cast<std::int64_t>(kRecordHeader + std::max<std::size_t>(length, kReadChunk)))),
              chunk);
      if (!available(pos + kRecordHeader, length)) {
        cut_short = true;
        break;
      }
    }
    std::string_view payload(chunk.data() + (pos + kRecordHeader - chunk_start), length);
    if (crc32(payload) != checksum) {
      cut_short = true;
      break;
    }
    pos += static_cast<std::int64_t>(kRecordHeader + length);
    try {
      PayloadReader in(payload);
      auto kind = in.get<std::uint8_t>();
      if (kind == kSeal) {
        sealed = true;
      } else if (kind == kRows) {
        for (const MessageRow& row : parse_rows(in)) {
          insert_message_row(db, row);
          pass.queues.insert(row.queue);
          if (budget > 0) --budget;
        }
      } else {
        throw std::runtime_error("unknown kind " + std::to_string(kind));
      }
    } catch (const BrokerConnectionError&) {
      throw;
    } catch (const std::exception& e) {
      pass.reports.push_back("Skipped a malformed record in spool file " + path + " (" + e.what() + ").");
    }
  }
  if (pos != drained || !known) {
    db.query("INSERT OR REPLACE INTO dramatiq_spools (name, drained, sealed) VALUES (?, ?, ?)")
        .bind(1, name)
        .bind(2, pos)
        .bind(3, static_cast<std::int64_t>(sealed ? 1 : 0))
        .run();
  }
  if (budget == 0 && pos < size && !sealed) pass.more = true;
  // A file done now (sealed, or all moved and its owner dead) is deleted by
  // the next pass, once this one committed; one that ends in a cut-short
  // record after records this pass moved is looked at again (its owner may
  // be dead).
  if (sealed || (cut_short && pos != drained) || (pos != drained && pos >= size && owner_dead())) {
    pass.more = true;
  }
  if (cut_short && pos == drained && owner_dead()) {
    pass.reports.push_back("Dropped " + std::to_string(size - pos) + " bytes at the end of spool file " + path +
                           ": a send its producer (pid " + std::to_string(file.owner->pid) +
                           ") died inside, before it returned.");
    delete_file();
  }
}

void SpoolDrainer::committed(const Pass& pass) {
  if (!pass.ran) return;
  drained_once_ = true;
  appends_seen_ = pass.appends;
  more_ = pass.more;
  failed_ = false;
  retry_delay_ms_ = 0;
}

void SpoolDrainer::failed() {
  failed_ = true;
  retry_delay_ms_ = retry_delay_ms_ == 0 ? kFirstRetryMs : std::min(retry_delay_ms_ * 2, kMaxRetryMs);
  retry_at_ms_ = now_ms() + retry_delay_ms_;
}

}  // namespace dramatiq::sqlite
