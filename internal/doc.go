// Package internal holds what no user of raftlock should import: generated
// protobuf code and the servers tests start. Its subpackages are free to
// change between releases.
package internal
