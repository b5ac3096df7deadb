#include "redis/reply_reader.hpp"

#include <hiredis/hiredis.h>

#include "dramatiq/errors.hpp"

namespace dramatiq::redis {

namespace {

Reply convert(const redisReply* r) {
  Reply reply;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      reply.type = Reply::Type::String;
      reply.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      reply.type = Reply::Type::Status;
      reply.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      reply.type = Reply::Type::Error;
      reply.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      reply.type = Reply::Type::Integer;
      reply.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      reply.type = Reply::Type::Array;
      reply.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) reply.elements.push_back(convert(r->element[i]));
      break;
    default:
      reply.type = Reply::Type::Nil;
  }
  return reply;
}

void* (*default_create_array)(const redisReadTask*, int) = nullptr;

// hiredis's own array constructor, after the element count is checked; a
// refused count fails the read as out of memory, and the reader says why.
void* create_checked_array(const redisReadTask* task, int elements) {
  if (elements > kMaxReplyElements) {
    if (task->privdata) *static_cast<long long*>(task->privdata) = elements;
    return nullptr;
  }
  return default_create_array(task, elements);
}

}  // namespace

void ReplyReader::Deleter::operator()(redisReader* reader) const { redisReaderFree(reader); }

ReplyReader::ReplyReader() : reader_(redisReaderCreate()) {
  if (!reader_) throw std::bad_alloc();
  static redisReplyObjectFunctions checked = [](const redisReplyObjectFunctions& defaults) {
    redisReplyObjectFunctions functions = defaults;
    default_create_array = functions.createArray;
    functions.createArray = &create_checked_array;
    return functions;
  }(*reader_->fn);
  reader_->fn = &checked;
  reader_->privdata = &refused_elements_;
}

void ReplyReader::feed(const char* data, std::size_t size) {
  if (redisReaderFeed(reader_.get(), data, size) != REDIS_OK) {
    throw ReplyProtocolError(std::string("protocol error: ") + reader_->errstr);
  }
}

std::optional<Reply> ReplyReader::next() {
  void* raw = nullptr;
  if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK) {
    if (refused_elements_ > 0) {
      throw ReplyProtocolError("protocol error: an array of " + std::to_string(refused_elements_) +
                               " elements, more than the " + std::to_string(kMaxReplyElements) +
                               " a reply may hold");
    }
    throw ReplyProtocolError(std::string("protocol error: ") + reader_->errstr);
  }
  if (!raw) return std::nullopt;
  std::unique_ptr<redisReply, void (*)(void*)> owned(static_cast<redisReply*>(raw), freeReplyObject);
  return convert(owned.get());
}

namespace {
constexpr const char* kNotPairs =
    "Redis answered a fetch with something other than (id, message) pairs; reconnecting";
}  // namespace

FetchReply split_fetch_reply(Reply reply) {
  if (reply.type != Reply::Type::Array || reply.elements.size() % 2 != 0) {
    throw ConnectionClosed(kNotPairs);
  }
  FetchReply out;
  out.messages.reserve(reply.elements.size() / 2);
  for (std::size_t i = 0; i < reply.elements.size(); i += 2) {
    Reply& id = reply.elements[i];
    Reply& data = reply.elements[i + 1];
    if (id.type != Reply::Type::String || (data.type != Reply::Type::String && !data.is_nil())) {
      throw ConnectionClosed(kNotPairs);
    }
    if (data.is_nil()) {
      out.ids_without_data.push_back(std::move(id.str));
    } else {
      out.messages.push_back(FetchedMessage{std::move(id.str), std::move(data.str)});
    }
  }
  return out;
}

}  // namespace dramatiq::redis
