-- KEYS[1] counter; ARGV amount, maximum, ttl. Adds amount unless that
-- passes maximum; 1 if it did. Values are written with %d so large counts
-- never turn into Lua's exponent notation.
local next_value = tonumber(redis.call("get", KEYS[1]) or "0") + tonumber(ARGV[1])
if next_value > tonumber(ARGV[2]) then return 0 end
redis.call("set", KEYS[1], string.format("%d", next_value), "px", ARGV[3])
return 1
