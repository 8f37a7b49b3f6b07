// Package redisbackend is the Redis store (redis://host:6379/0?prefix=...):
// every mutation one Lua script, a fencing counter that never expires, TTLs
// in milliseconds, keys hash-tagged per lock for Redis Cluster.
//
// The package is planned and holds no driver yet: a program that opens a
// redis:// URL today gets ErrNotSupported from raftlock.Open.
//
// Imports: backend and go-redis v9; never the root package.
package redisbackend
