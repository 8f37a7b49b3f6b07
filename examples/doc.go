// Package examples holds runnable programs, one folder each:
//
//   - quickstart: take, renew and release a lock on an embedded Raft node;
//     watch the fencing token grow across holders; a second client refused,
//     then served from the queue. Run it with go run ./examples/quickstart.
//   - cluster: a three-node Raft cluster on loopback in one command
//     (examples/cluster/run.sh), and how a program connects to it.
//   - swap: one program, unchanged, on whichever store its -store URL
//     names (mem://, raft+embed://, raft://, etcd://, redis://): a refusal
//     that names the holder, a wait, a hand-over with a greater fencing
//     token. Run it with go run ./examples/swap.
//   - election: three candidates for one service; the leader dies without
//     resigning, another takes over when its lease has run out, then
//     resigns and hands over at once, printed as a timeline. Run it with
//     go run ./examples/election.
//   - customdriver: a lock store of your own behind the driver contract,
//     proven by the conformance suite.
package examples
