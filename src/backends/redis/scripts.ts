// The Lua scripts of RedisBackend. Every id, value, version and time reaches a script as an
// argument (ARGV), never spliced into its text. Versions travel as canonical decimal strings and
// are compared as strings or as Lua numbers (doubles, exact up to Number.MAX_SAFE_INTEGER).
//
// Per-context scripts declare their eleven keys (see KeyLayout): KEYS[1] context hash, [2] delta
// versions, [3] delta JSON, [4] delta times, [5..9] the bucket's indexes xc, xct, xd, xdn, xdt,
// [10] write receipts, [11] receipt times, all in one slot. ARGV[1] is the id, ARGV[2] the publish command (PUBLISH, or SPUBLISH on a Cluster)
// and ARGV[3] the notice channel; a notice is `<version> <id>`, or `- <id>` for a deletion.
//
// Per-shard scripts (listing and bulk cleanup) walk the buckets a node serves, named in one
// comma-separated argument (one argument, not thousands: far cheaper to send); on a Cluster they
// carry `allow-cross-slot-keys`, as one node holds many slots' buckets. One Redis has one bucket,
// passed as '_' and ignored in key names.

/** Lua helpers shared by the per-context scripts. */
const CONTEXT_LIB = `
local function removeVersions(vs)
  for i = 1, #vs, 500 do
    local j = math.min(i + 499, #vs)
    redis.call('ZREM', KEYS[2], unpack(vs, i, j))
    redis.call('HDEL', KEYS[3], unpack(vs, i, j))
    redis.call('ZREM', KEYS[4], unpack(vs, i, j))
  end
end
local function reindexDeltas()
  local n = redis.call('ZCARD', KEYS[2])
  if n == 0 then
    redis.call('ZREM', KEYS[7], ARGV[1])
    redis.call('ZREM', KEYS[8], ARGV[1])
    redis.call('ZREM', KEYS[9], ARGV[1])
  else
    redis.call('ZADD', KEYS[7], 0, ARGV[1])
    redis.call('ZADD', KEYS[8], n, ARGV[1])
    local oldest = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
    redis.call('ZADD', KEYS[9], oldest[2], ARGV[1])
  end
end
local function readDeltas(vs)
  local out = {}
  for i = 1, #vs, 500 do
    local j = math.min(i + 499, #vs)
    local js = redis.call('HMGET', KEYS[3], unpack(vs, i, j))
    local ts = redis.call('ZMSCORE', KEYS[4], unpack(vs, i, j))
    for k = 1, j - i + 1 do
      out[#out + 1] = vs[i + k - 1]
      out[#out + 1] = ts[k]
      out[#out + 1] = js[k]
    end
  end
  return out
end
local function putContext(json, version, now, epoch)
  redis.call('HSET', KEYS[1], 'j', json, 'v', version, 't', now, 'e', epoch)
  redis.call('ZADD', KEYS[5], 0, ARGV[1])
  redis.call('ZADD', KEYS[6], now, ARGV[1])
end
local function dropDeltas()
  local n = redis.call('ZCARD', KEYS[2])
  if n > 0 then
    redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
    redis.call('ZREM', KEYS[7], ARGV[1])
    redis.call('ZREM', KEYS[8], ARGV[1])
    redis.call('ZREM', KEYS[9], ARGV[1])
  end
  return n
end
local function notify(version)
  redis.call(ARGV[2], ARGV[3], version .. ' ' .. ARGV[1])
end
local function storeVersion(json, deltaJson, version, now, epoch)
  putContext(json, version, now, epoch)
  redis.call('HSET', KEYS[3], version, deltaJson)
  redis.call('ZADD', KEYS[2], version, version)
  redis.call('ZADD', KEYS[4], now, version)
  reindexDeltas()
  notify(version)
end
local function pruneReceipts(before)
  local cs = redis.call('ZRANGEBYSCORE', KEYS[11], '-inf', before)
  for i = 1, #cs, 500 do
    local j = math.min(i + 499, #cs)
    redis.call('HDEL', KEYS[10], unpack(cs, i, j))
    redis.call('ZREM', KEYS[11], unpack(cs, i, j))
  end
end
`;

