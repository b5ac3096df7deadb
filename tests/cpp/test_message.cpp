// Message, JsonEncoder and the queue-name helpers, as a C++ user of the
// engine sees them. Expected wire bytes follow upstream Dramatiq's
// JSONEncoder (json.dumps with separators=(",", ":"), ensure_ascii).
#include "dramatiq/actor.hpp"
#include "dramatiq/encoder.hpp"
#include "dramatiq/errors.hpp"
#include "dramatiq/json.hpp"
#include "dramatiq/message.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace dramatiq;
using namespace dramatiq::testing;

namespace {

// The fields of a well-formed message dictionary, in wire order; tests
// then break one field at a time.
Value valid_fields() {
  return Value(Object{{"queue_name", "default"},
                      {"actor_name", "add"},
                      {"args", Value(Array{1, 2})},
                      {"kwargs", Value::object()},
                      {"options", Value::object()},
                      {"message_id", "id"},
                      {"message_timestamp", 5}});
}

// Message::from_value must throw DecodeError whose text names `field`.
void expect_decode_error_naming(Value fields, const std::string& field) {
  try {
    Message::from_value(std::move(fields));
    ADD_FAILURE() << "expected DecodeError naming '" << field << "'";
  } catch (const DecodeError& e) {
    EXPECT_NE(std::string(e.what()).find("'" + field + "'"), std::string::npos)
        << "error does not name the field: " << e.what();
  }
}

bool is_lower_hex(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
}

// Checks the canonical 8-4-4-4-12 lowercase form of a version 4, RFC 4122
// variant UUID (what Python's str(uuid.uuid4()) produces).
void expect_uuid4(const std::string& id) {
  ASSERT_EQ(id.size(), 36u) << id;
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      EXPECT_EQ(id[i], '-') << id;
    } else {
      EXPECT_TRUE(is_lower_hex(id[i])) << id << " at " << i;
    }
  }
  EXPECT_EQ(id[14], '4') << "version nibble: " << id;
  EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << "variant nibble: " << id;
}

}  // namespace

// ------------------------------------------------------------ Message::create

TEST(MessageCreate, FillsFieldsWithFreshIdAndCurrentTimestamp) {
  std::int64_t before = current_millis();
  Message m = Message::create("q", "add", Value(Array{1, 2}), Value(Object{{"x", 3}}),
                              Value(Object{{"max_retries", 1}}));
  std::int64_t after = current_millis();

  EXPECT_EQ(m.queue_name, "q");
  EXPECT_EQ(m.actor_name, "add");
  EXPECT_EQ(m.args, Value(Array{1, 2}));
  EXPECT_EQ(m.kwargs, Value(Object{{"x", 3}}));
  EXPECT_EQ(m.options, Value(Object{{"max_retries", 1}}));
  expect_uuid4(m.message_id);
  // The timestamp is wall-clock milliseconds taken during create().
  EXPECT_GE(m.message_timestamp, before);
  EXPECT_LE(m.message_timestamp, after);
}

TEST(MessageCreate, IdsAreUuid4AndUnique) {
  // Random ids: a generator stuck on one value, or bits not masked into the
  // version/variant positions, would show up within a few hundred draws.
  std::set<std::string> seen;
  for (int i = 0; i < 500; ++i) {
    std::string id = generate_message_id();
    expect_uuid4(id);
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 500u);
  EXPECT_NE(Message::create("q", "a", Value::array(), Value::object(), Value::object()).message_id,
            Message::create("q", "a", Value::array(), Value::object(), Value::object()).message_id);
}

