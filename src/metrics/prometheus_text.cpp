// Prometheus text exposition (format 0.0.4) of merged metrics snapshots,
// written the way prometheus_client writes upstream Dramatiq's metrics:
// labels in alphabetical order, numbers as Python floats ("3.0"), a family's
// HELP/TYPE lines only once it has a sample.
#include <map>
#include <tuple>

#include "dramatiq/json.hpp"
#include "dramatiq/metrics_file.hpp"

namespace dramatiq::metrics {

namespace {

// Python's float repr, as prometheus_client prints every sample value.
std::string number(double value) { return to_json(Value(value)); }

void append_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void append_label(std::string& out, const char* name, std::string_view value, bool first) {
  if (!first) out += ',';
  out += name;
  out += "=\"";
  append_escaped(out, value);
  out += '"';
}

using Labels = std::pair<std::string, std::string>;  // queue_name, actor_name

void sample(std::string& out, const std::string& name, const Labels& labels, double value,
            const std::string* le = nullptr, const std::int64_t* pid = nullptr) {
  out += name;
  out += '{';
  append_label(out, "actor_name", labels.second, true);
  if (le) append_label(out, "le", *le, false);
  if (pid) append_label(out, "pid", std::to_string(*pid), false);
  append_label(out, "queue_name", labels.first, false);
  out += "} ";
  out += number(value);
  out += '\n';
}

void family(std::string& out, const std::string& name, const char* help, const char* type) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

bool touched(const SeriesSnapshot& s, Metric metric) {
  return (s.touched >> static_cast<std::size_t>(metric)) & 1;
}

std::int64_t value_of(const SeriesSnapshot& s, Metric metric) {
  return s.values[static_cast<std::size_t>(metric)];
}

struct Counter {
  Metric metric;
  const char* name;
  const char* help;
};

// Upstream Dramatiq's metrics, in its declaration order.
constexpr Counter kCounters[] = {
    {Metric::Messages, "dramatiq_messages_total", "The total number of messages processed."},
    {Metric::Errors, "dramatiq_message_errors_total", "The total number of errored messages."},
    {Metric::Retries, "dramatiq_message_retries_total", "The total number of retried messages."},
    {Metric::Rejects, "dramatiq_message_rejects_total", "The total number of dead-lettered messages."},
};

struct Histogram {
  std::array<std::uint64_t, kBucketCount> buckets{};
  std::int64_t sum_micros = 0;
};

}  // namespace

std::string render_prometheus(const std::vector<SeriesSnapshot>& snapshots) {
  std::string out;

  for (const Counter& counter : kCounters) {
    std::map<Labels, std::int64_t> totals;  // every process, dead or alive
    for (const auto& s : snapshots) {
      if (touched(s, counter.metric)) totals[{s.queue_name, s.actor_name}] += value_of(s, counter.metric);
    }
    if (totals.empty()) continue;
    family(out, counter.name, counter.help, "counter");
    for (const auto& [labels, total] : totals) sample(out, counter.name, labels, static_cast<double>(total));
  }

  {
    // A dead process runs nothing: only live processes count.
    std::map<Labels, std::int64_t> totals;
    for (const auto& s : snapshots) {
      if (s.live && touched(s, Metric::InProgress)) {
        totals[{s.queue_name, s.actor_name}] += value_of(s, Metric::InProgress);
      }
    }
    const std::string name = "dramatiq_messages_inprogress";
    if (!totals.empty()) family(out, name, "The number of messages in progress.", "gauge");
    for (const auto& [labels, total] : totals) sample(out, name, labels, static_cast<double>(total));
  }

  {
    // Per process, as upstream reports this gauge (with a pid label); only
    // live processes hold delayed messages in memory.
    std::map<std::tuple<Labels, std::int64_t>, std::int64_t> held;
    for (const auto& s : snapshots) {
      if (s.live && touched(s, Metric::Delayed)) {
        held[{{s.queue_name, s.actor_name}, s.pid}] += value_of(s, Metric::Delayed);
      }
    }
    const std::string name = "dramatiq_delayed_messages_inprogress";
    if (!held.empty()) family(out, name, "The number of delayed messages in memory.", "gauge");
    for (const auto& [key, count] : held) {
      sample(out, name, std::get<0>(key), static_cast<double>(count), nullptr, &std::get<1>(key));
    }
  }

  {
    std::map<Labels, Histogram> histograms;
    for (const auto& s : snapshots) {
      if (!touched(s, Metric::DurationMicros)) continue;
      Histogram& h = histograms[{s.queue_name, s.actor_name}];
      for (std::size_t i = 0; i < kBucketCount; ++i) h.buckets[i] += s.buckets[i];
      h.sum_micros += value_of(s, Metric::DurationMicros);
    }
    const std::string name = "dramatiq_message_duration_milliseconds";
    if (!histograms.empty()) family(out, name, "The time spent processing messages.", "histogram");
    for (const auto& [labels, h] : histograms) {
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < kBucketCount; ++i) {
        cumulative += h.buckets[i];
        std::string le = i < kDurationBucketsMs.size() ? number(kDurationBucketsMs[i]) : "+Inf";
        sample(out, name + "_bucket", labels, static_cast<double>(cumulative), &le);
      }
      sample(out, name + "_count", labels, static_cast<double>(cumulative));
      sample(out, name + "_sum", labels, static_cast<double>(h.sum_micros) / 1000.0);
    }
  }
  return out;
}

}  // namespace dramatiq::metrics
