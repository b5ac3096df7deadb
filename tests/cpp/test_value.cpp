#include "dramatiq/value.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace dramatiq;
using namespace dramatiq::testing;

TEST(Value, DefaultIsNull) {
  Value v;
  EXPECT_TRUE(v.is_null());
  EXPECT_EQ(v.kind(), Value::Kind::Null);
  EXPECT_TRUE(Value(nullptr).is_null());
}

TEST(Value, ConstructorsPickTheRightKind) {
  EXPECT_EQ(Value(true).kind(), Value::Kind::Bool);
  EXPECT_EQ(Value(42).kind(), Value::Kind::Int);
  EXPECT_EQ(Value(std::int64_t{1} << 40).kind(), Value::Kind::Int);
  EXPECT_EQ(Value(1.5).kind(), Value::Kind::Float);
  EXPECT_EQ(Value(BigInt{"18446744073709551616"}).kind(), Value::Kind::BigInt);
  EXPECT_EQ(Value("text").kind(), Value::Kind::String);
  EXPECT_EQ(Value(std::string("text")).kind(), Value::Kind::String);
  EXPECT_EQ(Value(std::string_view("text")).kind(), Value::Kind::String);
  EXPECT_EQ(Value::array().kind(), Value::Kind::Array);
  EXPECT_EQ(Value::object().kind(), Value::Kind::Object);
  EXPECT_EQ(Value(ForeignPtr(std::make_shared<CustomObject>())).kind(), Value::Kind::Foreign);
}

TEST(Value, Predicates) {
  EXPECT_TRUE(Value(1).is_number());
  EXPECT_TRUE(Value(1.0).is_number());
  EXPECT_TRUE(Value(BigInt{"99999999999999999999"}).is_number());
  EXPECT_FALSE(Value(true).is_number());
  EXPECT_FALSE(Value("1").is_number());
  EXPECT_TRUE(Value("s").is_string());
  EXPECT_TRUE(Value::array().is_array());
  EXPECT_TRUE(Value::object().is_object());
  EXPECT_TRUE(Value(true).is_bool());
  EXPECT_TRUE(Value(1).is_int());
  EXPECT_FALSE(Value(1).is_float());
}

TEST(Value, Accessors) {
  EXPECT_EQ(Value(7).as_int(), 7);
  EXPECT_EQ(Value(2.5).as_float(), 2.5);
  EXPECT_TRUE(Value(true).as_bool());
  EXPECT_EQ(Value("hi").as_string(), "hi");
  EXPECT_EQ(Value(BigInt{"-123456789012345678901"}).as_bigint().digits, "-123456789012345678901");
  EXPECT_THROW(Value(1).as_string(), std::bad_variant_access);
  EXPECT_THROW(Value(1.0).as_int(), std::bad_variant_access);

  Value arr = Value::array();
  arr.as_array().push_back(1);
  arr.as_array().push_back("two");
  ASSERT_EQ(arr.as_array().size(), 2u);
  EXPECT_EQ(arr.as_array()[1].as_string(), "two");

  Value s = Value("abc");
  s.as_string() += "def";
  EXPECT_EQ(s.as_string(), "abcdef");
}

TEST(Value, AsNumber) {
  EXPECT_EQ(Value(3).as_number(), 3.0);
  EXPECT_EQ(Value(-2.25).as_number(), -2.25);
  EXPECT_EQ(Value(BigInt{"18446744073709551616"}).as_number(), 18446744073709551616.0);
  EXPECT_EQ(Value(BigInt{"-18446744073709551616"}).as_number(), -18446744073709551616.0);
  EXPECT_EQ(Value(BigInt{"1" + std::string(400, '0')}).as_number(), HUGE_VAL);
  EXPECT_EQ(Value(BigInt{"-1" + std::string(400, '0')}).as_number(), -HUGE_VAL);
  EXPECT_THROW(Value("1").as_number(), std::bad_variant_access);
  EXPECT_THROW(Value().as_number(), std::bad_variant_access);
}

