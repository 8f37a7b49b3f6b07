package redisbackend

import "github.com/redis/go-redis/v9"

// Every change to a lock is one of the Lua scripts below. Redis runs a
// script to its end before it serves any other command, so each script is
// one atomic step: what it reads cannot change before it writes, and no
// client ever sees half of it. That is why there is no check-then-act over
// several round trips anywhere in the driver. The driver runs them with
// EVALSHA and falls back to EVAL (which caches the script again) when
// Redis answers NOSCRIPT, as after SCRIPT FLUSH or a restart.
//
// Every lock script takes the same KEYS, all in the lock's hash-tag slot
// (see keys.go):
//
//	KEYS[1] o  owner hash: owner, ver, at, exp (ms), md (JSON, absent when none), q ("1" when granted out of the queue, else absent)
//	KEYS[2] f  fencing counter
//	KEYS[3] q  queue: client ID scored by priority, then arrival
//	KEYS[4] d  deadlines: client ID scored by the ms its entry lapses
//	KEYS[5] w  waiter records: client ID -> JSON {t ttl ms, m metadata, c wake channel, p priority, a enqueued ms, x wait deadline ms or 0}
//	KEYS[6] n  arrival counter of the queue
//
// and ARGV[1] is the lock ID, for the wake-up messages. Times are the
// Redis server's clock (TIME), the same clock that expires the owner key,
// in milliseconds.

// prelude holds what every lock script shares.
//
// Expiry in Redis is passive as far as the queue is concerned: when the
// owner key's PX runs out, nothing runs, so no waiter is handed the lock
// at that moment. Every script therefore starts with settle, which brings
// the lock up to date as of now: it drops waiter entries whose deadline
// has passed (a timed-out Enqueue, or a blocked caller that stopped
// heartbeating because its process died), and if the owner key is gone it
// grants the lock to the head of the queue. Whatever script comes first
// after an expiry (the waiter's own timer, another client's Acquire, a
// Get) makes the hand-off, and it always goes to the head: FIFO holds.
const prelude = `
local o, f, q, d, w, n = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local lock_id = ARGV[1]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A queue with no entries leaves nothing behind; the arrival counter may
-- restart, since order only matters among entries present together.
local function tidy_queue()
  if redis.call('ZCARD', q) == 0 then
    redis.call('DEL', q, d, w, n)
  end
end

local function drop_waiter(c)
  redis.call('ZREM', q, c)
  redis.call('ZREM', d, c)
  redis.call('HDEL', w, c)
end

-- Waiters whose entry has lapsed leave the queue.
local function prune(now)
  local dead = redis.call('ZRANGEBYSCORE', d, '-inf', now)
  for _, c in ipairs(dead) do
    drop_waiter(c)
  end
end

-- A grant. INCR on a counter that never expires, in the same step as the
-- write of the owner, is what makes every version greater than all the
-- earlier ones of this lock ID, whether they were released, expired or
-- deleted by hand.
--
-- The hash leaves out the fields that have nothing to say: md when there
-- is no metadata, q when the grant was not made out of the queue. HMGET
-- reads a missing field as false, which every reader takes for "" or "not
-- queued", so the shorter hash means the same.
local function grant(client, ttl, md, now, queued)
  local ver = redis.call('INCR', f)
  if md ~= '' and queued then
    redis.call('HSET', o, 'owner', client, 'ver', ver, 'at', now, 'exp', now + ttl, 'md', md, 'q', 1)
  elseif md ~= '' then
    redis.call('HSET', o, 'owner', client, 'ver', ver, 'at', now, 'exp', now + ttl, 'md', md)
  elseif queued then
    redis.call('HSET', o, 'owner', client, 'ver', ver, 'at', now, 'exp', now + ttl, 'q', 1)
  else
    redis.call('HSET', o, 'owner', client, 'ver', ver, 'at', now, 'exp', now + ttl)
  end
  redis.call('PEXPIRE', o, ttl)
  return ver
end

-- The lock is free: the head of the queue gets it, with its own TTL
-- counted from now, and its driver is told on its wake channel.
local function promote(now)
  while true do
    local head = redis.call('ZRANGE', q, 0, 0)[1]
    if not head then
      redis.call('DEL', q, d, w, n)
      return false
    end
    local rec = redis.call('HGET', w, head)
    drop_waiter(head)
    if rec then
      local r = cjson.decode(rec)
      grant(head, tonumber(r.t), r.m or '', now, true)
      if r.c ~= '' then
        redis.call('PUBLISH', r.c, lock_id .. '\0' .. head)
      end
      tidy_queue()
      return head
    end
  end
end

local function settle(now)
  prune(now)
  if redis.call('EXISTS', o) == 0 then
    return promote(now)
  end
  return false
end

local function held()
  return redis.call('HMGET', o, 'owner', 'ver', 'at', 'exp', 'md')
end
`

