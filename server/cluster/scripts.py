"""The Lua scripts of the cluster state: each one atomic in Redis, so two nodes racing on
one user (connecting, disconnecting, or noticing the same dead node) cannot both win.

Key layout under the configured prefix ``P``:

- ``P bus``: the pub/sub channel of every envelope;
- ``P nodes``: the set of live node ids;
- ``P hb:<node>``: the node's heartbeat, a key with a TTL that the node keeps refreshing;
- ``P conns:<node>``: hash user id -> that user's connection count on the node;
- ``P names``: hash user id -> name (to announce a dead node's users as offline);
- ``P rl:<window>:<key>``: a sorted set of one rate-limit window's events.

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
