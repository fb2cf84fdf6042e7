-- Append facts to the event stream and fold each into the state, in one atomic step, so the
-- state in Redis always matches an exact stream position. Each stream entry also records what
-- it did (created a card or banner: 'c'; the metric payload it replaced: 'p'), so any process
-- renders any entry, live or replayed, as the process that appended it did.
--
-- KEYS and the fixed ARGV are bound by name below, in the order app/hubs/redis.py passes them
-- (KEY_NAMES, APPEND_ARGV); it refuses to load this file if the names differ.
local events, metrics, prev, feed, alerts, alert_order, version, seq, metric_order, updated, history =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]
local maxlen, feed_size, newest_ts = ARGV[1], ARGV[2], ARGV[3]

-- Then one (kind, key, payload, guard) quadruple per fact, from FIRST_FACT on. The guard of a
-- stale mark is the exact payload of the point it marks, which must still be the card's
-- newest (a point that arrived meanwhile wins; the mark then changes nothing); that of a point
-- is the seconds of history its card keeps; '' for the others.
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

-- A card's history, as app/domain/history.py folds it (tests/hubs/test_contract.py proves the
-- two agree): `history` maps each card to its newest point's time; `<history>:<card>:1` holds
-- its raw seconds and `<history>:<card>:60` its 1 min roll-ups, one member per second or
-- bucket, scored by its start: 'ts|min|max|last|count|last_ts', numbers written exactly.
local RAW_SECONDS, BUCKET_SECONDS = 900, 60

local function history_row(ts, low, high, last, count, last_ts)
  return string.format('%d|%.17g|%.17g|%.17g|%d|%.17g', ts, low, high, last, count, last_ts)
end

local function history_cell(key, at)
  local member = redis.call('ZRANGEBYSCORE', key, at, at)[1]
  if not member then return nil end
  local ts, low, high, last, count, last_ts =
    string.match(member, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  return member, tonumber(low), tonumber(high), tonumber(last), tonumber(count), tonumber(last_ts)
end

local function fold_history(name, ts, value, retention)
  local raw, buckets = history .. ':' .. name .. ':1', history .. ':' .. name .. ':60'
  local newest = tonumber(redis.call('HGET', history, name) or '')
  local second = math.floor(ts)
  local stop = second
  if newest then stop = math.floor(newest) end
  if second <= stop - retention then return end  -- older than anything kept
  if second > stop - RAW_SECONDS then
    local member, _, _, _, count, last_ts = history_cell(raw, second)
    if not member then
      redis.call('ZADD', raw, second, history_row(second, value, value, value, 1, ts))
    elseif ts >= last_ts then  -- a newer point in the same second replaces the older
      redis.call('ZREM', raw, member)
      redis.call('ZADD', raw, second, history_row(second, value, value, value, count + 1, ts))
    end
  end
  local start = second - second % BUCKET_SECONDS
  local member, low, high, last, count, last_ts = history_cell(buckets, start)
  if not member then
    redis.call('ZADD', buckets, start, history_row(start, value, value, value, 1, ts))
  else
    if ts >= last_ts then last, last_ts = value, ts end
    redis.call('ZREM', buckets, member)
    redis.call('ZADD', buckets, start,
               history_row(start, math.min(low, value), math.max(high, value), last, count + 1, last_ts))
  end
  if not newest or ts > newest then
    redis.call('HSET', history, name, string.format('%.17g', ts))
    redis.call('ZREMRANGEBYSCORE', raw, '-inf', second - RAW_SECONDS)
    redis.call('ZREMRANGEBYSCORE', buckets, '-inf', second - retention - BUCKET_SECONDS)
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
    local point = cmsgpack.unpack(payload)
    fold_history(key, point.ts, point.value, tonumber(guard))
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
    redis.call('HDEL', history, key)
    redis.call('DEL', history .. ':' .. key .. ':1', history .. ':' .. key .. ':60')
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
