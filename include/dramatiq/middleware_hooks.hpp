// The middleware hook list: the one place that names every hook, in
// upstream Dramatiq's order, with the shape of its arguments and what it is
// for. The Middleware virtuals, the Python adapter's dispatch and the Python
// dramatiq.Middleware base class (via the extension module) are all generated
// from it, so adding or changing a hook here changes all three.
#pragma once

// X(name, shape, doc) for each hook. `shape` picks the parameter list from
// DRAMATIQ_HOOK_PARAMS_<shape> below; `doc` is the hook's documentation
// (also its Python docstring).
#define DRAMATIQ_MIDDLEWARE_HOOKS(X)                                                            \
  X(before_ack, message, "Called before a message is acknowledged.")                           \
  X(after_ack, message, "Called after a message is acknowledged.")                             \
  X(before_nack, message, "Called before a message is rejected.")                              \
  X(after_nack, message, "Called after a message is rejected.")                                \
  X(before_declare_actor, actor, "Called before an actor is declared.")                        \
  X(after_declare_actor, actor, "Called after an actor has been declared.")                    \
  X(before_declare_queue, queue, "Called before a queue is declared.")                         \
  X(after_declare_queue, queue, "Called after a queue has been declared.")                     \
  X(after_declare_delay_queue, queue, "Called after a delay queue has been declared.")         \
  X(before_enqueue, enqueue, "Called before a message is enqueued.")                           \
  X(after_enqueue, enqueue, "Called after a message has been enqueued.")                       \
  X(before_delay_message, message,                                                             \
    "Called before a message is put on the worker's delay queue.")                             \
  X(before_process_message, message, "Called before a message is processed.")                  \
  X(after_process_message, processed, "Called after a message has been processed.")           \
  X(after_skip_message, message,                                                               \
    "Called instead of after_process_message for skipped messages.")                           \
  X(after_process_boot, process, "Called immediately after a worker process boots.")           \
  X(before_process_stop, process, "Called before a worker process stops.")                     \
  X(after_process_stop, process, "Called after a worker process stops.")                       \
  X(before_worker_boot, worker, "Called before the worker starts.")                            \
  X(after_worker_boot, worker, "Called after the worker starts.")                              \
  X(before_worker_shutdown, worker, "Called before the worker shuts down.")                    \
  X(after_worker_shutdown, worker, "Called after the worker shuts down.")                      \
  X(after_consumer_thread_boot, thread, "Called from a consumer thread after it starts.")      \
  X(before_consumer_thread_shutdown, thread, "Called from a consumer thread before it stops.") \
  X(after_worker_thread_boot, thread, "Called from a worker thread after it starts.")          \
  X(before_worker_thread_shutdown, thread, "Called from a worker thread before it stops.")

// The C++ parameters of each shape. The names are part of the shape so that
// generated overrides (the Python adapter's) can forward them with
// DRAMATIQ_HOOK_ARGS_<shape>; [[maybe_unused]] keeps the empty defaults quiet.
#define DRAMATIQ_HOOK_PARAMS_message [[maybe_unused]] Broker &broker, [[maybe_unused]] MessageProxy &message
#define DRAMATIQ_HOOK_ARGS_message broker, message
#define DRAMATIQ_HOOK_PARAMS_actor [[maybe_unused]] Broker &broker, [[maybe_unused]] Actor &actor
#define DRAMATIQ_HOOK_ARGS_actor broker, actor
#define DRAMATIQ_HOOK_PARAMS_queue \
  [[maybe_unused]] Broker &broker, [[maybe_unused]] const std::string &queue_name
#define DRAMATIQ_HOOK_ARGS_queue broker, queue_name
#define DRAMATIQ_HOOK_PARAMS_enqueue \
  [[maybe_unused]] Broker &broker, [[maybe_unused]] Message &message, [[maybe_unused]] Delay delay
#define DRAMATIQ_HOOK_ARGS_enqueue broker, message, delay
// Exactly one of result/failure is non-null.
#define DRAMATIQ_HOOK_PARAMS_processed                                                  \
  [[maybe_unused]] Broker &broker, [[maybe_unused]] MessageProxy &message,             \
      [[maybe_unused]] const Value *result, [[maybe_unused]] const Failure *failure
#define DRAMATIQ_HOOK_ARGS_processed broker, message, result, failure
#define DRAMATIQ_HOOK_PARAMS_process [[maybe_unused]] Broker &broker
#define DRAMATIQ_HOOK_ARGS_process broker
#define DRAMATIQ_HOOK_PARAMS_worker [[maybe_unused]] Broker &broker, [[maybe_unused]] Worker &worker
#define DRAMATIQ_HOOK_ARGS_worker broker, worker
#define DRAMATIQ_HOOK_PARAMS_thread \
  [[maybe_unused]] Broker &broker, [[maybe_unused]] const ThreadInfo &thread
#define DRAMATIQ_HOOK_ARGS_thread broker, thread