// acquireFast is the first step of the acquire script: the common case,
// a lock that nobody holds and nobody waits for, granted with five
// commands and none of the queue's machinery.
//
// One EXISTS over the owner key and the queue tells the case apart:
// neither exists. What the full script would do then, and why skipping it
// is the same:
//
//   - settle's prune reads the deadlines set. Every entry of it is also in
//     the queue (a waiter is added to both in one script and dropped from
//     both in one script), so with no queue there is nothing to prune.
//   - settle's promote finds no head in an empty queue; it only deletes the
//     queue's leftover keys, none of which is needed: at most an arrival
//     counter left behind, which may go on counting from where it is (order
//     only matters among entries present together, and the slow path
//     deletes it the next time it finds the queue empty).
//   - the rest of the script grants the lock to the caller, whatever the
//     mode: a free lock with no queue goes to whoever asks (a "poll" whose
//     entry was removed too: it would be granted by the full script as
//     well).
//
// The grant is made exactly as grant() in the prelude makes it (INCR of
// the fencing counter, the hash without the fields that are empty, PEXPIRE)
// and in the same atomic step as the EXISTS, so nobody can take the lock or
// join its queue in between. The reply is short, {"new", version, now ms}:
// the driver knows the owner, TTL and metadata it sent.
const acquireFast = `
if redis.call('EXISTS', KEYS[1], KEYS[3]) == 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local ttl = tonumber(ARGV[3])
  local ver = redis.call('INCR', KEYS[2])
  if ARGV[4] == '' then
    redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'ver', ver, 'at', now, 'exp', now + ttl)
  else
    redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'ver', ver, 'at', now, 'exp', now + ttl, 'md', ARGV[4])
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'new', ver, now}
end
`