/** ARGV[4] JSON, [5] version, [6] now, [7] a new epoch (used only if none is stored). Returns the epoch. */
export const SET_CONTEXT = `${CONTEXT_LIB}
local epoch = redis.call('HGET', KEYS[1], 'e') or ARGV[7]
putContext(ARGV[4], ARGV[5], ARGV[6], epoch)
notify(ARGV[5])
return epoch`;

/** Returns 1 if a context was removed, else 0. */
export const DELETE_CONTEXT = `${CONTEXT_LIB}
redis.call('DEL', KEYS[10], KEYS[11])
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
notify('-')
return 1`;

/** ARGV[4] JSON, [5] version, [6] now. */
export const SET_DELTA = `${CONTEXT_LIB}
redis.call('HSET', KEYS[3], ARGV[5], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[5])
reindexDeltas()
return 1`;

/** ARGV[4] client version. Returns [version, time, JSON, …] of the deltas above it, ascending. */
export const GET_DELTAS = `${CONTEXT_LIB}
return readDeltas(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[4], '+inf'))`;

/** ARGV[4] version filter ('' none), [5] time filter ('' none). Returns how many deltas match. */
export const COUNT_DELTAS = `${CONTEXT_LIB}
if ARGV[4] ~= '' then
  local s = redis.call('ZSCORE', KEYS[4], ARGV[4])
  if s and (ARGV[5] == '' or tonumber(s) >= tonumber(ARGV[5])) then return 1 end
  return 0
end
if ARGV[5] ~= '' then return redis.call('ZCOUNT', KEYS[4], ARGV[5], '+inf') end
return redis.call('ZCARD', KEYS[2])`;

/** Returns how many deltas were removed. */
export const DELETE_DELTAS_FOR_CONTEXT = `${CONTEXT_LIB}
return dropDeltas()`;

/** ARGV[4] the time; deltas (and write receipts) written strictly before it go. Returns how many deltas. */
export const DELETE_DELTAS_BY_TIME = `${CONTEXT_LIB}
pruneReceipts('(' .. ARGV[4])
local vs = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', '(' .. ARGV[4])
if #vs == 0 then return 0 end
removeVersions(vs)
reindexDeltas()
return #vs`;

/** ARGV[4] how many of the newest (by version) to keep. Returns how many were removed. */
export const DELETE_DELTAS_EXCEEDING = `${CONTEXT_LIB}
local n = redis.call('ZCARD', KEYS[2])
local keep = tonumber(ARGV[4])
if n <= keep then return 0 end
local vs = redis.call('ZRANGE', KEYS[2], 0, n - keep - 1)
removeVersions(vs)
reindexDeltas()
return #vs`;

/**
 * Compare-and-set of a new version. ARGV[4] context JSON, [5] delta JSON, [6] expected version,
 * [7] new version, [8] now, [9] a new epoch (only read when nothing is stored, i.e. [6] is '0'). Returns {1, epoch}, or {0, stored version} and writes
 * nothing.
 */
export const WRITE_VERSION = `${CONTEXT_LIB}
local cur = redis.call('HMGET', KEYS[1], 'v', 'e')
local stored = cur[1] or '0'
if stored ~= ARGV[6] then return {0, stored} end
local epoch = cur[2] or ARGV[9]
storeVersion(ARGV[4], ARGV[5], ARGV[7], ARGV[8], epoch)
return {1, epoch}`;

/** ARGV[4] client id. Returns its receipt `"<writeId> <version> <epoch>"`, or nil. */
export const GET_WRITE_RECEIPT = `${CONTEXT_LIB}
return redis.call('HGET', KEYS[10], ARGV[4])`;

/**
 * WRITE_VERSION at most once per write id: ARGV[4..9] as there ([5] '' when the write changed
 * nothing: then only the stored version is checked), [10] client id, [11] write id. A receipt at
 * [11] or later: {2, receipt}, nothing written. Else as WRITE_VERSION, and the receipt of what it
 * produced is stored with it: {1, epoch} or {0, stored version}.
 */
