-- Lists the messages waiting on the queue (the caller passes the canonical
-- queue): the ready ones in list order, then the delayed ones (every one of
-- q.DQ.msgs, held by a worker waiting for its eta or not), at most `limit`.
-- ARGV from FIRST_ARG: limit. Returns {data, delayed ("0"/"1"), ...}.
local limit = tonumber(ARGV[FIRST_ARG])
local listed = {}
local ids = redis.call("lrange", queue_key, 0, limit - 1)
if #ids > 0 then
  local data = call_in_slices("hmget", messages_key, ids)
  for i = 1, #ids do
    if data[i] then
      listed[#listed + 1] = data[i]
      listed[#listed + 1] = "0"
    end
  end
end
local delayed_key = queue_key .. ".DQ.msgs"
local cursor = "0"
repeat
  if #listed >= 2 * limit then break end
  local page = redis.call("hscan", delayed_key, cursor, "COUNT", 100)
  cursor = page[1]
  local entries = page[2]
  for i = 2, #entries, 2 do
    if #listed >= 2 * limit then break end
    listed[#listed + 1] = entries[i]
    listed[#listed + 1] = "1"
  end
until cursor == "0"
return listed
