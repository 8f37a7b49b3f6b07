package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/raftbackend"
)

// The commands that look at and change the membership of a Raft cluster of
// raftlock serve nodes.

// membership is what a driver of a Raft cluster offers beyond locks
// (raftbackend.RemoteDriver, behind raft:// URLs).
type membership interface {
	Members(ctx context.Context) ([]raftbackend.Member, error)
	Join(ctx context.Context, id, raftAddr, apiAddr string) error
	Leave(ctx context.Context, id string) error
}

// cluster opens the store and returns its membership calls, or a
// not-supported error for a store that is not a Raft cluster.
func (inv *invocation) cluster(ctx context.Context) (membership, error) {
	c, err := inv.open(ctx)
	if err != nil {
		return nil, err
	}
	m, ok := c.Driver().(membership)
	if !ok {
		return nil, backend.Errorf(backend.CodeNotSupported, "the store at %s is not a Raft cluster reached over raft://: it has no members", inv.store)
	}
	return m, nil
}

// memberJSON is one member of a Raft cluster: members and leader.
type memberJSON struct {
	ID          string `json:"id"`
	RaftAddress string `json:"raft_address"`
	APIAddress  string `json:"api_address"`
	Voter       bool   `json:"voter"`
	Leader      bool   `json:"leader"`
}

func memberView(m raftbackend.Member) memberJSON {
	return memberJSON{ID: m.ID, RaftAddress: m.RaftAddress, APIAddress: m.APIAddress, Voter: m.Voter, Leader: m.Leader}
}

var membersCmd = &clientCommand{
	name:     "members",
	summary:  "list the members of a Raft cluster",
	synopsis: "[flags]",
	about: `Lists the servers of the Raft cluster --store names (a raft:// URL): each
one's ID, Raft address, client API address, whether it votes and whether
it leads. Other stores have no members: the not-supported status.`,
	nargs:  [2]int{0, 0},
	output: true,
	setup: func(fs *flag.FlagSet) action {
		return func(ctx context.Context, inv *invocation) error {
			ctx, cancel := inv.bounded(ctx)
			defer cancel()
			m, err := inv.cluster(ctx)
			if err != nil {
				return err
			}
			ms, err := retryDriver(ctx, m.Members)
			if err != nil {
				return err
			}
			if inv.json {
				views := make([]memberJSON, 0, len(ms))
				for _, x := range ms {
					views = append(views, memberView(x))
				}
				return writeJSON(inv.stdout, views)
			}
			t := newTable(inv.stdout, "ID", "RAFT ADDRESS", "API ADDRESS", "VOTER", "LEADER")
			for _, x := range ms {
				t.row(x.ID, x.RaftAddress, orDash(x.APIAddress), yesNo(x.Voter), yesNo(x.Leader))
			}
			return t.flush()
		}
	},
}

var leaderCmd = &clientCommand{
	name:     "leader",
	summary:  "name the leader of a Raft cluster",
	synopsis: "[flags]",
	about: `Names the current leader of the Raft cluster --store names: its ID, client
API address and Raft address. A cluster without a leader (an election under
way, too few members up) gives the unavailable status; a store that is not
a Raft cluster reports the leader its status names, if any.`,
	nargs:  [2]int{0, 0},
	output: true,
	setup: func(fs *flag.FlagSet) action {
		return func(ctx context.Context, inv *invocation) error {
			ctx, cancel := inv.bounded(ctx)
			defer cancel()
			leader, err := inv.leader(ctx)
			if err != nil {
				return err
			}
			if inv.json {
				return writeJSON(inv.stdout, memberView(leader))
			}
			return fields(inv.stdout,
				"id", orDash(leader.ID),
				"api", orDash(leader.APIAddress),
				"raft", orDash(leader.RaftAddress),
			)
		}
	},
}

// leader finds the leader: among a Raft cluster's members, or else in the
// store's status (its client address only).
func (inv *invocation) leader(ctx context.Context) (raftbackend.Member, error) {
	c, err := inv.open(ctx)
	if err != nil {
		return raftbackend.Member{}, err
	}
	if m, ok := c.Driver().(membership); ok {
		ms, err := retryDriver(ctx, m.Members)
		if err != nil {
			return raftbackend.Member{}, err
		}
		for _, x := range ms {
			if x.Leader {
				return x, nil
			}
		}
		return raftbackend.Member{}, backend.Errorf(backend.CodeLeaderUnavailable, "the cluster has no leader now")
	}
	st, err := c.GetStatus(ctx)
	if err != nil {
		return raftbackend.Member{}, err
	}
	if st.Leader == "" {
		return raftbackend.Member{}, backend.Errorf(backend.CodeNotSupported, "the %s store at %s names no leader (role %q)", st.Store, inv.store, st.Role)
	}
	return raftbackend.Member{APIAddress: st.Leader, Voter: true, Leader: true}, nil
}

var joinCmd = &clientCommand{
	name:     "join",
	summary:  "add a server to a Raft cluster",
	synopsis: "--id ID --raft-addr HOST:PORT --api-addr HOST:PORT [flags]",
	about: `Adds a server to the Raft cluster --store names, as a voter: its peers will
reach it at --raft-addr, clients at --api-addr. The leader makes the change,
wherever the command is sent. A node started with raftlock serve --join asks
for this itself; join is for adding a node started otherwise. Joining a
member again with the same addresses changes nothing.`,
	nargs: [2]int{0, 0},
	setup: func(fs *flag.FlagSet) action {
		var id, raftAddr, apiAddr string
		fs.StringVar(&id, "id", "", "the server's Raft `ID` (required)")
		fs.StringVar(&raftAddr, "raft-addr", "", "`host:port` where its peers reach its Raft transport (required)")
		fs.StringVar(&apiAddr, "api-addr", "", "`host:port` where clients reach its gRPC API (required)")
		return func(ctx context.Context, inv *invocation) error {
			if id == "" || raftAddr == "" || apiAddr == "" {
				return usagef("--id, --raft-addr and --api-addr are required")
			}
			ctx, cancel := inv.bounded(ctx)
			defer cancel()
			m, err := inv.cluster(ctx)
			if err != nil {
				return err
			}
			if _, err := retryDriver(ctx, func(ctx context.Context) (struct{}, error) {
				return struct{}{}, m.Join(ctx, id, raftAddr, apiAddr)
			}); err != nil {
				return err
			}
			_, err = fmt.Fprintf(inv.stdout, "%s joined the cluster (raft %s, api %s)\n", id, raftAddr, apiAddr)
			return err
		}
	},
}

var leaveCmd = &clientCommand{
	name:     "leave",
	summary:  "remove a server from a Raft cluster",
	synopsis: "--id ID [flags]",
	about: `Removes a server from the Raft cluster --store names, by its ID. The leader
makes the change, wherever the command is sent.`,
	nargs: [2]int{0, 0},
	setup: func(fs *flag.FlagSet) action {
		var id string
		fs.StringVar(&id, "id", "", "the server's Raft `ID` (required)")
		return func(ctx context.Context, inv *invocation) error {
			if id == "" {
				return usagef("--id is required")
			}
			ctx, cancel := inv.bounded(ctx)
			defer cancel()
			m, err := inv.cluster(ctx)
			if err != nil {
				return err
			}
			if _, err := retryDriver(ctx, func(ctx context.Context) (struct{}, error) {
				return struct{}{}, m.Leave(ctx, id)
			}); err != nil {
				return err
			}
			_, err = fmt.Fprintf(inv.stdout, "%s left the cluster\n", id)
			return err
		}
	},
}