export const WRITE_VERSION_ONCE = `${CONTEXT_LIB}
local last = redis.call('HGET', KEYS[10], ARGV[10])
if last and tonumber(string.match(last, '^(%d+) ')) >= tonumber(ARGV[11]) then return {2, last} end
local cur = redis.call('HMGET', KEYS[1], 'v', 'e')
local stored = cur[1] or '0'
if stored ~= ARGV[6] then return {0, stored} end
local epoch, version = cur[2], stored
if ARGV[5] == '' then
  if not cur[1] then return {0, '0'} end
else
  epoch, version = cur[2] or ARGV[9], ARGV[7]
  storeVersion(ARGV[4], ARGV[5], version, ARGV[8], epoch)
end
redis.call('HSET', KEYS[10], ARGV[10], ARGV[11] .. ' ' .. version .. ' ' .. epoch)
redis.call('ZADD', KEYS[11], ARGV[8], ARGV[10])
return {1, epoch}`;

/**
 * Restore: ARGV[4] JSON, [5] version, [6] now, [7] a new epoch, [8] the expected stored version
 * ('' any; '0' none stored). Only if the stored version (0: none) is below the version and, when
 * given, is the expected one; the context's deltas are dropped with it. Returns {1, epoch} or
 * {0, stored}.
 */
export const RESTORE_VERSION = `${CONTEXT_LIB}
local cur = redis.call('HMGET', KEYS[1], 'v', 'e')
local stored = cur[1] or '0'
if tonumber(stored) >= tonumber(ARGV[5]) or (ARGV[8] ~= '' and stored ~= ARGV[8]) then return {0, stored} end
local epoch = cur[2] or ARGV[7]
putContext(ARGV[4], ARGV[5], ARGV[6], epoch)
dropDeltas()
notify(ARGV[5])
return {1, epoch}`;

/** The `kind` of a {@link READ_FOR_SYNC} reply, named as the script's doc comment says. */
export const SYNC_REPLY_KIND = {
  /** The client is current; no payload. */
  current: 0,
  /** The deltas from the client's version: [version, time, JSON, …]. */
  deltas: 1,
  /** The context's JSON. */
  context: 2,
  /** The context is at the caller's known version; no payload. */
  atKnown: 3,
  /** The deltas after the caller's known version. */
  deltasAfterKnown: 4,
} as const;

/**
 * A sync's reads at once: ARGV[4] client version, [5] most versions behind, [6] byte floor of the
 * delta budget, [7] and [8] the version and epoch up to which the caller holds the merged deltas
 * ('' none), used only while the client's next delta is stored (pruning goes oldest first, so the
 * rest are too). Returns nil (no context), or {version, time, epoch, kind, payload}: kind 0 the client
 * is current (no payload), 1 the deltas [version, time, JSON, …], 2 the context JSON, 3 the context
 * is at the caller's known version (no payload), 4 the deltas after the caller's known version.
 * Deltas only when every version from the client's to the context's is stored and their JSON adds
 * up to no more than the context's (or the floor), counted in chunks so a large gap stops early.
 */
export const READ_FOR_SYNC = `${CONTEXT_LIB}
local h = redis.call('HMGET', KEYS[1], 'v', 't', 'e')
if not h[1] then return false end
local v = tonumber(h[1])
local cv = tonumber(ARGV[4])
if v == cv then return {h[1], h[2], h[3], 0} end
-- lo: the version the deltas read start after, kept as the caller's text (a Lua number past 1e14
-- would be written in exponent form, losing digits).
local lo = ARGV[4]
local known = false
if ARGV[8] ~= '' and h[3] == ARGV[8] then
  local k = tonumber(ARGV[7])
  local next = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[4], '+inf', 'LIMIT', 0, 1)[1]
  if k > cv and k <= v and v - cv <= tonumber(ARGV[5]) and next and tonumber(next) == cv + 1 then
    if k == v then return {h[1], h[2], h[3], 3} end
    lo = ARGV[7]
    known = true
  end
end
local behind = v - tonumber(lo)
if v > cv and v - cv <= tonumber(ARGV[5]) and redis.call('ZCOUNT', KEYS[2], '(' .. lo, h[1]) == behind then
  local budget = math.max(redis.call('HSTRLEN', KEYS[1], 'j'), tonumber(ARGV[6]))
  local vs = {}
  local size = 0
  local from = '(' .. lo
  local fits = true
  while fits and #vs < behind do
    local chunk = redis.call('ZRANGEBYSCORE', KEYS[2], from, h[1], 'LIMIT', 0, 128)
    if #chunk == 0 then break end
    for i = 1, #chunk do
      size = size + redis.call('HSTRLEN', KEYS[3], chunk[i])
      if size > budget then fits = false break end
      vs[#vs + 1] = chunk[i]
    end
    from = '(' .. chunk[#chunk]
  end
  if fits and #vs == behind then return {h[1], h[2], h[3], known and 4 or 1, readDeltas(vs)} end
end
return {h[1], h[2], h[3], 2, redis.call('HGET', KEYS[1], 'j')}`;

