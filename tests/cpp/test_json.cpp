// Expected outputs below were produced with Python 3.11:
//   json.dumps(v, separators=(",", ":"))
#include "dramatiq/json.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace dramatiq;
using namespace dramatiq::testing;

namespace {

std::string nested_arrays(int depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

std::string nested_objects(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += "{\"k\":";
  s += "1";
  s += std::string(depth, '}');
  return s;
}

// Asserts that `text` is rejected and that the message contains `fragment`.
void expect_decode_error(std::string_view text, std::string_view fragment) {
  try {
    Value v = read_json(text);
    ADD_FAILURE() << "accepted " << text << " as " << to_json(v);
  } catch (const JsonDecodeError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
        << "message was: " << e.what();
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Writing

TEST(JsonWrite, Scalars) {
  EXPECT_EQ(to_json(Value()), "null");
  EXPECT_EQ(to_json(Value(true)), "true");
  EXPECT_EQ(to_json(Value(false)), "false");
  EXPECT_EQ(to_json(Value(0)), "0");
  EXPECT_EQ(to_json(Value(-42)), "-42");
  EXPECT_EQ(to_json(Value(std::numeric_limits<std::int64_t>::max())), "9223372036854775807");
  EXPECT_EQ(to_json(Value(std::numeric_limits<std::int64_t>::min())), "-9223372036854775808");
  EXPECT_EQ(to_json(Value(BigInt{"18446744073709551616"})), "18446744073709551616");
  EXPECT_EQ(to_json(Value(BigInt{"-1180591620717411303424"})), "-1180591620717411303424");
  EXPECT_EQ(to_json(Value("hello")), "\"hello\"");
  EXPECT_EQ(to_json(Value("")), "\"\"");
}

TEST(JsonWrite, FloatsMatchPythonRepr) {
  const std::pair<double, const char*> cases[] = {
      {0.1, "0.1"},
      {1e16, "1e+16"},
      {1e-5, "1e-05"},
      {123456789.123, "123456789.123"},
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {-0.0, "-0.0"},
      {0.0, "0.0"},
      {1.0, "1.0"},
      {-1.0, "-1.0"},
      {2.5, "2.5"},
      {1e-4, "0.0001"},
      {1.5e-5, "1.5e-05"},
      {1e15, "1000000000000000.0"},
      {9999999999999998.0, "9999999999999998.0"},
      {-2.5e100, "-2.5e+100"},
      {1.0 / 3.0, "0.3333333333333333"},
      {9007199254740992.0, "9007199254740992.0"},
      {1e-7, "1e-07"},
      {1.23e302, "1.23e+302"},
      {1e22, "1e+22"},
      {1.23e-18, "1.23e-18"},
      {1234567890123456.8, "1234567890123456.8"},
      {100.0, "100.0"},
      {0.000123, "0.000123"},
  };
  for (const auto& [value, expected] : cases) {
    EXPECT_EQ(to_json(Value(value)), expected) << "for " << expected;
  }
}

TEST(JsonWrite, NonFiniteFloats) {
  EXPECT_EQ(to_json(Value(std::numeric_limits<double>::quiet_NaN())), "NaN");
  EXPECT_EQ(to_json(Value(-std::numeric_limits<double>::quiet_NaN())), "NaN");
  EXPECT_EQ(to_json(Value(HUGE_VAL)), "Infinity");
  EXPECT_EQ(to_json(Value(-HUGE_VAL)), "-Infinity");
}

TEST(JsonWrite, StringEscapes) {
  EXPECT_EQ(to_json(Value("\"\\/\b\f\n\r\t")), R"("\"\\/\b\f\n\r\t")");
  EXPECT_EQ(to_json(Value(std::string("\x00\x01\x1f\x7f", 4))), R"("\u0000\u0001\u001f\u007f")");
  EXPECT_EQ(to_json(Value(" ~")), "\" ~\"");
}

TEST(JsonWrite, NonAsciiIsEscaped) {
  EXPECT_EQ(to_json(Value("é")), R"("\u00e9")");
  EXPECT_EQ(to_json(Value("😀")), R"("\ud83d\ude00")");
  EXPECT_EQ(to_json(Value("caf\xC3\xA9 \xE2\x82\xAC")), R"("caf\u00e9 \u20ac")");
  // Boundaries of each UTF-8 sequence length: U+0080 U+07FF U+0800 U+FFFF U+10FFFF.
  EXPECT_EQ(to_json(Value("\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF\xF4\x8F\xBF\xBF")),
            R"("\u0080\u07ff\u0800\uffff\udbff\udfff")");
}

TEST(JsonWrite, LoneSurrogatesRoundTrip) {
  // read_json keeps lone surrogate escapes as 3-byte sequences, and writing
  // them back reproduces Python's output for such strings.
  EXPECT_EQ(to_json(read_json(R"("\ud800")")), R"("\ud800")");
  EXPECT_EQ(to_json(read_json(R"("a\udc00b")")), R"("a\udc00b")");
}

TEST(JsonWrite, InvalidUtf8BecomesReplacementCharacter) {
  EXPECT_EQ(to_json(Value("a\xFF" "b")), R"("a\ufffdb")");
  EXPECT_EQ(to_json(Value("\xC3")), R"("\ufffd")");          // truncated sequence
  EXPECT_EQ(to_json(Value("\xC0\xAF")), R"("\ufffd\ufffd")");  // overlong '/'
}

TEST(JsonWrite, Containers) {
  EXPECT_EQ(to_json(Value::array()), "[]");
  EXPECT_EQ(to_json(Value::object()), "{}");
  EXPECT_EQ(to_json(Value(Array{1, "two", 3.0, nullptr, true})), R"([1,"two",3.0,null,true])");
  Value message = Value(Object{{"args", Array{1, "two", 3.0}},
                               {"kwargs", Object{{"x", nullptr}, {"y", true}, {"z", false}}},
                               {"options", Object{}}});
  EXPECT_EQ(to_json(message),
            R"({"args":[1,"two",3.0],"kwargs":{"x":null,"y":true,"z":false},"options":{}})");
}

TEST(JsonWrite, ObjectKeepsInsertionOrder) {
  Value obj = Value::object();
  obj.set("zeta", 1);
  obj.set("alpha", 2);
  obj.set("mid", 3);
  EXPECT_EQ(to_json(obj), R"({"zeta":1,"alpha":2,"mid":3})");
}

TEST(JsonWrite, KeysAreEscaped) {
  EXPECT_EQ(to_json(Value(Object{{"é\n", 1}})), R"({"\u00e9\n":1})");
}

TEST(JsonWrite, AppendsToExistingOutput) {
  std::string out = "prefix:";
  write_json(Value(Array{1, 2}), out);
  EXPECT_EQ(out, "prefix:[1,2]");
}

TEST(JsonWrite, ForeignValuesAreRejected) {
  Value v = Value(Object{{"ok", 1}, {"bad", ForeignPtr(std::make_shared<CustomObject>())}});
  try {
    to_json(v);
    FAIL() << "expected JsonEncodeError";
  } catch (const JsonEncodeError& e) {
    EXPECT_STREQ(e.what(), "Object of type CustomObject is not JSON serializable");
    EXPECT_EQ(e.offending_type(), "CustomObject");
  }
}

TEST(JsonWrite, FailedWriteLeavesOutputUntouched) {
  std::string out = "keep";
  Value v = Value(Array{1, 2, ForeignPtr(std::make_shared<CustomObject>())});
  EXPECT_THROW(write_json(v, out), JsonEncodeError);
  EXPECT_EQ(out, "keep");
}

static Value nested_array_value(int depth) {
  Value v = Array{};
  for (int i = 1; i < depth; ++i) v = Array{std::move(v)};
  return v;
}

static Value nested_object_value(int depth) {
  Value v = Object{};
  for (int i = 1; i < depth; ++i) v = Object{{"k", std::move(v)}};
  return v;
}

TEST(JsonWrite, NestingStopsAtTheReadersLimit) {
  // What the writer accepts the reader reads back; one level more and
  // the writer refuses it (json.dumps: RecursionError), output untouched.
  for (const auto& make : {nested_array_value, nested_object_value}) {
    Value deepest = make(kMaxJsonDepth);
    EXPECT_EQ(read_json(to_json(deepest)), deepest);
    std::string out = "kept";
    EXPECT_THROW(write_json(make(kMaxJsonDepth + 1), out), JsonNestingError);
    EXPECT_EQ(out, "kept");
  }
  try {
    to_json(Array{nested_object_value(kMaxJsonDepth)});
    ADD_FAILURE() << "accepted one level too many";
  } catch (const JsonNestingError& e) {
    EXPECT_STREQ(e.what(), "maximum nesting depth of 1000 exceeded while encoding a JSON object");
  }
}

TEST(JsonWrite, EncodeErrorIsARuntimeError) {
  JsonEncodeError e("set");
  const std::runtime_error& base = e;
  EXPECT_STREQ(base.what(), "Object of type set is not JSON serializable");
}

// ---------------------------------------------------------------------------
// Reading

TEST(JsonRead, Scalars) {
  EXPECT_EQ(read_json("null"), Value());
  EXPECT_EQ(read_json("true"), Value(true));
  EXPECT_EQ(read_json("false"), Value(false));
  EXPECT_EQ(read_json("0"), Value(0));
  EXPECT_EQ(read_json("-17"), Value(-17));
  EXPECT_EQ(read_json("\"hi\""), Value("hi"));
  EXPECT_EQ(read_json("1.5"), Value(1.5));
  EXPECT_EQ(read_json("0.1"), Value(0.1));
}

TEST(JsonRead, IntegersAndFloatsAreDistinguished) {
  EXPECT_TRUE(read_json("1").is_int());
  EXPECT_TRUE(read_json("1.0").is_float());
  EXPECT_TRUE(read_json("1e2").is_float());
  EXPECT_TRUE(read_json("1E2").is_float());
  EXPECT_EQ(read_json("1e2"), Value(100.0));
  EXPECT_EQ(read_json("-2.5E-3"), Value(-0.0025));
  EXPECT_EQ(read_json("1e+2"), Value(100.0));
  // Python's int("-0") is 0: there is no negative integer zero.
  Value neg_zero = read_json("-0");
  ASSERT_TRUE(neg_zero.is_int());
  EXPECT_EQ(neg_zero.as_int(), 0);
  EXPECT_TRUE(std::signbit(read_json("-0.0").as_float()));
}

TEST(JsonRead, Int64Limits) {
  EXPECT_EQ(read_json("9223372036854775807"), Value(std::numeric_limits<std::int64_t>::max()));
  EXPECT_EQ(read_json("-9223372036854775808"), Value(std::numeric_limits<std::int64_t>::min()));
}

TEST(JsonRead, BigIntegersKeepTheirDigits) {
  const char* cases[] = {
      "9223372036854775808",            // INT64_MAX + 1 (fits uint64)
      "18446744073709551615",           // UINT64_MAX
      "18446744073709551616",           // UINT64_MAX + 1
      "-9223372036854775809",           // INT64_MIN - 1
      "123456789012345678901234567890",
      "-1180591620717411303424",
  };
  for (const char* text : cases) {
    Value v = read_json(text);
    ASSERT_EQ(v.kind(), Value::Kind::BigInt) << text;
    EXPECT_EQ(v.as_bigint().digits, text);
    EXPECT_EQ(to_json(v), text);
  }
  std::string huge = "[" + std::string(1000, '7') + "]";
  EXPECT_EQ(to_json(read_json(huge)), huge);
}

TEST(JsonRead, FloatRangeEdges) {
  EXPECT_EQ(read_json("5e-324").as_float(), 5e-324);
  EXPECT_EQ(read_json("1.7976931348623157e308").as_float(), 1.7976931348623157e308);
  // Python's float() saturates rather than failing.
  EXPECT_EQ(read_json("1e400").as_float(), HUGE_VAL);
  EXPECT_EQ(read_json("-1e400").as_float(), -HUGE_VAL);
  EXPECT_EQ(read_json("1.7976931348623159e308").as_float(), HUGE_VAL);
  EXPECT_EQ(read_json("1e-400").as_float(), 0.0);
  EXPECT_TRUE(std::signbit(read_json("-1e-400").as_float()));
  // The magnitude is decided by all the digits, not just the exponent's sign.
  EXPECT_EQ(read_json("0." + std::string(400, '0') + "1e10").as_float(), 0.0);
  EXPECT_EQ(read_json("1" + std::string(400, '0') + ".0e-10").as_float(), HUGE_VAL);
  EXPECT_EQ(read_json("[1e99999999999999999999999, 1.0]"), Value(Array{HUGE_VAL, 1.0}));
}

TEST(JsonRead, NanAndInfinityLiterals) {
  EXPECT_TRUE(std::isnan(read_json("NaN").as_float()));
  EXPECT_EQ(read_json("Infinity").as_float(), HUGE_VAL);
  EXPECT_EQ(read_json("-Infinity").as_float(), -HUGE_VAL);
  EXPECT_EQ(to_json(read_json(" [NaN, Infinity, -Infinity, {\"x\": NaN}] ")),
            R"([NaN,Infinity,-Infinity,{"x":NaN}])");
  expect_decode_error("nan", "Expecting value");
  expect_decode_error("-NaN", "Expecting value");
  expect_decode_error("+Infinity", "Expecting value");
  expect_decode_error("Inf", "Expecting value");
}

TEST(JsonRead, Strings) {
  EXPECT_EQ(read_json(R"("\"\\\/\b\f\n\r\t")").as_string(), "\"\\/\b\f\n\r\t");
  EXPECT_EQ(read_json(R"("\u00e9")").as_string(), "é");
  EXPECT_EQ(read_json(R"("\u00E9")").as_string(), "é");
  EXPECT_EQ(read_json(R"("\ud83d\ude00")").as_string(), "😀");
  EXPECT_EQ(read_json(R"("\uDBFF\uDFFF")").as_string(), "\xF4\x8F\xBF\xBF");
  EXPECT_EQ(read_json("\"é😀\"").as_string(), "é😀");
  EXPECT_EQ(read_json(R"("\u0000")").as_string(), std::string(1, '\0'));
  EXPECT_EQ(read_json("\"\x7f\"").as_string(), "\x7f");  // DEL needs no escape
}

TEST(JsonRead, LoneSurrogatesAreAccepted) {
  // Python returns str objects containing the lone surrogate.
  EXPECT_EQ(read_json(R"("\ud800")").as_string(), "\xED\xA0\x80");
  EXPECT_EQ(read_json(R"("\ud800\u0041")").as_string(), "\xED\xA0\x80" "A");
  EXPECT_EQ(read_json(R"("\ude00\ud83d")").as_string(), "\xED\xB8\x80\xED\xA0\xBD");
}

TEST(JsonRead, ArraysAndObjects) {
  EXPECT_EQ(read_json("[]"), Value::array());
  EXPECT_EQ(read_json("{}"), Value::object());
  EXPECT_EQ(read_json("[1, \"a\", [true, null], {\"k\": 2.5}]"),
            Value(Array{1, "a", Array{true, nullptr}, Object{{"k", 2.5}}}));
  Value obj = read_json(R"({"b": 1, "a": 2, "c": {"d": []}})");
  ASSERT_TRUE(obj.is_object());
  ASSERT_EQ(obj.as_object().size(), 3u);
  EXPECT_EQ(obj.as_object()[0].first, "b");
  EXPECT_EQ(obj.as_object()[1].first, "a");
  EXPECT_EQ(obj.as_object()[2].first, "c");
  EXPECT_EQ(to_json(obj), R"({"b":1,"a":2,"c":{"d":[]}})");
}

TEST(JsonRead, DuplicateKeysLastWins) {
  // Python: json.loads('{"a":1,"b":2,"a":3}') == {"a": 3, "b": 2}
  Value obj = read_json(R"({"a":1,"b":2,"a":3})");
  EXPECT_EQ(to_json(obj), R"({"a":3,"b":2})");
  // Escaped and literal spellings of a key are the same key.
  EXPECT_EQ(to_json(read_json(R"({"a":1,"\u0061":2})")), R"({"a":2})");
  // Also through the fallback parser (NaN forces it).
  EXPECT_EQ(to_json(read_json(R"({"x":NaN,"a":1,"x":2,"a":3,"x":4})")), R"({"x":4,"a":3})");
}

TEST(JsonRead, DuplicateKeysInLargeObjects) {
  std::string text = "{";
  for (int i = 0; i < 100; ++i) text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  text += "\"k5\":\"last\"}";
  Value obj = read_json(text);
  ASSERT_EQ(obj.as_object().size(), 100u);
  EXPECT_EQ(obj.as_object()[5].first, "k5");
  EXPECT_EQ(obj.as_object()[5].second, Value("last"));
  EXPECT_EQ(obj.as_object()[99].first, "k99");
}

TEST(JsonRead, Whitespace) {
  EXPECT_EQ(read_json(" \t\r\n[ 1 , 2 ]\n\t "), Value(Array{1, 2}));
  EXPECT_EQ(read_json("\n{ \"a\" :\t1 }\r\n"), Value(Object{{"a", 1}}));
  // Only JSON's four whitespace characters count.
  expect_decode_error("\f1", "Expecting value");
  expect_decode_error("1\v", "Extra data");
  expect_decode_error("1\xC2\xA0", "Extra data");  // U+00A0
}

TEST(JsonRead, NestingDepthLimit) {
  // Python's json reads 993 levels from a fresh interpreter (its default
  // recursion limit, 1000, less the frames on the stack): so do we.
  EXPECT_GE(kMaxJsonDepth, 993);
  EXPECT_NO_THROW(read_json(nested_arrays(993)));
  EXPECT_NO_THROW(read_json(nested_arrays(kMaxJsonDepth)));
  expect_decode_error(nested_arrays(kMaxJsonDepth + 1), "Maximum nesting depth of 1000 exceeded");
  expect_decode_error(nested_arrays(kMaxJsonDepth + 88), "Maximum nesting depth");
  expect_decode_error(nested_arrays(100000), "Maximum nesting depth");
  expect_decode_error(std::string(100000, '['), "Maximum nesting depth");
  EXPECT_NO_THROW(read_json(nested_objects(kMaxJsonDepth)));
  expect_decode_error(nested_objects(kMaxJsonDepth + 1), "Maximum nesting depth");
  // Same limits when the fallback parser is in charge.
  EXPECT_NO_THROW(read_json("[" + nested_arrays(kMaxJsonDepth - 1) + ",NaN]"));
  expect_decode_error("[" + nested_arrays(kMaxJsonDepth) + ",NaN]", "Maximum nesting depth");
}

TEST(JsonRead, DepthErrorReportsPosition) {
  expect_decode_error(nested_arrays(kMaxJsonDepth + 88), "line 1 column 1001 (char 1000)");
}

TEST(JsonRead, InvalidUtf8) {
  expect_decode_error("\"\xFF\"", "Invalid UTF-8 byte 0xff: line 1 column 2 (char 1)");
  expect_decode_error("\"\xC3\"", "Invalid UTF-8");        // truncated sequence
  expect_decode_error("\"\xC0\xAF\"", "Invalid UTF-8");    // overlong
  expect_decode_error("\"\xED\xA0\x80\"", "Invalid UTF-8");  // encoded surrogate
  expect_decode_error("\"\xF4\x90\x80\x80\"", "Invalid UTF-8");  // above U+10FFFF
  expect_decode_error("[1] \xFF", "Invalid UTF-8");
  expect_decode_error("[NaN, \"\xFE\"]", "Invalid UTF-8");
}

TEST(JsonRead, ByteOrderMarkIsRejected) {
  // Python decodes bytes as utf-8 (keeping the BOM) and json.loads refuses it.
  expect_decode_error("\xEF\xBB\xBF{}", "Unexpected UTF-8 BOM");
}

TEST(JsonRead, TrailingGarbage) {
  expect_decode_error("[1] x", "Extra data: line 1 column 5 (char 4)");
  expect_decode_error("1 2", "Extra data");
  expect_decode_error("{}{}", "Extra data");
  expect_decode_error("null,", "Extra data");
  expect_decode_error(std::string("[1]\0", 4), "Extra data");
  expect_decode_error("NaN x", "Extra data");
}

TEST(JsonRead, SyntaxErrorsUsePythonMessages) {
  expect_decode_error("", "Expecting value: line 1 column 1 (char 0)");
  expect_decode_error("   ", "Expecting value: line 1 column 4 (char 3)");
  expect_decode_error("[1,2", "Expecting ',' delimiter: line 1 column 5 (char 4)");
  expect_decode_error("{\"a\" 1}", "Expecting ':' delimiter: line 1 column 6 (char 5)");
  expect_decode_error("{1:2}",
                      "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)");
  expect_decode_error("{\"a\":1,}", "Expecting property name enclosed in double quotes");
  expect_decode_error("[1,]", "Expecting value: line 1 column 4 (char 3)");
  expect_decode_error("\"abc", "Unterminated string starting at: line 1 column 1 (char 0)");
  expect_decode_error("\"a\\x\"", "Invalid \\escape: line 1 column 3 (char 2)");
  expect_decode_error("\"a\\u12\"", "Invalid \\uXXXX escape: line 1 column 4 (char 3)");
  expect_decode_error("\"a\x01\"", "Invalid control character at: line 1 column 3 (char 2)");
  expect_decode_error("\"a\nb\"", "Invalid control character at");
  // Positions count characters, not bytes, and lines start after '\n'.
  expect_decode_error("[\"é\",\n  tru]", "Expecting value: line 2 column 3 (char 8)");
}

TEST(JsonRead, MalformedNumbers) {
  for (const char* text : {"01", "-", "1.", ".5", "+1", "1e", "1e+", "0x10", "1.e5", "--1", "-a"}) {
    EXPECT_THROW(read_json(text), JsonDecodeError) << text;
  }
}

TEST(JsonRead, MalformedLiteralsAndStructure) {
  for (const char* text : {"tru", "nul", "True", "[", "]", "{", "{\"a\"}", "{\"a\":}", "[1 2]",
                           "{\"a\":1 \"b\":2}", "'a'", "\"\\ud800\\u12\"", "\"\\", "[,1]"}) {
    EXPECT_THROW(read_json(text), JsonDecodeError) << text;
  }
}

TEST(JsonRead, DecodeErrorIsARuntimeError) {
  EXPECT_THROW(read_json("{"), std::runtime_error);
}

// ---------------------------------------------------------------------------
// Round trips

TEST(JsonRoundTrip, TextSurvivesReadThenWrite) {
  const char* docs[] = {
      R"({"queue_name":"default","actor_name":"add","args":[1,2],"kwargs":{},"options":{"eta":1700000000000},"message_id":"0a1b","message_timestamp":1700000000000})",
      R"([0.1,1e+16,1e-05,123456789.123,5e-324,1.7976931348623157e+308,-0.0,NaN,Infinity,-Infinity])",
      R"("\u00e9\ud83d\ude00\u0000\u001f\u007f\"\\\n")",
      R"([18446744073709551616,-9223372036854775809,9223372036854775807,-9223372036854775808])",
      R"({"nested":{"deeper":[[[{"x":[null,true,false]}]]]}})",
      R"([[],{},"",0,-1])",
  };
  for (const char* doc : docs) EXPECT_EQ(to_json(read_json(doc)), doc);
}

TEST(JsonRoundTrip, ValueSurvivesWriteThenRead) {
  Value v = Value(Object{
      {"str", "héllo 😀 \x01"},
      {"ints", Array{0, -1, std::numeric_limits<std::int64_t>::max(),
                     std::numeric_limits<std::int64_t>::min()}},
      {"big", BigInt{"-99999999999999999999999"}},
      {"floats", Array{0.1, 1e300, -1e-300, 5e-324, 123456789.123}},
      {"misc", Array{nullptr, true, false, Object{}, Array{}}},
  });
  EXPECT_EQ(read_json(to_json(v)), v);
}

TEST(JsonRoundTrip, EveryBmpCharacterAndSomeAstralOnes) {
  std::string text;
  auto append_utf8 = [&](unsigned cp) {
    if (cp < 0x80) {
      text.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      text.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      text.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      text.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      text.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      text.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      text.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      text.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      text.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      text.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  };
  for (unsigned cp = 0; cp < 0x10000; ++cp) {
    if (cp < 0xD800 || cp > 0xDFFF) append_utf8(cp);
  }
  for (unsigned cp = 0x10000; cp <= 0x10FFFF; cp += 0x1001) append_utf8(cp);
  std::string json = to_json(Value(text));
  for (char c : json) ASSERT_TRUE(c >= 0x20 && c <= 0x7E) << "non-ASCII output";
  EXPECT_EQ(read_json(json).as_string(), text);
}

TEST(JsonRoundTrip, FloatsRoundTripExactly) {
  const double values[] = {0.1, 0.2, 0.30000000000000004, 1.0 / 3.0, 2.0 / 3.0, 1e-320,
                           4.9e-324, 2.2250738585072014e-308, 1e21, 1e22, 1e23,
                           123456789012345680.0, 0.000001, 0.0000001, 1e16 - 2};
  for (double d : values) {
    EXPECT_EQ(read_json(to_json(Value(d))).as_float(), d) << to_json(Value(d));
    EXPECT_EQ(read_json(to_json(Value(-d))).as_float(), -d) << to_json(Value(-d));
  }
}

TEST(JsonReader, EmptyInputWithoutABufferIsADecodeError) {
  // An empty delivery's bytes: a view with no buffer (null data). simdjson
  // copied from the null pointer (undefined behaviour, reported by UBSan).
  expect_decode_error(std::string_view(), "Expecting value: line 1 column 1 (char 0)");
  expect_decode_error(std::string_view("", 0), "Expecting value: line 1 column 1 (char 0)");
}