TEST(MessageCreate, IdsAreUniqueAcrossThreads) {
  // generate_message_id keeps one generator per thread; threads seeded
  // identically would produce colliding ids.
  std::vector<std::vector<std::string>> per_thread(4);
  std::vector<std::thread> threads;
  for (auto& ids : per_thread) {
    threads.emplace_back([&ids] {
      for (int i = 0; i < 200; ++i) ids.push_back(generate_message_id());
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> all;
  for (auto& ids : per_thread) all.insert(ids.begin(), ids.end());
  EXPECT_EQ(all.size(), 800u);
}

TEST(MessageCreate, ForkedChildDoesNotRepeatItsParentsIds) {
  // A process that forks (a producer using multiprocessing, the worker
  // command) must not have parent and child draw the same ids.
  generate_message_id();  // this thread's generator exists before the fork
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::string id = generate_message_id();
    ssize_t written = write(fds[1], id.data(), id.size());
    _exit(written == static_cast<ssize_t>(id.size()) ? 0 : 1);
  }
  close(fds[1]);
  std::string parent_id = generate_message_id();
  char buffer[64] = {};
  ssize_t got = read(fds[0], buffer, sizeof buffer);
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_EQ(got, 36);
  EXPECT_NE(std::string(buffer, 36), parent_id);
}

// ---------------------------------------------------------- to_value / from_value

TEST(MessageToValue, KeysInWireOrder) {
  Message m;
  m.queue_name = "default";
  m.actor_name = "add";
  m.args = Value(Array{1, 2});
  m.message_id = "id";
  m.message_timestamp = 5;
  Value v = m.to_value();
  ASSERT_TRUE(v.is_object());
  std::vector<std::string> keys;
  for (const auto& [key, value] : v.as_object()) keys.push_back(key);
  // Value's == ignores key order (like a dict), so the order is checked
  // on the key list itself.
  EXPECT_EQ(keys, (std::vector<std::string>{"queue_name", "actor_name", "args", "kwargs", "options",
                                            "message_id", "message_timestamp"}));
  EXPECT_EQ(*v.find("queue_name"), Value("default"));
  EXPECT_EQ(*v.find("actor_name"), Value("add"));
  EXPECT_EQ(*v.find("args"), Value(Array{1, 2}));
  EXPECT_EQ(*v.find("kwargs"), Value::object());
  EXPECT_EQ(*v.find("options"), Value::object());
  EXPECT_EQ(*v.find("message_id"), Value("id"));
  EXPECT_EQ(*v.find("message_timestamp"), Value(5));
  EXPECT_TRUE(v.find("message_timestamp")->is_int());
}

TEST(MessageFromValue, RoundTripsToValue) {
  Message m = Message::create("q", "act", Value(Array{"a", 1.5, nullptr}),
                              Value(Object{{"k", Value(Array{true})}}),
                              Value(Object{{"eta", 123}, {"custom", "kept"}}));
  Message back = Message::from_value(m.to_value());
  EXPECT_EQ(back.queue_name, m.queue_name);
  EXPECT_EQ(back.actor_name, m.actor_name);
  EXPECT_EQ(back.args, m.args);
  EXPECT_EQ(back.kwargs, m.kwargs);
  EXPECT_EQ(back.options, m.options);
  EXPECT_EQ(back.message_id, m.message_id);
  EXPECT_EQ(back.message_timestamp, m.message_timestamp);
}

TEST(MessageFromValue, RejectsNonObjects) {
  for (Value v : {Value(), Value(1), Value("text"), Value(Array{1}), Value(true)}) {
    EXPECT_THROW(Message::from_value(v), DecodeError) << v.type_name();
  }
}

TEST(MessageFromValue, MissingRequiredFieldIsNamed) {
  for (const char* field : {"queue_name", "actor_name", "args", "kwargs", "options"}) {
    Value fields = valid_fields();
    ASSERT_TRUE(fields.erase(field));
    expect_decode_error_naming(std::move(fields), field);
  }
}

TEST(MessageFromValue, WrongFieldTypeIsNamed) {
  struct Case {
    const char* field;
    Value bad;
  };
  std::vector<Case> cases = {
      {"queue_name", Value(1)},
      {"actor_name", Value(Array{})},
      {"args", Value(Object{})},  // must be a list
      {"args", Value("1,2")},
      {"kwargs", Value(Array{})},  // must be a dict
      {"options", Value("x")},
      {"options", Value()},
      {"message_id", Value(7)},
      {"message_timestamp", Value("5")},
  };
  for (auto& c : cases) {
    Value fields = valid_fields();
    fields.set(c.field, c.bad);
    expect_decode_error_naming(std::move(fields), c.field);
  }
}

TEST(MessageFromValue, MessageIdAndTimestampAreOptional) {
  // Upstream's Message defaults message_id and message_timestamp, so a
  // producer may leave them out.
  Value fields = valid_fields();
  fields.erase("message_id");
  fields.erase("message_timestamp");
  std::int64_t before = current_millis();
  Message m = Message::from_value(fields);
  std::int64_t after = current_millis();
  expect_uuid4(m.message_id);
  EXPECT_GE(m.message_timestamp, before);
  EXPECT_LE(m.message_timestamp, after);
}

TEST(MessageFromValue, KeepsUnknownOptions) {
  Value fields = valid_fields();
  fields.set("options", Value(Object{{"zeta", 1}, {"alpha", Value(Object{{"n", nullptr}})}}));
  Message m = Message::from_value(fields);
  ASSERT_EQ(m.options.as_object().size(), 2u);
  EXPECT_EQ(m.options.as_object()[0].first, "zeta");
  EXPECT_EQ(m.options.as_object()[1].first, "alpha");
}

// ---------------------------------------------------------------- JsonEncoder

namespace {
Message known_message() {
  Message m;
  m.queue_name = "default";
  m.actor_name = "add";
  m.args = Value(Array{1, 2});
  m.message_id = "id";
  m.message_timestamp = 5;
  return m;
}
}  // namespace

TEST(MessageJsonEncoder, EncodesKnownMessageByteExact) {
  JsonEncoder encoder;
  EXPECT_EQ(encoder.encode(known_message()),
            R"({"queue_name":"default","actor_name":"add","args":[1,2],"kwargs":{},"options":{},)"
            R"("message_id":"id","message_timestamp":5})");
}

TEST(MessageJsonEncoder, EncodesNestedValuesAndNonAsciiLikePython) {
  Message m = known_message();
  m.args = Value(Array{"\xc3\xa9", 1.5, nullptr, true});  // "é"
  m.kwargs = Value(Object{{"b", 1}, {"a", Value(Array{})}});  // insertion order kept
  m.options = Value(Object{{"eta", std::int64_t{1700000000000}}, {"max_retries", 0}});
  m.message_timestamp = 1700000000123;
  JsonEncoder encoder;
  EXPECT_EQ(encoder.encode(m),
            R"({"queue_name":"default","actor_name":"add","args":["\u00e9",1.5,null,true],)"
            R"("kwargs":{"b":1,"a":[]},"options":{"eta":1700000000000,"max_retries":0},)"
            R"("message_id":"id","message_timestamp":1700000000123})");
}

TEST(MessageJsonEncoder, EncodeMatchesWriteJsonOfToValue) {
  // The encoder writes fields by hand for speed; it must agree with the
  // generic path through to_value().
  Message m = Message::create("q.DQ", "act", Value(Array{"x\n\"y\"", -3, 0.1}),
                              Value(Object{{"k", Value(Object{{"n", 1}})}}),
                              Value(Object{{"eta", 99}}));
  EXPECT_EQ(JsonEncoder().encode(m), to_json(m.to_value()));
}

TEST(MessageJsonEncoder, DecodeRoundTrips) {
  JsonEncoder encoder;
  std::string wire =
      R"({"queue_name":"default","actor_name":"add","args":[1,2],"kwargs":{},"options":{},)"
      R"("message_id":"id","message_timestamp":5})";
  Message m = encoder.decode(wire);
  EXPECT_EQ(m.queue_name, "default");
  EXPECT_EQ(m.actor_name, "add");
  EXPECT_EQ(m.args, Value(Array{1, 2}));
  EXPECT_EQ(m.kwargs, Value::object());
  EXPECT_EQ(m.options, Value::object());
  EXPECT_EQ(m.message_id, "id");
  EXPECT_EQ(m.message_timestamp, 5);
  EXPECT_EQ(encoder.encode(m), wire);

  Message fresh = Message::create("q", "act", Value(Array{"\xe2\x82\xac", 2}),
                                  Value(Object{{"x", Value(Array{1, Value(Object{})})}}),
                                  Value(Object{{"retries", 3}}));
  Message back = encoder.decode(encoder.encode(fresh));
  EXPECT_EQ(back.args, fresh.args);
  EXPECT_EQ(back.kwargs, fresh.kwargs);
  EXPECT_EQ(back.options, fresh.options);
  EXPECT_EQ(back.message_id, fresh.message_id);
  EXPECT_EQ(back.message_timestamp, fresh.message_timestamp);
}

TEST(MessageJsonEncoder, DecodeRejectsInvalidJsonWithDecodeError) {
  JsonEncoder encoder;
  for (std::string_view bad : {"", "not json", "{\"queue_name\":", "\xff\xfe"}) {
    try {
      encoder.decode(bad);
      ADD_FAILURE() << "decoded: " << bad;
    } catch (const DecodeError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("Failed to decode message", 0), 0u) << e.what();
    }
  }
}

TEST(MessageJsonEncoder, DecodeRejectsJsonThatIsNotAMessage) {
  JsonEncoder encoder;
  EXPECT_THROW(encoder.decode("[1,2]"), DecodeError);
  EXPECT_THROW(encoder.decode("{}"), DecodeError);
  try {
    encoder.decode(R"({"queue_name":"q","actor_name":"a","args":{},"kwargs":{},"options":{}})");
    ADD_FAILURE() << "args as a dict was accepted";
  } catch (const DecodeError& e) {
    EXPECT_NE(std::string(e.what()).find("'args'"), std::string::npos) << e.what();
  }
}

TEST(MessageJsonEncoder, ForeignValuesCannotBeEncoded) {
  Message m = known_message();
  m.args = Value(Array{Value(ForeignPtr(std::make_shared<CustomObject>()))});
  try {
    JsonEncoder().encode(m);
    ADD_FAILURE() << "a foreign object was encoded";
  } catch (const JsonEncodeError& e) {
    EXPECT_EQ(e.offending_type(), "CustomObject");
  }
}

TEST(MessageJsonEncoder, NestingLimitCountsTheEnvelope) {
  // The envelope object is the document's first level, so args nested
  // kMaxJsonDepth - 1 deep (the args array itself included) are the deepest
  // that decode; one level more is refused when encoding, never sent as a
  // message no worker can decode (found by fuzz_message_decoder).
  auto nested = [](int depth) {
    Value v = Array{};
    for (int i = 1; i < depth; ++i) v = Array{std::move(v)};
    return v;
  };
  JsonEncoder encoder;
  for (const char* field : {"args", "kwargs", "options"}) {
    SCOPED_TRACE(field);
    Message deepest = known_message();
    Message too_deep = known_message();
    auto set = [&](Message& m, Value v) {
      if (std::string(field) == "args") {
        m.args = std::move(v);
      } else if (std::string(field) == "kwargs") {
        m.kwargs = Object{{"k", std::move(v)}};
      } else {
        m.options = Object{{"k", std::move(v)}};
      }
    };
    // kwargs/options hold the nested value one level down, inside their object.
    const int room = std::string(field) == "args" ? kMaxJsonDepth - 1 : kMaxJsonDepth - 2;
    set(deepest, nested(room));
    set(too_deep, nested(room + 1));
    EXPECT_EQ(encoder.decode(encoder.encode(deepest)).message_id, deepest.message_id);
    EXPECT_THROW(encoder.encode(too_deep), JsonNestingError);
  }
}

TEST(MessageGlobalEncoder, GlobalEncoderDefaultsToJsonAndCanBeReplaced) {
  class Fixed : public Encoder {
   public:
    std::string encode(const Message&) override { return "fixed"; }
    Message decode(std::string_view) override { return Message(); }
    std::string encode_value(const Value&) override { return "fixed"; }
    Value decode_value(std::string_view) override { return Value(); }
  };
  ASSERT_NE(dynamic_cast<JsonEncoder*>(get_encoder().get()), nullptr);
  // Restores the default even when an assertion below returns early, so
  // the rest of the binary keeps encoding JSON.
  struct Restore {
    ~Restore() { set_encoder(nullptr); }
  } restore;
  auto custom = std::make_shared<Fixed>();
  set_encoder(custom);
  EXPECT_EQ(get_encoder(), custom);
  EXPECT_EQ(get_encoder()->encode(known_message()), "fixed");
  // nullptr restores the default.
  set_encoder(nullptr);
  EXPECT_NE(dynamic_cast<JsonEncoder*>(get_encoder().get()), nullptr);
}

// ------------------------------------------------------------- queue names

TEST(MessageQueueNames, DelayAndDeadLetterNames) {
  EXPECT_EQ(delay_queue_name("default"), "default.DQ");
  EXPECT_EQ(dead_letter_queue_name("default"), "default.XQ");
  // Both derive from the canonical name, so they never stack suffixes.
  EXPECT_EQ(delay_queue_name("default.DQ"), "default.DQ");
  EXPECT_EQ(delay_queue_name("default.XQ"), "default.DQ");
  EXPECT_EQ(dead_letter_queue_name("default.DQ"), "default.XQ");
  EXPECT_EQ(dead_letter_queue_name("default.XQ"), "default.XQ");
}

TEST(MessageQueueNames, CanonicalStripsOneSuffix) {
  EXPECT_EQ(canonical_queue_name("q"), "q");
  EXPECT_EQ(canonical_queue_name("q.DQ"), "q");
  EXPECT_EQ(canonical_queue_name("q.XQ"), "q");
  EXPECT_EQ(canonical_queue_name("a.b.c"), "a.b.c");
  // Like upstream's q_name: one suffix only.
  EXPECT_EQ(canonical_queue_name("q.DQ.DQ"), "q.DQ");
  // Only the exact ".DQ"/".XQ" suffixes count.
  EXPECT_EQ(canonical_queue_name("qDQ"), "qDQ");
  EXPECT_EQ(canonical_queue_name("q.dq"), "q.dq");
  EXPECT_EQ(canonical_queue_name(".DQ"), "");
}

TEST(MessageQueueNames, IsDelayQueue) {
  EXPECT_TRUE(is_delay_queue("q.DQ"));
  EXPECT_FALSE(is_delay_queue("q"));
  EXPECT_FALSE(is_delay_queue("q.XQ"));
  EXPECT_FALSE(is_delay_queue("DQ"));
  EXPECT_FALSE(is_delay_queue("q.DQx"));
}

TEST(MessageQueueNames, IsValidQueueName) {
  for (const char* good : {"default", "_", "_private", "Q", "a1", "a.b-c_d", "q.DQ", "x-"}) {
    EXPECT_TRUE(is_valid_queue_name(good)) << good;
  }
  for (const char* bad : {"", "1abc", ".q", "-q", "a b", "a/b", "a:b", "caf\xc3\xa9", "q!", " q"}) {
    EXPECT_FALSE(is_valid_queue_name(bad)) << bad;
  }
}

// ------------------------------------------------------------------ describe

TEST(MessageDescribe, ArgsThenKwargs) {
  Message m = known_message();
  EXPECT_EQ(m.describe(), "add(1, 2)");
  m.kwargs = Value(Object{{"x", 3}, {"y", Value(Array{1})}});
  EXPECT_EQ(m.describe(), "add(1, 2, x=3, y=[1])");
  m.args = Value::array();
  EXPECT_EQ(m.describe(), "add(x=3, y=[1])");
  m.kwargs = Value::object();
  EXPECT_EQ(m.describe(), "add()");
}

TEST(MessageDescribe, ValuesPrintedAsJsonAndForeignByTypeName) {
  // The header documents args as printed in their JSON form; foreign
  // objects (which JSON cannot print) show as <TypeName>.
  Message m = known_message();
  m.args = Value(Array{"a", nullptr, true, Value(ForeignPtr(std::make_shared<CustomObject>()))});
  m.kwargs = Value(Object{{"o", Value(ForeignPtr(std::make_shared<CustomObject>()))}});
  EXPECT_EQ(m.describe(), "add(\"a\", null, true, <CustomObject>, o=<CustomObject>)");
}
