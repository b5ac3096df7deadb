-- KEYS[1] counter, KEYS[2..] the counters whose sum is bounded; ARGV
-- amount, maximum, ttl. Adds amount to KEYS[1] unless it or the sum would
-- pass maximum; 1 if it did.
local amount = tonumber(ARGV[1])
local maximum = tonumber(ARGV[2])
local next_value = tonumber(redis.call("get", KEYS[1]) or "0") + amount
if next_value > maximum then return 0 end
local total = amount
for i = 2, #KEYS do
  total = total + tonumber(redis.call("get", KEYS[i]) or "0")
end
if total > maximum then return 0 end
redis.call("set", KEYS[1], string.format("%d", next_value), "px", ARGV[3])
return 1