TEST(Value, TypeNamesArePython) {
  EXPECT_EQ(Value().type_name(), "NoneType");
  EXPECT_EQ(Value(false).type_name(), "bool");
  EXPECT_EQ(Value(1).type_name(), "int");
  EXPECT_EQ(Value(BigInt{"100000000000000000000"}).type_name(), "int");
  EXPECT_EQ(Value(1.0).type_name(), "float");
  EXPECT_EQ(Value("").type_name(), "str");
  EXPECT_EQ(Value::array().type_name(), "list");
  EXPECT_EQ(Value::object().type_name(), "dict");
  EXPECT_EQ(Value(ForeignPtr(std::make_shared<CustomObject>())).type_name(), "CustomObject");
  EXPECT_EQ(Value(ForeignPtr()).type_name(), "ForeignObject");
}

TEST(Value, FindSetErase) {
  Value obj = Value::object();
  EXPECT_EQ(obj.find("a"), nullptr);
  obj.set("a", 1);
  obj.set("b", "two");
  obj.set("c", 3.0);
  ASSERT_TRUE(obj.contains("a"));
  EXPECT_EQ(obj.find("b")->as_string(), "two");
  EXPECT_FALSE(obj.contains("z"));

  // Overwriting keeps the key's position, like assigning to a dict key.
  obj.set("a", "replaced");
  ASSERT_EQ(obj.as_object().size(), 3u);
  EXPECT_EQ(obj.as_object()[0].first, "a");
  EXPECT_EQ(obj.as_object()[0].second.as_string(), "replaced");

  Value* b = obj.find("b");
  ASSERT_NE(b, nullptr);
  *b = Value(22);
  EXPECT_EQ(obj.find("b")->as_int(), 22);

  // Erasing keeps the order of the remaining keys.
  EXPECT_TRUE(obj.erase("a"));
  EXPECT_FALSE(obj.erase("a"));
  ASSERT_EQ(obj.as_object().size(), 2u);
  EXPECT_EQ(obj.as_object()[0].first, "b");
  EXPECT_EQ(obj.as_object()[1].first, "c");

  // New keys go at the end.
  obj.set("a", nullptr);
  EXPECT_EQ(obj.as_object().back().first, "a");
  EXPECT_TRUE(obj.find("a")->is_null());
}

TEST(Value, FindOnNonObjects) {
  const Value n = Value(5);
  EXPECT_EQ(n.find("a"), nullptr);
  EXPECT_FALSE(n.contains("a"));
  Value arr = Value::array();
  EXPECT_FALSE(arr.erase("a"));
  EXPECT_THROW(arr.set("a", 1), std::bad_variant_access);
}