/**
 * One page of a context's deltas for listDeltas: ARGV[4] version filter ('' none), [5] time filter
 * ('' none: at or after), [6] 'a' or 'd', [7] how many matches to skip, [8] how many to return.
 * Returns [version, time, JSON, …].
 */
export const DELTAS_PAGE = `${CONTEXT_LIB}
local vf, tf, desc = ARGV[4], ARGV[5], ARGV[6] == 'd'
local skip, take = tonumber(ARGV[7]), tonumber(ARGV[8])
if take <= 0 then return {} end
if vf ~= '' then
  local s = redis.call('ZSCORE', KEYS[4], vf)
  if s and (tf == '' or tonumber(s) >= tonumber(tf)) and skip == 0 then return readDeltas({vf}) end
  return {}
end
if tf == '' then
  local vs
  if desc then vs = redis.call('ZREVRANGE', KEYS[2], skip, skip + take - 1)
  else vs = redis.call('ZRANGE', KEYS[2], skip, skip + take - 1) end
  return readDeltas(vs)
end
local limit = tonumber(tf)
local picked = {}
local at = 0
while #picked < take do
  local vs
  if desc then vs = redis.call('ZREVRANGE', KEYS[2], at, at + 255)
  else vs = redis.call('ZRANGE', KEYS[2], at, at + 255) end
  if #vs == 0 then break end
  at = at + #vs
  local ts = redis.call('ZMSCORE', KEYS[4], unpack(vs))
  for i = 1, #vs do
    if tonumber(ts[i]) >= limit then
      if skip > 0 then skip = skip - 1
      else
        picked[#picked + 1] = vs[i]
        if #picked == take then break end
      end
    end
  end
end
return readDeltas(picked)`;

/** Lua helpers of the per-shard scripts: key names built from the prefix (ARGV[1]) and flags. */
const SHARD_LIB = `
local prefix = ARGV[1]
local cluster = ARGV[2] == '1'
local function hex(s)
  return (string.gsub(s, '.', function(c) return string.format('%02x', string.byte(c)) end))
end
local function ix(bucket, suffix)
  if cluster then return prefix .. ':ix{' .. bucket .. '}:' .. suffix end
  return prefix .. ':ix:' .. suffix
end
local function channel(bucket)
  if cluster then return prefix .. ':n{' .. bucket .. '}' end
  return prefix .. ':n'
end
-- The index keys (full names) of the buckets in the comma-separated list. On a Cluster node that
-- holds fewer keys than a few per bucket, SCAN finds the few index keys that exist faster than
-- looking up each of its thousands of (mostly empty) buckets; the walk is bounded by that check,
-- so it never costs more than the lookups. Only index keys are looked for, never data keys.
local function indexKeys(list, suffix)
  local out = {}
  if cluster then
    local n = 0
    for _ in string.gmatch(list, '[^,]+') do n = n + 1 end
    if redis.call('DBSIZE') <= 16 * n then
      local pattern = string.gsub(prefix, '[%*%?%[%]\\]', '\\%0') .. ':ix{*}:' .. suffix
      local seen, cursor = {}, '0'
      repeat
        local r = redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)
        cursor = r[1]
        for _, key in ipairs(r[2]) do
          if not seen[key] then
            seen[key] = true
            out[#out + 1] = key
          end
        end
      until cursor == '0'
      return out
    end
  end
  for bucket in string.gmatch(list, '[^,]+') do out[#out + 1] = ix(bucket, suffix) end
  return out
end
local function bucketOf(key)
  if not cluster then return '_' end
  return string.match(key, '{([^}]*)}')
end
local function base(id)
  return prefix .. ':{' .. hex(id) .. '}:'
end
local function reindexDeltas(bucket, id, b)
  local n = redis.call('ZCARD', b .. 'dv')
  if n == 0 then
    redis.call('ZREM', ix(bucket, 'xd'), id)
    redis.call('ZREM', ix(bucket, 'xdn'), id)
    redis.call('ZREM', ix(bucket, 'xdt'), id)
  else
    redis.call('ZADD', ix(bucket, 'xdn'), n, id)
    local oldest = redis.call('ZRANGE', b .. 'dt', 0, 0, 'WITHSCORES')
    redis.call('ZADD', ix(bucket, 'xdt'), oldest[2], id)
  end
end
local function removeVersions(b, vs)
  for i = 1, #vs, 500 do
    local j = math.min(i + 499, #vs)
    redis.call('ZREM', b .. 'dv', unpack(vs, i, j))
    redis.call('HDEL', b .. 'dj', unpack(vs, i, j))
    redis.call('ZREM', b .. 'dt', unpack(vs, i, j))
  end
end
`;

