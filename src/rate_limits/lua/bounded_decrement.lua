-- KEYS[1] counter; ARGV amount, minimum, ttl. Subtracts amount unless
-- that goes below minimum; 1 if it did.
local next_value = tonumber(redis.call("get", KEYS[1]) or "0") - tonumber(ARGV[1])
if next_value < tonumber(ARGV[2]) then return 0 end
redis.call("set", KEYS[1], string.format("%d", next_value), "px", ARGV[3])
return 1
