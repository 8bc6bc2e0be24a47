"""The Lua scripts of the cluster state: each one atomic in Redis, so two nodes racing on
one user (connecting, disconnecting, or noticing the same dead node) cannot both win.

Key layout under the configured prefix ``P``:

- ``P bus``: the pub/sub channel of every envelope;
- ``P nodes``: the set of live node ids;
- ``P hb:<node>``: the node's heartbeat, a key with a TTL that the node keeps refreshing;
- ``P conns:<node>``: hash user id -> that user's connection count on the node;
- ``P names``: hash user id -> name (to announce a dead node's users as offline);
- ``P rl:<window>:<key>``: a sorted set of one rate-limit window's events;
- ``P bo:<name>:<key>`` / ``P bo:<name>:<key>:next``: a backoff throttle's failures (a
  sorted set) and the time (ms, Redis clock) before which no new attempt may start;
- ``P slots:<name>`` / ``P slots:<name>:<key>``: concurrency slots (uploads in flight), a
  sorted set of tokens scored by their lease's end, renewed by the holding node's
  heartbeat: a node that dies stops renewing, and its slots lapse within the node TTL.

The scripts touch keys built from the prefix and the node ids in ``P nodes``, which a
single Redis (not Redis Cluster) allows.
"""

from __future__ import annotations

# KEYS: nodes, conns:me, names. ARGV: me, user, name, limit, prefix, channel, up envelope.
# -> the user's connection count in the cluster before this one, or -1 (over the limit)
ADMIT = """
local mine = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
local total = mine
for _, n in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if n ~= ARGV[1] then
    total = total + tonumber(redis.call('HGET', ARGV[5] .. 'conns:' .. n, ARGV[2]) or '0')
  end
end
local limit = tonumber(ARGV[4])
if limit > 0 and total >= limit then return -1 end
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
if mine == 0 then redis.call('PUBLISH', ARGV[6], ARGV[7]) end
return total
"""

# KEYS: nodes, conns:me. ARGV: me, user, prefix, channel, down envelope.
# -> the user's connection count left in the cluster
RELEASE = """
local mine = redis.call('HINCRBY', KEYS[2], ARGV[2], -1)
if mine <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[2])
  redis.call('PUBLISH', ARGV[4], ARGV[5])
  mine = 0
end
local total = mine
for _, n in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if n ~= ARGV[1] then
    total = total + tonumber(redis.call('HGET', ARGV[3] .. 'conns:' .. n, ARGV[2]) or '0')
  end
end
return total
"""

# KEYS: nodes, names. ARGV: gone node, prefix, channel, gone envelope.
# Removes the node (its heartbeat expired, or it says goodbye) and its counts; returns
# [user id, name, ...] of its users now connected nowhere, or nil when another node
# already did it.
CLAIM = """
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return nil end
local h = ARGV[2] .. 'conns:' .. ARGV[1]
local users = redis.call('HKEYS', h)
redis.call('DEL', h)
local live = redis.call('SMEMBERS', KEYS[1])
local out = {}
for _, u in ipairs(users) do
  local total = 0
  for _, n in ipairs(live) do
    total = total + tonumber(redis.call('HGET', ARGV[2] .. 'conns:' .. n, u) or '0')
  end
  if total == 0 then
    out[#out + 1] = u
    out[#out + 1] = redis.call('HGET', KEYS[2], u) or ''
  end
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return out
"""

# KEYS: window key. ARGV: limit, window ms, mode (allow | add | count), unique member.
# A sliding window on Redis's own clock: allow -> count after adding, or -1 when full;
# add -> count after adding (the oldest beyond the limit are dropped); count -> count.
WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if ARGV[3] == 'count' then return n end
local limit = tonumber(ARGV[1])
if ARGV[3] == 'allow' and n >= limit then return -1 end
redis.call('ZADD', KEYS[1], now, t[1] .. '.' .. t[2] .. ARGV[4])
if n + 1 > limit then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - limit) end
redis.call('PEXPIRE', KEYS[1], window)
return n + 1
"""

# KEYS: failures, next. ARGV: mode (reserve | failed | release | succeeded), limit,
# window ms, free, base ms, max delay ms, unique member.
# A BackoffThrottle on Redis's clock. reserve -> {1, 0} (an attempt counted as failed in
# advance) or {0, wait ms}; failed / release / succeeded -> {1, 0}.
BACKOFF = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mode = ARGV[1]
if mode == 'succeeded' then
  redis.call('DEL', KEYS[1], KEYS[2])
  return {1, 0}
end
local limit, window = tonumber(ARGV[2]), tonumber(ARGV[3])
local free, base, maxd = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local function delay(n)
  if n < free then return 0 end
  return math.min(base * 2 ^ (n - free), maxd)
end
local function set_next(at)
  if at > now then
    redis.call('SET', KEYS[2], at, 'PX', math.max(1, math.floor(at - now)))
  else
    redis.call('DEL', KEYS[2])
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
local nxt = tonumber(redis.call('GET', KEYS[2]) or '0')
if mode == 'reserve' then
  if now < nxt then return {0, nxt - now} end
  if n >= limit then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {0, math.max(1, tonumber(oldest[2]) + window - now)}
  end
  redis.call('ZADD', KEYS[1], now, t[1] .. '.' .. t[2] .. ARGV[7])
  redis.call('PEXPIRE', KEYS[1], window)
  set_next(now + delay(n + 1))
elseif mode == 'failed' then
  if n > 0 then set_next(math.max(nxt, now + delay(n))) end
elseif mode == 'release' then
  redis.call('ZPOPMAX', KEYS[1])
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  if #last == 0 then
    redis.call('DEL', KEYS[2])
  else
    set_next(tonumber(last[2]) + delay(n - 1))
  end
end
return {1, 0}
"""

# KEYS: all slots, this key's slots. ARGV: per-key limit, total limit, lease ms, token.
# -> 1 (the token holds a slot until released or its lease ends) or 0 (no slot free).
SLOT_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local per, total = tonumber(ARGV[1]), tonumber(ARGV[2])
if per > 0 and redis.call('ZCARD', KEYS[2]) >= per then return 0 end
if total > 0 and redis.call('ZCARD', KEYS[1]) >= total then return 0 end
redis.call('ZADD', KEYS[1], now + lease, ARGV[4])
redis.call('ZADD', KEYS[2], now + lease, ARGV[4])
redis.call('PEXPIRE', KEYS[1], lease)
redis.call('PEXPIRE', KEYS[2], lease)
return 1
"""

# KEYS: all slots. ARGV: lease ms, key prefix, then (key, token) pairs held by this node.
# Renews the leases of slots still held (a lapsed one is not brought back).
SLOT_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
for i = 3, #ARGV - 1, 2 do
  local k = ARGV[2] .. ARGV[i]
  if redis.call('ZSCORE', KEYS[1], ARGV[i + 1]) then
    redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[i + 1])
    redis.call('ZADD', k, 'XX', now + lease, ARGV[i + 1])
    redis.call('PEXPIRE', k, lease)
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], lease) end
return 1
"""
