// Package etcdbackend is the etcd store (etcd://host:2379,...?prefix=/locks):
// one key per lock under a prefix, one lease per grant, acquire, release and
// renew as single transactions, FIFO waiting in the way of etcd's
// concurrency.Mutex, the owner key's create revision as fencing token.
//
// The package is planned and holds no driver yet: a program that opens an
// etcd:// URL today gets ErrNotSupported from raftlock.Open.
//
// Imports: backend and the etcd v3 client; never the root package.
package etcdbackend
