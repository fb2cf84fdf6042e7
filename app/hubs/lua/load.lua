-- Read the whole dashboard state at one stream position: the version, the metrics in the
-- order they first appeared (with the payload each replaced), the feed (newest first), the
-- open alerts in the order they were raised, the newest timestamp folded in, and each card's
-- history (name, raw second rows, roll-up rows; see append.lua).
--
-- KEYS are bound by name below, in the order app/hubs/redis.py passes them (KEY_NAMES); it
-- refuses to load this file if the names differ.
local events, metrics, prev, feed, alerts, alert_order, version, seq, metric_order, updated, history =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]

local open_alerts, metric_payloads, previous_payloads = {}, {}, {}
for _, id in ipairs(redis.call('ZRANGE', alert_order, 0, -1)) do
  local alert = redis.call('HGET', alerts, id)
  if alert then open_alerts[#open_alerts + 1] = alert end
end
for _, name in ipairs(redis.call('ZRANGE', metric_order, 0, -1)) do
  local metric = redis.call('HGET', metrics, name)
  if metric then
    metric_payloads[#metric_payloads + 1] = metric
    previous_payloads[#previous_payloads + 1] = redis.call('HGET', prev, name) or ''
  end
end
local histories = {}
for _, name in ipairs(redis.call('HKEYS', history)) do
  histories[#histories + 1] = {
    name,
    redis.call('ZRANGE', history .. ':' .. name .. ':1', 0, -1),
    redis.call('ZRANGE', history .. ':' .. name .. ':60', 0, -1),
  }
end
return {
  redis.call('GET', version) or '',
  metric_payloads,
  previous_payloads,
  redis.call('LRANGE', feed, 0, -1),
  open_alerts,
  redis.call('GET', updated) or '',
  histories,
}
