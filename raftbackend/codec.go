package raftbackend

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
)

// The log and snapshot encoding is hand-rolled: varints and length-prefixed
// strings, with a bit mask saying which of a command's fields follow, so
// that zero fields cost nothing. An Acquire with a 16-byte lock ID, a
// 26-byte client ID and a 26-byte request ID takes about 80 bytes, and
// encoding or decoding it allocates only the strings. Decoding checks every
// length against what is left, so a corrupt or hostile entry fails with
// errCorrupt and never panics (see FuzzDecodeEntry).

// entryFormat is the first byte of every entry; a future change of layout
// bumps it, and a node refuses entries of a format it does not know.
const entryFormat = 1

// maxDecodeCount bounds a count read from the input before anything is
// allocated for it, so that a corrupt length cannot ask for gigabytes.
const maxDecodeCount = 1 << 20

var errCorrupt = errors.New("raftbackend: corrupt log entry or snapshot")

// Field bits of a command, in the order the fields are written. New fields
// take new bits at the end; an entry without them reads as before, and an
// encoder sets a bit only for a field that is not zero, so a command that
// does not use a new field encodes as it did before the field existed (and
// older nodes still read it).
const (
	fWait = 1 << iota
	fPriority
	fVersion
	fTTL
	fTimeout
	fLockID
	fClientID
	fRequestID
	fNode
	fAddr
	fMetadata
	fMaxLocks
	fMaxWaiters

	fAll = fMaxWaiters<<1 - 1 // every known bit
)

// encodeEntry appends e to buf and returns the extended buffer.
func encodeEntry(buf []byte, e *entry) []byte {
	buf = append(buf, entryFormat)
	buf = binary.AppendVarint(buf, e.now)
	buf = binary.AppendUvarint(buf, uint64(len(e.cmds)))
	for i := range e.cmds {
		buf = encodeCommand(buf, &e.cmds[i])
	}
	return buf
}

func encodeCommand(buf []byte, c *command) []byte {
	var mask uint64
	set := func(bit uint64, present bool) {
		if present {
			mask |= bit
		}
	}
	set(fWait, c.wait)
	set(fPriority, c.priority != 0)
	set(fVersion, c.version != 0)
	set(fTTL, c.ttl != 0)
	set(fTimeout, c.timeout != 0)
	set(fLockID, c.lockID != "")
	set(fClientID, c.clientID != "")
	set(fRequestID, c.requestID != "")
	set(fNode, c.node != "")
	set(fAddr, c.addr != "")
	set(fMetadata, len(c.md) > 0)
	set(fMaxLocks, c.limits.maxLocks != 0)
	set(fMaxWaiters, c.limits.maxWaiters != 0)

	buf = append(buf, byte(c.kind))
	buf = binary.AppendUvarint(buf, mask)
	if mask&fPriority != 0 {
		buf = binary.AppendVarint(buf, int64(c.priority))
	}
	if mask&fVersion != 0 {
		buf = binary.AppendVarint(buf, c.version)
	}
	if mask&fTTL != 0 {
		buf = binary.AppendVarint(buf, c.ttl)
	}
	if mask&fTimeout != 0 {
		buf = binary.AppendVarint(buf, c.timeout)
	}
	if mask&fLockID != 0 {
		buf = appendString(buf, c.lockID)
	}
	if mask&fClientID != 0 {
		buf = appendString(buf, c.clientID)
	}
	if mask&fRequestID != 0 {
		buf = appendString(buf, c.requestID)
	}
	if mask&fNode != 0 {
		buf = appendString(buf, c.node)
	}
	if mask&fAddr != 0 {
		buf = appendString(buf, c.addr)
	}
	if mask&fMetadata != 0 {
		buf = appendMetadata(buf, c.md)
	}
	if mask&fMaxLocks != 0 {
		buf = binary.AppendUvarint(buf, uint64(c.limits.maxLocks))
	}
	if mask&fMaxWaiters != 0 {
		buf = binary.AppendUvarint(buf, uint64(c.limits.maxWaiters))
	}
	return buf
}

