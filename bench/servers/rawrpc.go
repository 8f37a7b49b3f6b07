package servers

import (
	"context"
	"errors"
	"net"
	"net/rpc"
	"time"

	"github.com/hashicorp/raft"
)

// The raw raft API is net/rpc over TCP: small, in the standard library, and
// one request per call, which is all a ceiling needs.

// rawService is the name the API is registered under.
const rawService = "RawRaft"

// rawCommandSize is the size of every raw raft command: about that of an
// Acquire in raftlock's log encoding, so that both write as many bytes
// per command.
const rawCommandSize = 80

// The operations of a raw raft command.
const (
	rawPut byte = 'p'
	rawDel byte = 'd'
)

// rawApplyTimeout bounds how long a node waits to enqueue a command.
const rawApplyTimeout = 10 * time.Second

// encodeRawCommand is op, the key's length, the key, and zeros up to
// rawCommandSize.
func encodeRawCommand(op byte, key string) []byte {
	b := make([]byte, 0, max(rawCommandSize, len(key)+2))
	b = append(b, op, byte(len(key)))
	b = append(b, key...)
	for len(b) < rawCommandSize {
		b = append(b, 0)
	}
	return b
}

var errRawCommand = errors.New("raw raft: malformed command")

func decodeRawCommand(b []byte) (op byte, key string, err error) {
	if len(b) < 2 || int(b[1]) > len(b)-2 || (b[0] != rawPut && b[0] != rawDel) {
		return 0, "", errRawCommand
	}
	return b[0], string(b[2 : 2+int(b[1])]), nil
}

// RawApplyArgs is a command to apply.
type RawApplyArgs struct{ Cmd []byte }

// RawApplyReply is the log index the command was committed at.
type RawApplyReply struct{ Index uint64 }

// RawListArgs asks for the keys that start with Prefix.
type RawListArgs struct{ Prefix string }

// RawListReply is the keys, sorted.
type RawListReply struct{ Keys []string }

// RawEmpty is an RPC's empty argument.
type RawEmpty struct{}

// RawRoleReply says whether the node leads.
type RawRoleReply struct{ Leader bool }

// RawRaftService is the RPC API of a raw raft node. Its methods are called
// by net/rpc.
type RawRaftService struct {
	raft *raft.Raft
	fsm  *keySet
}

// Apply commits one command as one log entry and waits until this node has
// applied it. It fails on a node that does not lead.
func (s *RawRaftService) Apply(args RawApplyArgs, reply *RawApplyReply) error {
	f := s.raft.Apply(args.Cmd, rawApplyTimeout)
	if err := f.Error(); err != nil {
		return err
	}
	if err, ok := f.Response().(error); ok {
		return err
	}
	reply.Index = f.Index()
	return nil
}

// List reads the keys linearizably, as raftlock's store lists its locks:
// the node confirms with a quorum that it still leads, and waits until it
// has applied every entry committed when the read began.
func (s *RawRaftService) List(args RawListArgs, reply *RawListReply) error {
	commit := s.raft.CommitIndex()
	if err := s.raft.VerifyLeader().Error(); err != nil {
		return err
	}
	for s.raft.AppliedIndex() < commit {
		time.Sleep(time.Millisecond)
	}
	reply.Keys = s.fsm.list(args.Prefix)
	return nil
}

// Role says whether the node leads.
func (s *RawRaftService) Role(_ RawEmpty, reply *RawRoleReply) error {
	reply.Leader = s.raft.State() == raft.Leader
	return nil
}

// RawRaftClient is a connection to one raw raft node's RPC API. It is safe
// for concurrent use; calls share the connection.
type RawRaftClient struct {
	c *rpc.Client
}

// DialRawRaft connects to the raw raft node whose RPC API is at addr.
func DialRawRaft(addr string) (*RawRaftClient, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &RawRaftClient{c: rpc.NewClient(conn)}, nil
}

// Put commits a command that adds key, as one log entry.
func (c *RawRaftClient) Put(ctx context.Context, key string) error {
	return c.call(ctx, "Apply", RawApplyArgs{Cmd: encodeRawCommand(rawPut, key)}, new(RawApplyReply))
}

// Delete commits a command that removes key, as one log entry.
func (c *RawRaftClient) Delete(ctx context.Context, key string) error {
	return c.call(ctx, "Apply", RawApplyArgs{Cmd: encodeRawCommand(rawDel, key)}, new(RawApplyReply))
}

// List returns the keys that start with prefix, sorted, read linearizably
// from the leader.
func (c *RawRaftClient) List(ctx context.Context, prefix string) ([]string, error) {
	var r RawListReply
	err := c.call(ctx, "List", RawListArgs{Prefix: prefix}, &r)
	return r.Keys, err
}

// IsLeader asks the node whether it leads.
func (c *RawRaftClient) IsLeader(ctx context.Context) (bool, error) {
	var r RawRoleReply
	err := c.call(ctx, "Role", RawEmpty{}, &r)
	return r.Leader, err
}

// Close closes the connection.
func (c *RawRaftClient) Close() error { return c.c.Close() }

// call makes one RPC, giving up (but not cancelling it on the node, which
// net/rpc cannot) when ctx ends.
func (c *RawRaftClient) call(ctx context.Context, method string, args, reply any) error {
	call := c.c.Go(rawService+"."+method, args, reply, make(chan *rpc.Call, 1))
	select {
	case <-call.Done:
		return call.Error
	case <-ctx.Done():
		return ctx.Err()
	}
}
