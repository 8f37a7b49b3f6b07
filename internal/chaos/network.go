package chaos

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Network is the Raft network of a cluster: one Proxy for each directed
// pair of nodes, node i dialling node j through the proxy i->j (serve's
// --raft-peer-addr). Raft RPCs travel only on connections their sender
// dialled, so the proxy i->j carries i's requests to j forward and j's
// answers backward, and nothing else. Only Raft traffic goes through the
// network: clients, and the nodes' calls to each other's client APIs
// (joins, status), reach the nodes directly.
//
// The methods change every proxy concerned at once and are safe for
// concurrent use. They panic on a node ID that is not in the cluster, a
// mistake in the test that calls them.
type Network struct {
	ids     []string
	proxies map[link]*Proxy

	mu     sync.Mutex // orders changes, so each applies as a whole
	delay  time.Duration
	jitter time.Duration
}

// link is a directed pair of nodes: from dials to.
type link struct{ from, to string }

// newNetwork starts a proxy for every directed pair of ids, relaying to
// the Raft address raftAddrs gives for the node dialled.
func newNetwork(ids []string, raftAddrs map[string]string) (*Network, error) {
	n := &Network{ids: slices.Clone(ids), proxies: make(map[link]*Proxy)}
	for _, from := range ids {
		for _, to := range ids {
			if from == to {
				continue
			}
			p, err := NewProxy(raftAddrs[to])
			if err != nil {
				n.close()
				return nil, fmt.Errorf("proxy %s->%s: %w", from, to, err)
			}
			n.proxies[link{from, to}] = p
		}
	}
	return n, nil
}

// Proxy is the proxy node from dials node to through.
func (n *Network) Proxy(from, to string) *Proxy {
	p := n.proxies[link{from, to}]
	if p == nil {
		panic(fmt.Sprintf("chaos: no link %s->%s in the network of %v", from, to, n.ids))
	}
	return p
}

// Partition splits the nodes into groups: links between nodes of
// different groups are cut both ways, links inside a group are open. A
// node named in no group is a group of its own. It replaces every cut made
// before (one-way ones too); delays stay.
func (n *Network) Partition(groups ...[]string) {
	group := make(map[string]int)
	for g, ids := range groups {
		for _, id := range ids {
			n.check(id)
			group[id] = g + 1
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for l, p := range n.proxies {
		ga, gb := group[l.from], group[l.to]
		cut := ga == 0 || gb == 0 || ga != gb
		p.SetBlocked(Forward, cut)
		p.SetBlocked(Backward, cut)
	}
}

// Isolate cuts id off from every other node, both ways, replacing every
// cut made before.
func (n *Network) Isolate(id string) {
	n.check(id)
	n.Partition([]string{id}, slices.DeleteFunc(slices.Clone(n.ids), func(s string) bool { return s == id }))
}

// OneWay drops what from sends to to, adding to the cuts already made: to
// goes on hearing nothing from from, while from hears to. At the socket
// level, bytes from from to to stop in both kinds of connection between
// them: on the connections from dials to (through the proxy from->to),
// from's requests stop (Forward) and to's answers flow; on the
// connections to dials from (through to->from), to's requests reach from
// but from's answers stop (Backward). New connections either way are held
// unconnected, as a one-way partition drops the SYN or the SYN-ACK.
func (n *Network) OneWay(from, to string) {
	n.check(from)
	n.check(to)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.Proxy(from, to).SetBlocked(Forward, true)
	n.Proxy(to, from).SetBlocked(Backward, true)
}

// Delay makes every link delay each chunk of bytes by d plus a random
// share of jitter, both ways. Delay(0, 0) removes it; cuts stay.
func (n *Network) Delay(d, jitter time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.delay, n.jitter = d, jitter
	for _, p := range n.proxies {
		p.SetDelay(d, jitter)
	}
}

// Heal opens every link and removes the delay.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.delay, n.jitter = 0, 0
	for _, p := range n.proxies {
		p.Heal()
	}
}

// String describes the network's faults, for logs: "healthy", or the cut
// links ("n1->n2" both ways, "n1->n2 requests" or "n1->n2 answers" one
// way) and the delay.
func (n *Network) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var parts []string
	for _, from := range n.ids {
		for _, to := range n.ids {
			p := n.proxies[link{from, to}]
			if p == nil {
				continue
			}
			fwd, back := p.Blocked(Forward), p.Blocked(Backward)
			switch {
			case fwd && back:
				parts = append(parts, from+"->"+to)
			case fwd:
				parts = append(parts, from+"->"+to+" requests")
			case back:
				parts = append(parts, from+"->"+to+" answers")
			}
		}
	}
	if len(parts) > 0 {
		parts = []string{"cut " + strings.Join(parts, ", ")}
	}
	if n.delay > 0 || n.jitter > 0 {
		parts = append(parts, fmt.Sprintf("delay %v+%v", n.delay, n.jitter))
	}
	if len(parts) == 0 {
		return "healthy"
	}
	return strings.Join(parts, "; ")
}

func (n *Network) check(id string) {
	if !slices.Contains(n.ids, id) {
		panic(fmt.Sprintf("chaos: node %q is not in the network of %v", id, n.ids))
	}
}

// close stops every proxy.
func (n *Network) close() error {
	var errs []error
	for _, p := range n.proxies {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}
