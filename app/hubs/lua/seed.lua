-- Write a process's last known state into a Redis that came back empty (no persistence), so
-- a process started afterwards shows the same page. Does nothing if the state is there.
--
-- KEYS and the fixed ARGV are bound by name below, in the order app/hubs/redis.py passes them
-- (KEY_NAMES, SEED_ARGV); it refuses to load this file if the names differ.
local events, metrics, prev, feed, alerts, alert_order, version, seq, metric_order, updated, history =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]
local at_version, updated_at = ARGV[1], ARGV[2]

-- Then four counted lists, from FIRST_LIST on: n, (name, payload, replaced payload or '') * n;
-- m, feed payloads (newest first) * m; k, (alert id, payload) * k; h, per card (name, newest
-- point's time, r, (resolution, start, member) * r) * h: its history as append.lua keeps it.
local FIRST_LIST = 3

if redis.call('EXISTS', version) == 1 then return 0 end
local i = FIRST_LIST
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local name, payload, replaced = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  redis.call('HSET', metrics, name, payload)
  redis.call('ZADD', metric_order, redis.call('INCR', seq), name)
  if replaced ~= '' then redis.call('HSET', prev, name, replaced) end
  i = i + 3
end
local m = tonumber(ARGV[i]); i = i + 1
for _ = 1, m do
  redis.call('RPUSH', feed, ARGV[i])
  i = i + 1
end
local k = tonumber(ARGV[i]); i = i + 1
for _ = 1, k do
  local id, payload = ARGV[i], ARGV[i + 1]
  redis.call('HSET', alerts, id, payload)
  redis.call('ZADD', alert_order, redis.call('INCR', seq), id)
  i = i + 2
end
local h = tonumber(ARGV[i]); i = i + 1
for _ = 1, h do
  local name, newest, r = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  redis.call('HSET', history, name, newest)
  i = i + 3
  for _ = 1, r do
    redis.call('ZADD', history .. ':' .. name .. ':' .. ARGV[i], ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  end
end
redis.call('SET', updated, updated_at)
redis.call('SET', version, at_version)
return 1
