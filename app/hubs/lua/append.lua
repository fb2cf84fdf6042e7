-- Append facts to the event stream and fold each into the state, in one atomic step, so the
-- state in Redis always matches an exact stream position. Each stream entry also records what
-- it did (created a card or banner: 'c'; the metric payload it replaced: 'p'), so any process
-- renders any entry, live or replayed, as the process that appended it did.
--
-- KEYS and the fixed ARGV are bound by name below, in the order app/hubs/redis.py passes them
-- (KEY_NAMES, APPEND_ARGV); it refuses to load this file if the names differ.
local events, metrics, prev, feed, alerts, alert_order, version, seq, metric_order, updated =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local maxlen, feed_size, newest_ts = ARGV[1], ARGV[2], ARGV[3]

-- Then one (kind, key, payload, guard) quadruple per fact, from FIRST_FACT on. The guard is
-- '' except for a stale mark: the exact payload of the point it marks, which must still be
-- the card's newest (a point that arrived meanwhile wins; the mark then changes nothing).
local FIRST_FACT, FACT_ARGS = 4, 4
local METRIC, ACTIVITY, RAISED, RESOLVED, STALE, REMOVED = 'm', 'a', 'r', 'x', 's', 'd'

-- Refuse a malformed batch before the first write: Redis keeps whatever a failing script
-- wrote before it failed, and the caller is told nothing was recorded.
if #ARGV < FIRST_FACT or (#ARGV - FIRST_FACT + 1) % FACT_ARGS ~= 0 then
  error('append: expected (kind, key, payload, guard) quadruples after the fixed arguments')
end
for i = FIRST_FACT, #ARGV, FACT_ARGS do
  local kind = ARGV[i]
  if kind ~= METRIC and kind ~= ACTIVITY and kind ~= RAISED and kind ~= RESOLVED
      and kind ~= STALE and kind ~= REMOVED then
    error('append: unknown fact kind ' .. kind)
  end
end

local ids = {}
for i = FIRST_FACT, #ARGV, FACT_ARGS do
  local kind, key, payload, guard = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local created, previous = '0', ''
  if kind == METRIC then
    local old = redis.call('HGET', metrics, key)
    if old then
      previous = old
      redis.call('HSET', prev, key, old)
    else
      created = '1'
      redis.call('ZADD', metric_order, redis.call('INCR', seq), key)
    end
    redis.call('HSET', metrics, key, payload)
  elseif kind == ACTIVITY then
    created = '1'
    redis.call('LPUSH', feed, payload)
    redis.call('LTRIM', feed, 0, tonumber(feed_size) - 1)
  elseif kind == RAISED then
    if redis.call('HSET', alerts, key, payload) == 1 then
      created = '1'
      redis.call('ZADD', alert_order, redis.call('INCR', seq), key)
    end
  elseif kind == RESOLVED then
    if redis.call('HDEL', alerts, key) == 1 then created = '1' end
    redis.call('ZREM', alert_order, key)
  elseif kind == STALE then
    -- The stale payload takes the point's place (it repeats the point), until the next point.
    if redis.call('HGET', metrics, key) == guard then
      created = '1'
      redis.call('HSET', metrics, key, payload)
    end
  elseif kind == REMOVED then
    if redis.call('HDEL', metrics, key) == 1 then created = '1' end
    redis.call('HDEL', prev, key)
    redis.call('ZREM', metric_order, key)
  else
    error('append: unknown fact kind ' .. kind)
  end
  ids[#ids + 1] = redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*',
                             'f', payload, 'c', created, 'p', previous)
end
redis.call('SET', version, ids[#ids])
local current = redis.call('GET', updated)
if not current or tonumber(newest_ts) > tonumber(current) then
  redis.call('SET', updated, newest_ts)
end
return ids