const CROSS_SLOT = '#!lua flags=allow-cross-slot-keys\n';

/**
 * The next ids of one node in id byte order after a cursor, with filters. ARGV[1] prefix, [2]
 * cluster flag, [3] 'c' (contexts) or 'd' (ids with deltas), [4] 'a' or 'd', [5] cursor ('' from
 * the start; else exclusive), [6] how many ids to examine, [7] version filter, [8] time filter
 * (at or after), [9] the node's buckets, comma-separated. Returns {done, last examined id, matches…}: for 'c' the
 * matching ids, for 'd' pairs id, number of matching deltas. Ids are merged from the buckets in
 * byte order by a comparison written out here, since Lua's string '<' follows the server's locale.
 */
export const SCAN_IDS = `${SHARD_LIB}
local mode, desc, cursor, k = ARGV[3], ARGV[4] == 'd', ARGV[5], tonumber(ARGV[6])
local vf, tf = ARGV[7], ARGV[8]
local function less(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function before(a, b)
  if desc then return less(b, a) end
  return less(a, b)
end
local best = {}
local suffix = mode == 'c' and 'xc' or 'xd'
-- One bucket: read k at once. Many: read each in small pages and stop at the first id that can't
-- be among the k best, so a call costs about one read per bucket however full they are.
local page = cluster and 16 or k
for _, key in ipairs(indexKeys(ARGV[9], suffix)) do
  local from = cursor == '' and (desc and '+' or '-') or '(' .. cursor
  local more = true
  while more do
    local items
    if desc then items = redis.call('ZREVRANGEBYLEX', key, from, '-', 'LIMIT', 0, page)
    else items = redis.call('ZRANGEBYLEX', key, from, '+', 'LIMIT', 0, page) end
    more = #items == page
    for _, id in ipairs(items) do
      if #best == k and not before(id, best[k]) then
        more = false
        break
      end
      local lo, hi = 1, #best + 1
      while lo < hi do
        local mid = math.floor((lo + hi) / 2)
        if before(best[mid], id) then lo = mid + 1 else hi = mid end
      end
      table.insert(best, lo, id)
      if #best > k then best[#best] = nil end
    end
    if more then from = '(' .. items[#items] end
  end
end
local out = {#best < k and 1 or 0, best[#best] or ''}
for _, id in ipairs(best) do
  local b = base(id)
  if mode == 'c' then
    if vf == '' and tf == '' then
      out[#out + 1] = id
    else
      local h = redis.call('HMGET', b .. 'c', 'v', 't')
      if h[1] and (vf == '' or h[1] == vf) and (tf == '' or tonumber(h[2]) >= tonumber(tf)) then out[#out + 1] = id end
    end
  else
    local c
    if vf ~= '' then
      local s = redis.call('ZSCORE', b .. 'dt', vf)
      if s and (tf == '' or tonumber(s) >= tonumber(tf)) then c = 1 else c = 0 end
    elseif tf ~= '' then
      c = redis.call('ZCOUNT', b .. 'dt', tf, '+inf')
    else
      c = redis.call('ZCARD', b .. 'dt')
    end
    if c > 0 then
      out[#out + 1] = id
      out[#out + 1] = c
    end
  end
end
return out`;

