/**
 * Lua scripts run atomically inside Redis, so replicas never race on shared state. Times come from
 * Redis' own clock (TIME) so replicas with skewed clocks still agree. Key layouts built here must
 * match keys.ts. The scripts derive some keys from the prefix, so they need a single Redis primary
 * (or Sentinel), not Redis Cluster.
 */

const NOW = `local __t = redis.call('TIME')
local now = tonumber(__t[1]) * 1000 + math.floor(tonumber(__t[2]) / 1000)`;

/** KEYS: sock, instSocks, userSocks, presence, activity. ARGV: sid, acct, uid, inst, ip, ua, transport, device, activityMember */
export const CONNECT = `${NOW}
redis.call('HSET', KEYS[1], 'acct', ARGV[2], 'uid', ARGV[3], 'inst', ARGV[4], 'at', now, 'ip', ARGV[5], 'ua', ARGV[6], 'tr', ARGV[7], 'dev', ARGV[8])
redis.call('SADD', KEYS[2], ARGV[1])
if ARGV[3] == '' then return {0, '', '', now} end
redis.call('SADD', KEYS[3], ARGV[1])
local count = redis.call('SCARD', KEYS[3])
local prev = redis.call('HGET', KEYS[4], 'status') or 'offline'
local manual = redis.call('HGET', KEYS[4], 'manual')
local status = prev
if prev == 'offline' or (prev == 'away' and manual ~= '1') then
  status = 'online'
  redis.call('HSET', KEYS[4], 'status', 'online', 'manual', '0', 'updated', now)
end
redis.call('HSET', KEYS[4], 'active', now)
redis.call('PERSIST', KEYS[4])
if status == 'online' then redis.call('ZADD', KEYS[5], now, ARGV[9]) end
return {count, prev, status, now}`;

/**
 * Removes one socket (normal disconnect). KEYS: sock, sockRooms, instSocks, userSocks, presence, activity.
 * ARGV: sid, activityMember, roomKeyPrefix (prefix:a:acct:r:), uid, presenceTtlMs.
 * Returns {-1} when the socket was already gone (reaped), else {count, prev, status, leftRooms}.
 */
export const DISCONNECT = `${NOW}
if redis.call('DEL', KEYS[1]) == 0 then return {-1} end
local rooms = redis.call('SMEMBERS', KEYS[2])
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
if ARGV[4] == '' then return {0, '', '', {}} end
local left = {}
for _, rid in ipairs(rooms) do
  local okey = ARGV[3] .. rid .. ':online'
  local n = redis.call('HINCRBY', okey, ARGV[4], -1)
  if n <= 0 then
    redis.call('HDEL', okey, ARGV[4])
    table.insert(left, rid)
  end
end
redis.call('SREM', KEYS[4], ARGV[1])
local count = redis.call('SCARD', KEYS[4])
local prev = redis.call('HGET', KEYS[5], 'status') or 'offline'
local status = prev
if count == 0 then
  status = 'offline'
  redis.call('HSET', KEYS[5], 'status', 'offline', 'manual', '0', 'updated', now)
  redis.call('PEXPIRE', KEYS[5], ARGV[5])
  redis.call('ZREM', KEYS[6], ARGV[2])
end
return {count, prev, status, left}`;

/** KEYS: instances. ARGV: instanceId. Returns {added (1 = we were absent/reaped), now}. */
export const HEARTBEAT = `${NOW}
local added = redis.call('ZADD', KEYS[1], now, ARGV[1])
return {added, now}`;

/** KEYS: instances. ARGV: ttlMs. Instances whose heartbeat is older than ttl. */
export const DEAD_INSTANCES = `${NOW}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))`;

/**
 * Cleans up after a dead replica, exactly once (the ZREM decides who reaps). KEYS: instances, instSocks.
 * ARGV: instanceId, prefix, ttlMs, presenceTtlMs.
 * Returns a list of {sid, acct, uid, count, prev, status, leftRooms}.
 */