// acquireSrc takes or queues for a lock. ARGV: 2 client ID, 3 TTL ms,
// 4 metadata JSON, 5 mode, 6 priority, 7 entry lifetime ms, 8 wake
// channel, 9 queue limit (0 none), 10 wait deadline ms from now (0 none).
//
// Modes: "try" never queues; "wait" joins the queue (or keeps the place it
// has, taking this call's TTL, metadata and channel); "poll" is a blocked
// caller checking again, refreshing its entry's lifetime (its heartbeat)
// but never joining anew, so that an entry CancelWait removed stays
// removed; "enqueue" joins but leaves an existing entry as it is.
//
// Reply: {"new", ver, at} from acquireFast, else {status, owner, ver, at,
// exp, md, pttl, position}, status one of granted (free, granted now), promoted (granted now out of the queue to
// the caller), mine (the caller held it already), held, queued, gone
// (poll: the caller is neither queued nor holding), full.
//
// The queue score puts a higher priority first and, within a priority,
// the earlier arrival: (2^20 - priority) * 2^31 + arrival. Both parts are
// bounded (backend.MaxPriority is 2^20; the counter restarts whenever the
// queue empties), so the score stays below 2^53, exact in a double.
const acquireSrc = acquireFast + prelude + `
local client, ttl, md, mode = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local prio, life, chan, limit = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8], tonumber(ARGV[9])
local now = now_ms()
local promoted = settle(now)
local h = held()
if h[1] == client then
  local st = 'mine'
  if promoted == client then st = 'promoted' end
  return {st, h[1], h[2], h[3], h[4], h[5], redis.call('PTTL', o), 0}
end
if not h[1] then
  -- Free, and settle found the queue empty (else the head holds it now).
  local ver = grant(client, ttl, md, now, false)
  return {'granted', client, ver, now, now + ttl, md, ttl, 0}
end
local pttl = redis.call('PTTL', o)
if mode == 'try' then
  return {'held', h[1], h[2], h[3], h[4], h[5], pttl, 0}
end
if not redis.call('ZSCORE', q, client) then
  if mode == 'poll' then
    return {'gone', h[1], h[2], h[3], h[4], h[5], pttl, 0}
  end
  if limit > 0 and redis.call('ZCARD', q) >= limit then
    return {'full', h[1], h[2], h[3], h[4], h[5], pttl, 0}
  end
  local seq = redis.call('INCR', n)
  if seq >= 2147483648 then
    return {'full', h[1], h[2], h[3], h[4], h[5], pttl, 0}
  end
  local x = 0
  if tonumber(ARGV[10]) > 0 then x = now + tonumber(ARGV[10]) end
  redis.call('ZADD', q, (1048576 - prio) * 2147483648 + seq, client)
  redis.call('HSET', w, client, cjson.encode({t = ARGV[3], m = md, c = chan, p = ARGV[6], a = now, x = x}))
  redis.call('ZADD', d, now + life, client)
elseif mode ~= 'enqueue' then
  if mode == 'wait' then
    -- Keep the place and priority; the grant will carry this call's TTL and
    -- metadata, since this is the caller that counts a lease from them.
    local r = cjson.decode(redis.call('HGET', w, client) or '{}')
    local x = r.x or 0
    if tonumber(ARGV[10]) > 0 then x = now + tonumber(ARGV[10]) end
    redis.call('HSET', w, client, cjson.encode({t = ARGV[3], m = md, c = chan, p = r.p or ARGV[6], a = r.a or now, x = x}))
  end
  -- GT: a heartbeat never shortens a longer deadline an Enqueue gave.
  redis.call('ZADD', d, 'GT', now + life, client)
end
return {'queued', h[1], h[2], h[3], h[4], h[5], pttl, redis.call('ZRANK', q, client)}
`

// releaseFast is the first step of the release script: the common case,
// the owner giving up a lock nobody waits for, in three commands.
//
// With no queue, settle does nothing that matters (see acquireFast: no
// entry to prune, and an owner key that exists is never promoted over),
// and after the DEL there is no head to hand the lock to. The owner and
// version are compared, and the key deleted, in one atomic step, so the
// grant deleted is the caller's. Every other case (a queue, another owner
// or version, no grant) falls through to the full script, which settles
// and answers as before.
const releaseFast = `
if redis.call('EXISTS', KEYS[3]) == 0 then
  local h = redis.call('HMGET', KEYS[1], 'owner', 'ver')
  if h[1] == ARGV[2] and h[2] == ARGV[3] then
    redis.call('DEL', KEYS[1])
    return {'ok'}
  end
end
`

// releaseSrc gives a lock up and hands it to the head waiter in the same
// step. ARGV: 2 client ID, 3 version. Reply: {status, next owner or
// current owner or current version}, status ok, not_found, not_owner or
// version.
const releaseSrc = releaseFast + prelude + `
local client, ver = ARGV[2], ARGV[3]
local now = now_ms()
settle(now)
local h = redis.call('HMGET', o, 'owner', 'ver')
if not h[1] then return {'not_found', ''} end
if h[1] ~= client then return {'not_owner', h[1]} end
if h[2] ~= ver then return {'version', h[2]} end
redis.call('DEL', o)
return {'ok', promote(now) or ''}
`

