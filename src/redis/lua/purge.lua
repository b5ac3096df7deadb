-- Drops a queue's waiting messages, the caller's ack set and the dead letters.
redis.call("del", queue_key, messages_key, acks_key, dead_key, dead_messages_key)
