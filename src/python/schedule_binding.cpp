// dramatiq._engine.Scheduler: periodic tasks enqueued by the engine's
// scheduler thread (src/schedule/), and the checks of a schedule's words.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "py_common.hpp"
#include "schedule/scheduler.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace dramatiq::python {

namespace {

using schedule::PeriodicTask;
using schedule::Scheduler;

schedule::Seconds seconds_from_python(double timestamp) {
  return schedule::Seconds(std::chrono::seconds(static_cast<std::int64_t>(timestamp)));
}

nb::object optional_int(const std::optional<std::int64_t>& value) {
  return value ? nb::cast(*value) : nb::none();
}

}  // namespace

void bind_schedules(nb::module_& m) {
  nb::class_<PeriodicTask>(m, "PeriodicTask")
      .def("__init__", [](PeriodicTask* self, std::string name, std::string expression, std::string zone,
                          std::string missed, std::string queue_name, std::string actor_name, nb::handle args,
                          nb::handle kwargs, nb::handle options) {
             new (self) PeriodicTask(schedule::periodic_task(std::move(name), expression, zone, missed,
                                                             std::move(queue_name), std::move(actor_name),
                                                             to_value(args), to_value(kwargs), to_value(options)));
           }, "name"_a, "cron"_a, "timezone"_a, "missed"_a, "queue_name"_a, "actor_name"_a, "args"_a, "kwargs"_a,
           "options"_a, "Raises ValueError saying what is wrong with the cron expression, zone or policy.")
      .def_ro("name", &PeriodicTask::name)
      .def_prop_ro("cron", [](const PeriodicTask& t) { return t.schedule.expression(); })
      .def_prop_ro("timezone", [](const PeriodicTask& t) { return t.zone->name(); })
      .def_prop_ro("missed", [](const PeriodicTask& t) { return schedule::missed_ticks_name(t.missed); })
      .def_ro("queue_name", &PeriodicTask::queue_name)
      .def_ro("actor_name", &PeriodicTask::actor_name)
      .def_prop_ro("args", [](const PeriodicTask& t) { return from_value(t.args); })
      .def_prop_ro("kwargs", [](const PeriodicTask& t) { return from_value(t.kwargs); })
      .def("next_after", [](const PeriodicTask& t, double timestamp) -> nb::object {
             auto next = t.schedule.next_after(seconds_from_python(timestamp), *t.zone);
             if (!next) return nb::none();
             return nb::cast(static_cast<std::int64_t>(next->time_since_epoch().count()));
           }, "timestamp"_a, "The first tick (Unix seconds) strictly after `timestamp`, or None.");

  nb::class_<Scheduler>(m, "Scheduler")
      .def("__init__", [](Scheduler* self, std::shared_ptr<Broker> broker, std::vector<PeriodicTask> tasks) {
             new (self) Scheduler(std::move(broker), std::move(tasks));
           }, "broker"_a, "tasks"_a)
      .def("start", &Scheduler::start, nb::call_guard<nb::gil_scoped_release>())
      .def("stop", &Scheduler::stop, nb::call_guard<nb::gil_scoped_release>())
      .def("run_due", [](Scheduler& s, double now) {
             auto outcomes = without_gil_interruptibly([&] { return s.run_due(seconds_from_python(now)); });
             nb::list out;
             for (const auto& o : outcomes) {
               nb::dict item;
               item["name"] = o.name;
               item["tick_ms"] = o.tick_ms;
               item["enqueued"] = o.enqueued;
               item["missed"] = o.missed;
               item["error"] = o.error.empty() ? nb::none() : nb::cast(o.error);
               out.append(item);
             }
             return out;
           }, "now"_a, "One pass at `now` (Unix seconds): enqueues what is due; a dict per schedule it handled.")
      .def("states", [](Scheduler& s, double now) {
             auto states = without_gil_interruptibly([&] { return s.states(seconds_from_python(now)); });
             nb::list out;
             for (const auto& state : states) {
               out.append(nb::make_tuple(state.task->name, optional_int(state.last_tick_ms),
                                         optional_int(state.next_tick_ms)));
             }
             return out;
           }, "now"_a, "(name, last tick ms or None, next tick ms or None) per schedule.");
}

}  // namespace dramatiq::python
