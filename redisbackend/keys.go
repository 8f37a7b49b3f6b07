package redisbackend

import (
	"strings"
	"unicode/utf8"

	"github.com/raftlock/raftlock/backend"
)

// The keys of one lock ID, all named
//
//	PREFIX:{ID}:SUFFIX
//
// where ID is the lock ID with "%" and "}" escaped (as %25 and %7D). The
// braces are a Redis Cluster hash tag: only the text between them picks the
// slot, so every key of a lock, its fencing counter included, lives in one
// slot and one script may touch them all. The escape keeps the tag whole
// (an ID with a "}" would otherwise end it early, and one that starts with
// "}" would make it empty, which Redis ignores). Because a prefix may not
// contain "{", the first "{" ends the prefix and the first "}" ends the
// ID, so two different (prefix, ID) pairs never share a key.
const (
	suffixOwner    = "o" // hash: owner, ver, at, exp, md, q; expires with the lease (PX)
	suffixFence    = "f" // string: the fencing counter; never expires, never deleted
	suffixQueue    = "q" // sorted set: waiting client IDs in grant order
	suffixDeadline = "d" // sorted set: waiting client IDs by the time their entry lapses
	suffixWaiters  = "w" // hash: client ID -> the waiter's request, as JSON
	suffixSeq      = "n" // string: arrival counter of the queue, deleted with it
)

// DefaultPrefix is the key prefix when none is given.
const DefaultPrefix = "raftlock"

// keyspace names the keys of one prefix.
type keyspace struct {
	prefix string
}

// escapeID makes a lock ID safe inside a hash tag.
func escapeID(id string) string {
	if !strings.ContainsAny(id, "%}") {
		return id
	}
	return strings.NewReplacer("%", "%25", "}", "%7D").Replace(id)
}

// unescapeID reverses escapeID.
func unescapeID(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	return strings.NewReplacer("%25", "%", "%7D", "}").Replace(s)
}

// tag is the part every key of lockID starts with: "PREFIX:{ID}:".
func (ks keyspace) tag(lockID string) string {
	return ks.prefix + ":{" + escapeID(lockID) + "}:"
}

// lockKeys returns the KEYS every lock script takes, in the order the
// scripts read them (see scripts.go).
func (ks keyspace) lockKeys(lockID string) []string {
	t := ks.tag(lockID)
	return []string{
		t + suffixOwner, t + suffixFence, t + suffixQueue,
		t + suffixDeadline, t + suffixWaiters, t + suffixSeq,
	}
}

// numLockKeys is the number of KEYS of every lock script.
const numLockKeys = 6

// appendLockKeyArgs appends the lock script KEYS (as lockKeys orders
// them) to a command's arguments, for the hot path: one string holds all
// six keys back to back, the keys are slices of it, and the arguments are
// pointers into one array of them (go-redis writes a *string as the
// string), so the six keys cost three allocations, not thirteen.
func (ks keyspace) appendLockKeyArgs(args []any, lockID string) []any {
	id := escapeID(lockID)
	n := len(ks.prefix) + len(":{") + len(id) + len("}:") + 1 // every suffix is one byte
	var b strings.Builder
	b.Grow(numLockKeys * n)
	for _, sfx := range [numLockKeys]string{suffixOwner, suffixFence, suffixQueue, suffixDeadline, suffixWaiters, suffixSeq} {
		b.WriteString(ks.prefix)
		b.WriteString(":{")
		b.WriteString(id)
		b.WriteString("}:")
		b.WriteString(sfx)
	}
	all := b.String()
	keys := new([numLockKeys]string)
	for i := range keys {
		keys[i] = all[i*n : (i+1)*n]
		args = append(args, &keys[i])
	}
	return args
}

// fenceKey is the key of lockID's fencing counter.
func (ks keyspace) fenceKey(lockID string) string { return ks.tag(lockID) + suffixFence }

// ownerKey is the key of lockID's current grant.
func (ks keyspace) ownerKey(lockID string) string { return ks.tag(lockID) + suffixOwner }

// scanPattern matches the owner and queue keys of every lock of the prefix:
// a lock with no owner key but a queue is one whose lease lapsed while
// nobody looked, and List must still find it.
func (ks keyspace) scanPattern() string {
	return globEscape(ks.prefix) + ":{*}:[" + suffixOwner + suffixQueue + "]"
}

// lockIDOf returns the lock ID of an owner or queue key of the prefix.
func (ks keyspace) lockIDOf(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, ks.prefix+":{")
	if !ok {
		return "", false
	}
	i := strings.IndexByte(rest, '}')
	if i < 0 || rest[i:] != "}:"+suffixOwner && rest[i:] != "}:"+suffixQueue {
		return "", false
	}
	return unescapeID(rest[:i]), true
}

// wakeChannel is the pub/sub channel of one driver: grants and cancels
// for the calls blocked in it are published there.
func (ks keyspace) wakeChannel(token string) string {
	return ks.prefix + ":wake:" + token
}

// globEscape quotes the glob metacharacters of SCAN's MATCH.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// validatePrefix checks a key prefix: a non-empty ID (as backend.ValidateID
// says) without "{" or "}", which would break the hash tag.
func validatePrefix(p string) *backend.Error {
	if e := backend.ValidateID("key prefix", p); e != nil {
		return e
	}
	if strings.ContainsAny(p, "{}") || !utf8.ValidString(p) {
		return backend.Errorf(backend.CodeInvalidArgument, "key prefix %q contains { or }, which would break the Redis Cluster hash tag", p)
	}
	return nil
}
