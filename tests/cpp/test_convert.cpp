// The typed C++ API's conversions between C++ values and message JSON
// (include/dramatiq/convert.hpp): what converts, and what is refused with
// which error.
#include "dramatiq/convert.hpp"
#include "dramatiq/json.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

using namespace dramatiq;

namespace {
struct Point {
  double x;
  double y;
};
}  // namespace

// The documented hook for a user type.
template <>
struct dramatiq::Convert<Point> {
  static std::string type_name() { return "Point"; }
  static Point from_value(const Value& v) { return {field<double>(v, "x"), field<double>(v, "y")}; }
  static Value to_value(const Point& p) { return Object{{"x", p.x}, {"y", p.y}}; }
};

namespace {

template <typename T>
T round_trip(const T& value) {
  // Through the JSON text, as a message's arguments travel.
  return from_value<T>(read_json(to_json(to_value<T>(value))));
}

// The message of the ConversionError converting `v` to T throws.
template <typename T>
std::string refusal(const Value& v) {
  try {
    from_value<T>(v);
  } catch (const ConversionError& e) {
    return e.what();
  }
  return "(converted)";
}

TEST(Convert, ScalarsRoundTrip) {
  EXPECT_EQ(round_trip<int>(-42), -42);
  EXPECT_EQ(round_trip<std::int64_t>(INT64_MAX), INT64_MAX);
  EXPECT_EQ(round_trip<unsigned>(7u), 7u);
  EXPECT_DOUBLE_EQ(round_trip<double>(0.1), 0.1);
  EXPECT_EQ(round_trip<bool>(true), true);
  EXPECT_EQ(round_trip<std::string>("caf\xc3\xa9 \"quoted\""), "caf\xc3\xa9 \"quoted\"");
  EXPECT_EQ(to_value<int>(3), Value(3));
  EXPECT_EQ(to_value<std::string>("a"), Value("a"));
}

TEST(Convert, ContainersRoundTrip) {
  std::vector<int> numbers{1, 2, 3};
  EXPECT_EQ(round_trip(numbers), numbers);
  std::map<std::string, std::vector<std::string>> nested{{"a", {"x", "y"}}, {"b", {}}};
  EXPECT_EQ(round_trip(nested), nested);
  EXPECT_EQ(round_trip(std::optional<int>(5)), std::optional<int>(5));
  EXPECT_EQ(round_trip(std::optional<int>()), std::nullopt);
  EXPECT_EQ(to_value(std::optional<std::string>()), Value());
  std::vector<std::optional<double>> holes{1.5, std::nullopt};
  EXPECT_EQ(round_trip(holes), holes);
}

TEST(Convert, EngineValuePassesThrough) {
  Value any = read_json(R"({"k":[1,"two",null,{"x":true}]})");
  EXPECT_EQ(round_trip(any), any);
}

TEST(Convert, DoubleAcceptsIntegers) {
  // Python's json writes 3.0 as 3.0 but a Python caller may well pass 3.
  EXPECT_DOUBLE_EQ(from_value<double>(Value(3)), 3.0);
}

TEST(Convert, UserTypeThroughTheHook) {
  Point p = round_trip(Point{1.5, -2});
  EXPECT_DOUBLE_EQ(p.x, 1.5);
  EXPECT_DOUBLE_EQ(p.y, -2);
  std::vector<Point> points = from_value<std::vector<Point>>(read_json(R"([{"x":1,"y":2}])"));
  ASSERT_EQ(points.size(), 1u);
  EXPECT_DOUBLE_EQ(points[0].y, 2);
}

TEST(Convert, WrongScalarTypesAreRefused) {
  EXPECT_EQ(refusal<int>(Value("3")), "expected int, got str");
  EXPECT_EQ(refusal<int>(Value(2.5)), "expected int, got float");
  // A JSON true is no integer, even though Python's bool is an int.
  EXPECT_EQ(refusal<int>(Value(true)), "expected int, got bool");
  EXPECT_EQ(refusal<int>(Value()), "expected int, got NoneType");
  EXPECT_EQ(refusal<bool>(Value(1)), "expected bool, got int");
  EXPECT_EQ(refusal<std::string>(Value(1)), "expected std::string, got int");
  EXPECT_EQ(refusal<double>(Value("1.5")), "expected double, got str");
  EXPECT_EQ(refusal<std::vector<int>>(Value::object()), "expected std::vector<int>, got dict");
  using Counts = std::map<std::string, int>;
  EXPECT_EQ(refusal<Counts>(Value::array()), "expected std::map<std::string, int>, got list");
}

TEST(Convert, OutOfRangeIntegersAreRefused) {
  EXPECT_EQ(refusal<int>(Value(std::int64_t{1} << 40)), "expected int, got int out of range (1099511627776)");
  EXPECT_EQ(refusal<unsigned>(Value(-1)), "expected std::uint32_t, got int out of range (-1)");
  EXPECT_EQ(refusal<std::int64_t>(read_json("123456789012345678901234567890")),
            "expected std::int64_t, got int out of range");
  EXPECT_EQ(round_trip<std::uint64_t>(UINT64_MAX), UINT64_MAX);
}

TEST(Convert, ErrorsSayWhereInsideContainers) {
  EXPECT_EQ(refusal<std::vector<int>>(read_json(R"([1,"a"])")), "at [1]: expected int, got str");
  using Lists = std::map<std::string, std::vector<int>>;
  EXPECT_EQ(refusal<Lists>(read_json(R"({"k":[0,1,null]})")),
            "at [\"k\"][2]: expected int, got NoneType");
  EXPECT_EQ(refusal<std::optional<int>>(Value("x")), "expected std::optional<int>, got str");
  EXPECT_EQ(refusal<std::optional<std::vector<int>>>(read_json(R"([true])")),
            "at [0]: expected int, got bool");
}

TEST(Convert, UserTypeErrorsNameTheField) {
  EXPECT_EQ(refusal<Point>(read_json(R"({"x":1})")), "at [\"y\"]: expected double, got nothing (no such key)");
  EXPECT_EQ(refusal<Point>(read_json(R"({"x":1,"y":"north"})")), "at [\"y\"]: expected double, got str");
  EXPECT_EQ(refusal<Point>(Value(3)), "expected an object with key \"x\", got int");
}

}  // namespace
