-- KEYS[1] event list; ARGV ttl. Waiters rotate the list (BRPOPLPUSH onto
-- itself), so the event stays for later waiters until it expires.
redis.call("rpush", KEYS[1], "x")
redis.call("pexpire", KEYS[1], ARGV[1])
return 1
