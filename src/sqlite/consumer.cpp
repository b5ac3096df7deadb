#include "sqlite/consumer.hpp"

#include <algorithm>
#include <thread>

#include "core/saturating.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/log.hpp"

namespace dramatiq::sqlite {

namespace {
using Clock = std::chrono::steady_clock;
constexpr auto kFirstRetryDelay = std::chrono::milliseconds(100);
constexpr auto kMaxRetryDelay = std::chrono::seconds(5);
constexpr auto kSettleOnCloseTimeout = std::chrono::seconds(5);
}  // namespace

SQLiteConsumer::SQLiteConsumer(BrokerContext& context, std::string queue, int prefetch)
    : context_(context), queue_(std::move(queue)), prefetch_(std::max(1, prefetch)),
      logger_("dramatiq.broker.SQLiteBroker.Consumer(" + queue_ + ")") {
  context_.holder();
  context_.settler().consumer_opened();
}

SQLiteConsumer::~SQLiteConsumer() {
  try {
    close();
  } catch (const std::exception& e) {
    log::write(log::Level::Warning, logger_, std::string("Error closing the consumer: ") + e.what());
  }
}

std::shared_ptr<MessageProxy> SQLiteConsumer::next(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  Store& store = context_.store();
  std::unique_lock lock(mutex_);
  while (true) {
    if (!buffer_.empty()) {
      Fetched fetched = std::move(buffer_.front());
      buffer_.pop_front();
      buffered_ = buffer_.size();
      lock.unlock();
      auto proxy = decode_delivery(queue_, std::move(fetched.data), std::to_string(fetched.id));
      unsettled_ += 1;
      return proxy;
    }
    if (closed_) return nullptr;
    // The ticket before the look: a commit after it rings past the ticket.
    std::uint32_t ticket = store.doorbell().ticket(queue_);
    int wanted = std::min(prefetch_ - unsettled_.load(), kMaxFetch);
    try {
      if (wanted > 0 && fetch(wanted) > 0) {
        retry_delay_ = std::chrono::milliseconds(0);
        continue;
      }
      retry_delay_ = std::chrono::milliseconds(0);
    } catch (const BrokerConnectionError& e) {
      retry_delay_ = retry_delay_.count() == 0 ? std::chrono::milliseconds(kFirstRetryDelay)
                                               : std::min<std::chrono::milliseconds>(retry_delay_ * 2, kMaxRetryDelay);
      log::write(log::Level::Error, logger_,
                 std::string("Could not fetch messages: ") + e.what() + ". Retrying in " +
                     std::to_string(retry_delay_.count()) + " ms.");
      lock.unlock();
      std::this_thread::sleep_until(std::min(deadline, Clock::now() + retry_delay_));
      return nullptr;
    }
    auto now = Clock::now();
    if (now >= deadline || interrupted_.exchange(false)) return nullptr;
    auto wake = deadline;
    if (next_due_) {
      auto due_in = std::chrono::milliseconds(std::max<std::int64_t>(0, saturating_sub(*next_due_, now_ms())));
      wake = std::min(wake, now + due_in);
    }
    lock.unlock();
    store.doorbell().wait(queue_, ticket, wake);
    if (interrupted_.exchange(false)) return nullptr;
    lock.lock();
  }
}

void SQLiteConsumer::interrupt_wait() {
  interrupted_ = true;
  context_.store().doorbell().ring(queue_);
}

std::size_t SQLiteConsumer::fetch(int wanted) {
  SettlementQueue::Pending settled = context_.settler().take(queue_);
  std::int64_t holder = context_.holder();
  struct Row {
    std::int64_t rank, due, id;
    std::string data;
  };
  std::vector<Row> rows;
  std::optional<std::int64_t> next_due;
  try {
    context_.store().write([&](Database& db) {
      rows.clear();
      next_due.reset();
      context_.settle(db, holder, queue_, settled);
      std::int64_t now = now_ms();
      {
        auto lease = db.query(
            "UPDATE dramatiq_messages SET holder = ?1 WHERE id IN (SELECT id FROM dramatiq_messages "
            "WHERE queue = ?2 AND holder IS NULL AND due <= ?3 ORDER BY rank, due, id LIMIT ?4) "
            "RETURNING rank, due, id, body");
        lease.bind(1, holder).bind(2, queue_).bind(3, now).bind(4, static_cast<std::int64_t>(wanted));
        while (lease.step()) rows.push_back(Row{lease.integer(0), lease.integer(1), lease.integer(2), lease.blob(3)});
      }
      if (rows.empty()) {
        auto due = db.query("SELECT min(due) FROM dramatiq_messages WHERE queue = ? AND holder IS NULL");
        due.bind(1, queue_);
        if (due.step() && !due.is_null(0)) next_due = due.integer(0);
      }
    });
  } catch (...) {
    context_.settler().give_back(queue_, std::move(settled));
    throw;
  }
  context_.settler().sent(queue_, settled);
  next_due_ = next_due;
  // RETURNING gives rows in no particular order: restore the queue's.
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return std::tie(a.rank, a.due, a.id) < std::tie(b.rank, b.due, b.id);
  });
  for (auto& row : rows) buffer_.push_back(Fetched{row.id, std::move(row.data)});
  buffered_ = buffer_.size();
  return rows.size();
}

void SQLiteConsumer::ack(MessageProxy& message) {
  context_.settler().ack(queue_, message.receipt);
  unsettled_ -= 1;
}

void SQLiteConsumer::nack(MessageProxy& message) {
  if (message.failure) {
    context_.note_failure(message.receipt, *message.failure);
  } else if (message.decode_error) {
    Failure failure;
    failure.type_name = "DecodeError";
    failure.message = *message.decode_error;
    context_.note_failure(message.receipt, failure);
  }
  context_.settler().nack(queue_, message.receipt);
  unsettled_ -= 1;
}

void SQLiteConsumer::requeue(const std::vector<std::shared_ptr<MessageProxy>>& messages) {
  std::vector<std::int64_t> ids;
  for (const auto& message : messages) ids.push_back(std::stoll(message->receipt));
  unsettled_ -= static_cast<int>(messages.size());
  requeue_ids(ids);
}

void SQLiteConsumer::requeue_ids(const std::vector<std::int64_t>& ids) {
  if (ids.empty()) return;
  std::int64_t holder = context_.holder();
  try {
    context_.store().write([&](Database& db) {
      for (std::int64_t id : ids) {
        db.query("UPDATE dramatiq_messages SET holder = NULL WHERE id = ? AND holder = ?")
            .bind(1, id)
            .bind(2, holder)
            .run();
      }
    });
    context_.store().doorbell().ring(queue_);
  } catch (const std::exception& e) {
    log::write(log::Level::Warning, logger_,
               "Could not requeue " + std::to_string(ids.size()) + " message(s) on queue '" + queue_ +
                   "': " + e.what() + ". They return to the queue once this process is seen dead.");
  }
}

void SQLiteConsumer::close() {
  std::vector<std::int64_t> unstarted;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
    for (auto& fetched : buffer_) unstarted.push_back(fetched.id);
    buffer_.clear();
    buffered_ = 0;
  }
  requeue_ids(unstarted);
  context_.settler().flush(kSettleOnCloseTimeout);
  context_.settler().consumer_closed();
}

}  // namespace dramatiq::sqlite