export const REAP_INSTANCE = `${NOW}
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return {} end
if tonumber(score) > now - tonumber(ARGV[3]) then return {} end
redis.call('ZREM', KEYS[1], ARGV[1])
local sids = redis.call('SMEMBERS', KEYS[2])
redis.call('DEL', KEYS[2])
local out = {}
for _, sid in ipairs(sids) do
  local skey = ARGV[2] .. ':sock:' .. sid
  local acct = redis.call('HGET', skey, 'acct')
  local uid = redis.call('HGET', skey, 'uid')
  local rooms = redis.call('SMEMBERS', skey .. ':rooms')
  redis.call('DEL', skey, skey .. ':rooms')
  if acct and uid and uid ~= '' then
    local a = ARGV[2] .. ':a:' .. acct
    local left = {}
    for _, rid in ipairs(rooms) do
      local okey = a .. ':r:' .. rid .. ':online'
      local n = redis.call('HINCRBY', okey, uid, -1)
      if n <= 0 then
        redis.call('HDEL', okey, uid)
        table.insert(left, rid)
      end
    end
    local usocks = a .. ':u:' .. uid .. ':socks'
    redis.call('SREM', usocks, sid)
    local count = redis.call('SCARD', usocks)
    local pkey = a .. ':u:' .. uid .. ':presence'
    local prev = redis.call('HGET', pkey, 'status') or 'offline'
    local status = prev
    if count == 0 then
      status = 'offline'
      redis.call('HSET', pkey, 'status', 'offline', 'manual', '0', 'updated', now)
      redis.call('PEXPIRE', pkey, ARGV[4])
      redis.call('ZREM', ARGV[2] .. ':activity', acct .. '|' .. uid)
    end
    table.insert(out, {sid, acct, uid, count, prev, status, left})
  elseif acct then
    table.insert(out, {sid, acct, '', 0, '', '', {}})
  end
end
return out`;

/** KEYS: sockRooms, roomOnline. ARGV: roomId, uid. -1 = already joined; else the user's socket count in the room. */
export const JOIN_ROOM = `if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return -1 end
if ARGV[2] == '' then return 0 end
return redis.call('HINCRBY', KEYS[2], ARGV[2], 1)`;

/** KEYS: sockRooms, roomOnline. ARGV: roomId, uid. -1 = was not joined; else sockets of the user left in the room. */
export const LEAVE_ROOM = `if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return -1 end
if ARGV[2] == '' then return 0 end
local n = redis.call('HINCRBY', KEYS[2], ARGV[2], -1)
if n <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[2])
  return 0
end
return n`;

/**
 * Appends to a room's sequenced log. KEYS: member, seq, log. ARGV: event, body (JSON object without
 * seq), maxLen, ttlMs, checkMember (1/0) and optionally channel, packet, seqOffset: the entry encoded
 * for the Socket.IO Redis adapter (see LogPublication), published with its seq written in as a
 * big-endian float64 — atomically with the append, so replicas receive a room's entries in order.
 * Returns {'OK', seq} or {'LOAD'} (member not cached) / {'NOT_A_MEMBER'} / {'BANNED'} / {'MUTED', until}.
 */
export const APPEND = `${NOW}
if ARGV[5] == '1' then
  local m = redis.call('GET', KEYS[1])
  if not m then return {'LOAD'} end
  if m == 'none' then return {'NOT_A_MEMBER'} end
  local member = cjson.decode(m)
  if member.banned == true then return {'BANNED'} end
  if type(member.mutedUntil) == 'number' and member.mutedUntil > now then
    return {'MUTED', tostring(member.mutedUntil)}
  end
end
local seq = redis.call('INCR', KEYS[2])
if tonumber(ARGV[3]) > 0 then
  local body = '{"seq":' .. seq .. ',' .. string.sub(ARGV[2], 2)
  redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[3], '*', 'e', ARGV[1], 'd', body)
  redis.call('XTRIM', KEYS[3], 'MINID', tostring(now - tonumber(ARGV[4])))
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
end
if ARGV[6] then
  local at = tonumber(ARGV[8])
  redis.call('PUBLISH', ARGV[6], string.sub(ARGV[7], 1, at) .. struct.pack('>d', seq) .. string.sub(ARGV[7], at + 9))
end
return {'OK', seq, now}`;

/** KEYS: seq, log. ARGV: sinceSeq, limit, ttlMs. Returns {lastSeq, entries (newest first)}. */
export const HISTORY = `${NOW}
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local since = tonumber(ARGV[1])
local want = last - since
if want > tonumber(ARGV[2]) then want = tonumber(ARGV[2]) end
if want <= 0 then return {last, {}} end
redis.call('XTRIM', KEYS[2], 'MINID', tostring(now - tonumber(ARGV[3])))
return {last, redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', want)}`;

/** KEYS: roomTyping, typingIndex. ARGV: roomMember, indexMember, timeoutMs. Returns {added, expiresAt}. */
export const TYPING_START = `${NOW}
local exp = now + tonumber(ARGV[3])
local added = redis.call('ZADD', KEYS[1], exp, ARGV[1])
redis.call('ZADD', KEYS[2], exp, ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 4)
return {added, exp}`;

