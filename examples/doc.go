// Package examples holds runnable programs, one folder each:
//
//   - quickstart: take, renew and release a lock; watch the fencing token
//     grow across holders; a second client refused, then served from the
//     queue. Run it with go run ./examples/quickstart.
//   - customdriver: a lock store of your own behind the driver contract,
//     proven by the conformance suite.
package examples
