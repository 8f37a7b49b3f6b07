// Package backend is the contract between raftlock's portable client and the
// stores behind it, in the way database/sql/driver is for database/sql.
//
// A store is reached through a Driver. The Driver is small and literal: it
// carries one request to its store and maps the answer onto the types here and
// the failure onto an *Error with a Code. Everything that is the same for
// every store (input validation, per-request timeouts, retries with backoff,
// metrics, logging, the closed state) lives once, in the root package's
// client. Optional abilities are separate interfaces found by type assertion:
// Queuer (an explicit wait queue), Admin (status, health, backoff advice),
// Router (a leader to follow) and Observable (events for metrics).
//
// Drivers register a URL scheme with Register from an init function;
// raftlock.Open picks the driver by the URL's scheme.
//
// The promises a driver keeps are written on Driver and checked by package
// conformance, which a driver's own tests run with conformance.Run.
//
// Imports: the standard library only. Drivers import backend; backend imports
// no other raftlock package.
package backend