/** KEYS: roomTyping, typingIndex. ARGV: roomMember, indexMember. Returns 1 when the user was typing. */
export const TYPING_STOP = `local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return removed`;

/** KEYS: roomTyping. Live typers (member, expiresAt) after dropping expired ones. */
export const TYPING_LIST = `${NOW}
return redis.call('ZRANGEBYSCORE', KEYS[1], now + 1, '+inf', 'WITHSCORES', 'LIMIT', 0, 200)`;

/**
 * Pops expired typing entries exactly once across replicas. KEYS: typingIndex. ARGV: prefix, limit.
 * Index members are JSON [acct, roomId, roomMember]. Returns the popped index members.
 */
export const TYPING_SWEEP = `${NOW}
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, m in ipairs(items) do
  if redis.call('ZREM', KEYS[1], m) == 1 then
    local d = cjson.decode(m)
    local rkey = ARGV[1] .. ':a:' .. d[1] .. ':r:' .. d[2] .. ':typing'
    local score = redis.call('ZSCORE', rkey, d[3])
    if score and tonumber(score) <= now then redis.call('ZREM', rkey, d[3]) end
    table.insert(out, m)
  end
end
return out`;

/** KEYS: presence, activity. ARGV: activityMember. Records activity; away (automatic) → online. Returns {changed, now}. */
export const ACTIVITY = `${NOW}
local status = redis.call('HGET', KEYS[1], 'status')
local manual = redis.call('HGET', KEYS[1], 'manual')
if not status or status == 'offline' then return {0, now} end
redis.call('HSET', KEYS[1], 'active', now)
if status == 'away' and manual ~= '1' then
  redis.call('HSET', KEYS[1], 'status', 'online', 'updated', now)
  redis.call('ZADD', KEYS[2], now, ARGV[1])
  return {1, now}
end
if status == 'online' then redis.call('ZADD', KEYS[2], now, ARGV[1]) end
return {0, now}`;

/**
 * online → away for users inactive longer than awayAfter (automatic status only), exactly once.
 * KEYS: activity. ARGV: prefix, awayAfterMs, limit. Returns a flat list acct, uid, acct, uid, …
 */
export const AWAY_SWEEP = `${NOW}
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]), 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, m in ipairs(items) do
  if redis.call('ZREM', KEYS[1], m) == 1 then
    local sep = string.find(m, '|', 1, true)
    local acct = string.sub(m, 1, sep - 1)
    local uid = string.sub(m, sep + 1)
    local pkey = ARGV[1] .. ':a:' .. acct .. ':u:' .. uid .. ':presence'
    if redis.call('HGET', pkey, 'status') == 'online' and redis.call('HGET', pkey, 'manual') ~= '1' then
      redis.call('HSET', pkey, 'status', 'away', 'updated', now)
      table.insert(out, acct)
      table.insert(out, uid)
    end
  end
end
return out`;

/**
 * A user's own status change. KEYS: presence, activity, userSockets. ARGV: status ('' = keep),
 * textMode ('keep'|'set'), text, emojiMode, emoji, activityMember. Returns {prevStatus, connections, now}.
 */
export const PRESENCE_SET = `${NOW}
local prev = redis.call('HGET', KEYS[1], 'status') or 'offline'
if ARGV[1] ~= '' then
  local manual = '1'
  if ARGV[1] == 'online' then manual = '0' end
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'manual', manual)
  if ARGV[1] == 'online' then redis.call('ZADD', KEYS[2], now, ARGV[6]) else redis.call('ZREM', KEYS[2], ARGV[6]) end
end
if ARGV[2] == 'set' then
  if ARGV[3] == '' then redis.call('HDEL', KEYS[1], 'text') else redis.call('HSET', KEYS[1], 'text', ARGV[3]) end
end
if ARGV[4] == 'set' then
  if ARGV[5] == '' then redis.call('HDEL', KEYS[1], 'emoji') else redis.call('HSET', KEYS[1], 'emoji', ARGV[5]) end
end
redis.call('HSET', KEYS[1], 'updated', now, 'active', now)
return {prev, redis.call('SCARD', KEYS[3]), now}`;

/** KEYS: userRooms, userRoomsVersion. ARGV: expectedVersion, ttlSeconds, roomIds… Fills the cache unless a writer bumped the version meanwhile. */
export const FILL_USER_ROOMS = `local v = redis.call('GET', KEYS[2]) or '0'
if v ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SADD', KEYS[1], '*')
for i = 3, #ARGV do redis.call('SADD', KEYS[1], ARGV[i]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1`;

/** KEYS: lock. ARGV: owner, ttlMs. Acquire or extend a lock held by owner. */
export const LOCK = `local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`;
