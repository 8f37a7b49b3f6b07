// Package raftpb is the generated protobuf and gRPC code of the Raft store's
// client API (service raftlock.v1.RaftLock), defined in raftlock.proto. Only
// package raftbackend uses it: its gRPC service serves it and its raft://
// driver calls it. Nothing here is edited by hand.
//
// To regenerate after changing raftlock.proto, install protoc (3.21 or
// later; Debian's protobuf-compiler) and the two plugins at the versions the
// committed code was made with:
//
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
//
// then run go generate in this directory, which runs:
//
//	protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative raftlock.proto
package raftpb

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative raftlock.proto