/**
 * Up to ARGV[5] contexts of one node written strictly before ARGV[4], oldest first per bucket,
 * deleted with all their deltas. ARGV[3] publish command, [6] buckets (comma-separated). Returns {contexts, deltas}.
 */
export const DELETE_IDLE_CONTEXTS = `${SHARD_LIB}
local pub, before, budget = ARGV[3], '(' .. ARGV[4], tonumber(ARGV[5])
local contexts, deltas = 0, 0
for _, key in ipairs(indexKeys(ARGV[6], 'xct')) do
  if contexts >= budget then break end
  local bucket = bucketOf(key)
  local ids = redis.call('ZRANGEBYSCORE', key, '-inf', before, 'LIMIT', 0, budget - contexts)
  for _, id in ipairs(ids) do
    local b = base(id)
    redis.call('DEL', b .. 'c', b .. 'w', b .. 'wt')
    redis.call('ZREM', ix(bucket, 'xc'), id)
    redis.call('ZREM', ix(bucket, 'xct'), id)
    local n = redis.call('ZCARD', b .. 'dv')
    if n > 0 then
      redis.call('DEL', b .. 'dv', b .. 'dj', b .. 'dt')
      redis.call('ZREM', ix(bucket, 'xd'), id)
      redis.call('ZREM', ix(bucket, 'xdn'), id)
      redis.call('ZREM', ix(bucket, 'xdt'), id)
    end
    deltas = deltas + n
    contexts = contexts + 1
    redis.call(pub, channel(bucket), '- ' .. id)
  end
end
return {contexts, deltas}`;

/** Up to ARGV[4] deltas of one node written strictly before ARGV[3]. ARGV[5] buckets (comma-separated). Returns how many. */
export const DELETE_DELTAS_OLDER_THAN = `${SHARD_LIB}
local before, budget = '(' .. ARGV[3], tonumber(ARGV[4])
local removed = 0
for _, key in ipairs(indexKeys(ARGV[5], 'xdt')) do
  if removed >= budget then break end
  local bucket = bucketOf(key)
  local ids = redis.call('ZRANGEBYSCORE', key, '-inf', before, 'LIMIT', 0, budget - removed)
  for _, id in ipairs(ids) do
    local b = base(id)
    -- Write receipts age with the deltas (not counted): those of each context visited go too.
    local cs = redis.call('ZRANGEBYSCORE', b .. 'wt', '-inf', before, 'LIMIT', 0, 500)
    if #cs > 0 then
      redis.call('HDEL', b .. 'w', unpack(cs))
      redis.call('ZREM', b .. 'wt', unpack(cs))
    end
    local vs = redis.call('ZRANGEBYSCORE', b .. 'dt', '-inf', before, 'LIMIT', 0, budget - removed)
    removeVersions(b, vs)
    reindexDeltas(bucket, id, b)
    removed = removed + #vs
    if removed >= budget then break end
  end
end
return removed`;

/** Up to ARGV[4] deltas of one node beyond the newest ARGV[3] of their context, oldest first. ARGV[5] buckets (comma-separated). */
export const DELETE_DELTAS_BEYOND_NEWEST = `${SHARD_LIB}
local keep, budget = tonumber(ARGV[3]), tonumber(ARGV[4])
local removed = 0
for _, key in ipairs(indexKeys(ARGV[5], 'xdn')) do
  if removed >= budget then break end
  local bucket = bucketOf(key)
  local ids = redis.call('ZRANGEBYSCORE', key, '(' .. ARGV[3], '+inf', 'LIMIT', 0, budget - removed)
  for _, id in ipairs(ids) do
    local b = base(id)
    local n = redis.call('ZCARD', b .. 'dv')
    local k = math.min(n - keep, budget - removed)
    if k > 0 then
      removeVersions(b, redis.call('ZRANGE', b .. 'dv', 0, k - 1))
      reindexDeltas(bucket, id, b)
      removed = removed + k
    end
    if removed >= budget then break end
  end
end
return removed`;

/** The per-shard scripts with the flag a Cluster needs for them (one node, many slots). */
export function crossSlot(script: string): string {
  return CROSS_SLOT + script;
}