// renewSrc sets a held lock's expiry to now + TTL, keeping its version.
// ARGV: 2 client ID, 3 version, 4 TTL ms. Reply: {status, owner, ver, at,
// exp, md}, status as for release.
const renewSrc = prelude + `
local client, ver, ttl = ARGV[2], ARGV[3], tonumber(ARGV[4])
local now = now_ms()
settle(now)
local h = held()
if not h[1] then return {'not_found'} end
if h[1] ~= client then return {'not_owner', h[1]} end
if h[2] ~= ver then return {'version', h[1], h[2]} end
redis.call('PEXPIRE', o, ttl)
redis.call('HSET', o, 'exp', now + ttl)
return {'ok', h[1], h[2], h[3], now + ttl, h[5]}
`

// getSrc describes a lock. It settles first, so that a lease that lapsed
// while nobody looked is handed on before it is described. ARGV: 2 "1" to
// list the waiters. Reply: {status, owner, ver, at, exp, md, waiter count,
// pttl, then per waiter: client ID, record JSON}, status ok or not_found.
const getSrc = prelude + `
local now = now_ms()
settle(now)
local h = held()
local count = redis.call('ZCARD', q)
if not h[1] and count == 0 then return {'not_found'} end
local res = {'ok', h[1] or '', h[2] or '0', h[3] or '0', h[4] or '0', h[5] or '', count, redis.call('PTTL', o)}
if ARGV[2] == '1' then
  for _, c in ipairs(redis.call('ZRANGE', q, 0, -1)) do
    res[#res + 1] = c
    res[#res + 1] = redis.call('HGET', w, c) or '{}'
  end
end
return res
`

// leaveSrc is a blocked caller giving up (its context ended, its
// WaitTimeout passed, its driver closed). It leaves the queue; if the lock
// was meanwhile granted to it out of the queue, a grant its caller will
// never learn of, it releases that grant and hands the lock on, so that
// nothing is orphaned. ARGV: 2 client ID, 3 "1" when the caller knows it
// had queued (only then is a grant out of the queue surely the one made
// for this call, not one the client held before it asked). Reply:
// {status, next owner}, status left, released or none.
const leaveSrc = prelude + `
local client = ARGV[2]
local now = now_ms()
settle(now)
if redis.call('ZSCORE', q, client) then
  drop_waiter(client)
  tidy_queue()
  return {'left', ''}
end
local h = redis.call('HMGET', o, 'owner', 'q')
if ARGV[3] == '1' and h[1] == client and h[2] == '1' then
  redis.call('DEL', o)
  return {'released', promote(now) or ''}
end
return {'none', ''}
`

// cancelSrc is CancelWait: the client leaves the queue, and a call of
// its blocked in some driver is told, so that it fails with CodeCanceled
// at once. It never releases a grant. ARGV: 2 client ID. Reply: {status},
// ok or not_waiting.
const cancelSrc = prelude + `
local client = ARGV[2]
local now = now_ms()
settle(now)
local rec = redis.call('HGET', w, client)
if not redis.call('ZSCORE', q, client) then return {'not_waiting'} end
drop_waiter(client)
tidy_queue()
if rec then
  local r = cjson.decode(rec)
  if r.c ~= '' then redis.call('PUBLISH', r.c, lock_id .. '\0' .. client) end
end
return {'ok'}
`

// The scripts, with their SHA-1 computed once; go-redis's Run sends
// EVALSHA and, on NOSCRIPT, EVAL.
var (
	acquireScript = redis.NewScript(acquireSrc)
	releaseScript = redis.NewScript(releaseSrc)
	renewScript   = redis.NewScript(renewSrc)
	getScript     = redis.NewScript(getSrc)
	leaveScript   = redis.NewScript(leaveSrc)
	cancelScript  = redis.NewScript(cancelSrc)
)