TEST(Value, GetInt) {
  Value obj = Value::object();
  obj.set("int", 7);
  obj.set("float", 2.9);
  obj.set("negfloat", -2.9);
  obj.set("huge_float", 1e30);
  obj.set("inf", -HUGE_VAL);
  obj.set("nan", std::nan(""));
  obj.set("big", BigInt{"100000000000000000000"});
  obj.set("negbig", BigInt{"-100000000000000000000"});
  obj.set("str", "12");
  obj.set("bool", true);
  obj.set("null", nullptr);
  EXPECT_EQ(obj.get_int("int", -1), 7);
  EXPECT_EQ(obj.get_int("float", -1), 2);
  EXPECT_EQ(obj.get_int("negfloat", -1), -2);
  EXPECT_EQ(obj.get_int("huge_float", -1), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(obj.get_int("inf", -1), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(obj.get_int("nan", -1), -1);
  EXPECT_EQ(obj.get_int("big", -1), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(obj.get_int("negbig", -1), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(obj.get_int("str", -1), -1);
  EXPECT_EQ(obj.get_int("bool", -1), -1);
  EXPECT_EQ(obj.get_int("null", -1), -1);
  EXPECT_EQ(obj.get_int("missing", 99), 99);
  EXPECT_EQ(Value(3).get_int("x", 5), 5);
}

TEST(Value, EqualityIsStructural) {
  EXPECT_EQ(Value(), Value());
  EXPECT_EQ(Value(1), Value(1));
  EXPECT_NE(Value(1), Value(2));
  EXPECT_EQ(Value("a"), Value(std::string("a")));
  EXPECT_NE(Value("a"), Value("b"));
  EXPECT_EQ(Value(true), Value(true));
  EXPECT_NE(Value(true), Value(false));
  EXPECT_EQ(Value(BigInt{"123456789012345678901"}), Value(BigInt{"123456789012345678901"}));
  EXPECT_NE(Value(BigInt{"123456789012345678901"}), Value(BigInt{"123456789012345678902"}));
  // Different kinds never compare equal, even when Python would say 1 == 1.0.
  EXPECT_NE(Value(1), Value(1.0));
  EXPECT_NE(Value(0), Value(false));
  EXPECT_NE(Value(), Value(0));
  EXPECT_NE(Value("1"), Value(1));
}

TEST(Value, FloatEqualityUsesDoubleComparison) {
  EXPECT_EQ(Value(0.0), Value(-0.0));
  EXPECT_NE(Value(std::nan("")), Value(std::nan("")));
  EXPECT_EQ(Value(HUGE_VAL), Value(HUGE_VAL));
  EXPECT_EQ(Value(0.1), Value(0.1));
}

TEST(Value, ArrayEquality) {
  Value a = Value(Array{1, "x", Array{true, nullptr}});
  Value b = Value(Array{1, "x", Array{true, nullptr}});
  Value c = Value(Array{1, "x", Array{true}});
  Value d = Value(Array{"x", 1, Array{true, nullptr}});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);  // order matters for lists
}

TEST(Value, ObjectEqualityIgnoresOrderLikePythonDicts) {
  Value a = Value(Object{{"x", 1}, {"y", Array{1, 2}}, {"z", Object{{"k", "v"}}}});
  Value b = Value(Object{{"z", Object{{"k", "v"}}}, {"x", 1}, {"y", Array{1, 2}}});
  Value c = Value(Object{{"x", 1}, {"y", Array{1, 2}}, {"z", Object{{"k", "w"}}}});
  Value d = Value(Object{{"x", 1}, {"y", Array{1, 2}}});
  Value e = Value(Object{{"x", 1}, {"y", Array{1, 2}}, {"w", Object{{"k", "v"}}}});
  EXPECT_EQ(a, b);
  EXPECT_EQ(b, a);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
  EXPECT_NE(a, e);
  EXPECT_EQ(Value::object(), Value::object());
  EXPECT_NE(Value::object(), Value::array());
}

TEST(Value, LargeObjectEqualityInDifferentOrder) {
  Object forward, backward;
  for (int i = 0; i < 1000; ++i) forward.emplace_back("key" + std::to_string(i), i);
  for (int i = 999; i >= 0; --i) backward.emplace_back("key" + std::to_string(i), i);
  EXPECT_EQ(Value(forward), Value(backward));
  backward[500].second = Value(-1);
  EXPECT_NE(Value(forward), Value(backward));
}

TEST(Value, ForeignComparesByIdentity) {
  auto obj = std::make_shared<CustomObject>();
  Value a = Value(ForeignPtr(obj));
  Value b = Value(ForeignPtr(obj));
  Value c = Value(ForeignPtr(std::make_shared<CustomObject>()));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(a.as_foreign().get(), obj.get());
}

TEST(Value, CopiesAreDeep) {
  Value a = Value(Object{{"list", Array{1, 2}}});
  Value b = a;
  b.find("list")->as_array().push_back(3);
  EXPECT_EQ(a.find("list")->as_array().size(), 2u);
  EXPECT_EQ(b.find("list")->as_array().size(), 3u);
  EXPECT_NE(a, b);
}