// decodeEntry parses an entry written by encodeEntry.
func decodeEntry(data []byte) (entry, error) {
	d := decoder{buf: data}
	if d.byte() != entryFormat {
		return entry{}, errCorrupt
	}
	e := entry{now: d.varint()}
	n := d.count()
	if d.err != nil {
		return entry{}, d.err
	}
	// Each command takes at least two bytes, which bounds n by the input.
	if n > len(d.buf)/2 {
		return entry{}, errCorrupt
	}
	e.cmds = make([]command, n)
	for i := range e.cmds {
		d.command(&e.cmds[i])
	}
	if d.err != nil || len(d.buf) != 0 {
		return entry{}, errCorrupt
	}
	return e, nil
}

func (d *decoder) command(c *command) {
	c.kind = cmdKind(d.byte())
	if c.kind == 0 || c.kind >= numCmdKinds {
		d.fail()
		return
	}
	mask := d.uvarint()
	if mask&^fAll != 0 {
		d.fail()
		return
	}
	c.wait = mask&fWait != 0
	if mask&fPriority != 0 {
		p := d.varint()
		if p < math.MinInt32 || p > math.MaxInt32 {
			d.fail()
		}
		c.priority = int32(p)
	}
	if mask&fVersion != 0 {
		c.version = d.varint()
	}
	if mask&fTTL != 0 {
		c.ttl = d.varint()
	}
	if mask&fTimeout != 0 {
		c.timeout = d.varint()
	}
	if mask&fLockID != 0 {
		c.lockID = d.string()
	}
	if mask&fClientID != 0 {
		c.clientID = d.string()
	}
	if mask&fRequestID != 0 {
		c.requestID = d.string()
	}
	if mask&fNode != 0 {
		c.node = d.string()
	}
	if mask&fAddr != 0 {
		c.addr = d.string()
	}
	if mask&fMetadata != 0 {
		c.md = d.metadata()
	}
	if mask&fMaxLocks != 0 {
		c.limits.maxLocks = d.limit()
	}
	if mask&fMaxWaiters != 0 {
		c.limits.maxWaiters = d.limit()
	}
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// appendMetadata writes the pairs sorted by key, so that equal maps encode
// to equal bytes (snapshots of equal states are then identical).
func appendMetadata(buf []byte, md map[string]string) []byte {
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf = binary.AppendUvarint(buf, uint64(len(keys)))
	for _, k := range keys {
		buf = appendString(buf, k)
		buf = appendString(buf, md[k])
	}
	return buf
}

// decoder reads what the append functions wrote. The first failure sticks
// in err; later reads return zero values, so callers check err once.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.buf = nil
}

func (d *decoder) byte() byte {
	if len(d.buf) < 1 {
		d.fail()
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// limit reads a lock or waiter limit: a count that sizes nothing, so any
// value up to math.MaxInt64 is accepted (on every platform alike, so that
// no node refuses an entry another applies).
func (d *decoder) limit() int64 {
	v := d.uvarint()
	if v > math.MaxInt64 {
		d.fail()
		return 0
	}
	return int64(v)
}

// count reads a length that will size an allocation.
func (d *decoder) count() int {
	v := d.uvarint()
	if v > maxDecodeCount {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.buf)) {
		d.fail()
		return ""
	}
	s := string(d.buf[:n])
	d.buf = d.buf[n:]
	return s
}

func (d *decoder) metadata() map[string]string {
	n := d.count()
	if d.err != nil || n == 0 || n > len(d.buf)/2 {
		d.fail()
		return nil
	}
	md := make(map[string]string, n)
	for range n {
		k := d.string()
		md[k] = d.string()
	}
	if len(md) != n {
		// A repeated key: an encoder of ours never writes one.
		d.fail()
		return nil
	}
	return md
}
