package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"strings"

	"github.com/raftlock/raftlock/raftbackend"
)

// securityOptions are serve's settings for TLS, client identities and
// rate limits.
type securityOptions struct {
	cert, key, ca, clientCA, serverName string
	bindClientIDs                       bool
	adminIdentities                     []string
	rateLimit                           float64
	rateBurst                           int
}

// securityFlags defines the flags of securityOptions on fs.
func securityFlags(fs *flag.FlagSet, o *securityOptions) {
	fs.StringVar(&o.cert, "tls-cert", "", "PEM `file` of the node's certificate: turns on TLS for both the client API and Raft traffic, "+
		"which is then mutual TLS between nodes; the certificate must allow server and client use. "+
		"Needs --tls-key and --tls-ca. Files are reloaded when they change")
	fs.StringVar(&o.key, "tls-key", "", "PEM `file` of the private key of --tls-cert")
	fs.StringVar(&o.ca, "tls-ca", "", "PEM `file` of the CAs that sign the nodes' certificates: Raft peers and the APIs the node dials are verified against it")
	fs.StringVar(&o.clientCA, "tls-client-ca", "", "PEM `file` of the CAs that sign client certificates: the client API then requires one (mutual TLS); "+
		"certificates of --tls-ca are accepted too, for the nodes' own calls")
	fs.StringVar(&o.serverName, "tls-server-name", "", "`name` peers' certificates are verified against, when not the host dialled")
	fs.BoolVar(&o.bindClientIDs, "bind-client-ids", false, "accept a lock call only if its client ID is the identity of the caller's certificate "+
		"(first URI SAN, else DNS SAN, else common name) or starts with it and \"/\"; needs --tls-client-ca")
	fs.Func("admin-identities", "client certificate `identities`, comma-separated, that may join or remove nodes and force-release locks "+
		"through the API (the nodes themselves always may); needs --tls-client-ca, whose CA should not also sign the nodes", func(v string) error {
		o.adminIdentities = splitList(v)
		return nil
	})
	fs.Float64Var(&o.rateLimit, "rate-limit", 0, "`calls` per second each client may make to this node's API, on average: "+
		"a client is its certificate's identity, else its client ID, else its IP address; 0 for no limit")
	fs.IntVar(&o.rateBurst, "rate-burst", 0, "`calls` a client may make at once under --rate-limit (default --rate-limit rounded up)")
}

// check reports a bad setting before anything starts.
func (o *securityOptions) check() error {
	tlsFlags := []struct{ name, value string }{{"--tls-cert", o.cert}, {"--tls-key", o.key}, {"--tls-ca", o.ca}}
	var set, missing []string
	for _, f := range tlsFlags {
		if f.value != "" {
			set = append(set, f.name)
		} else {
			missing = append(missing, f.name)
		}
	}
	tlsOn := len(missing) == 0
	switch {
	case len(set) > 0 && !tlsOn:
		return fmt.Errorf("TLS needs --tls-cert, --tls-key and --tls-ca together (missing %s)", strings.Join(missing, ", "))
	case !tlsOn && o.clientCA != "":
		return errors.New("--tls-client-ca needs --tls-cert, --tls-key and --tls-ca")
	case !tlsOn && o.serverName != "":
		return errors.New("--tls-server-name needs --tls-cert, --tls-key and --tls-ca")
	case len(o.adminIdentities) > 0 && o.clientCA == "":
		return errors.New("--admin-identities needs --tls-client-ca: without client certificates no caller has an identity")
	case o.bindClientIDs && o.clientCA == "":
		return errors.New("--bind-client-ids needs client certificates: set --tls-client-ca")
	case math.IsNaN(o.rateLimit) || math.IsInf(o.rateLimit, 0) || o.rateLimit < 0:
		return errors.New("--rate-limit must be a non-negative number")
	case o.rateBurst < 0:
		return errors.New("--rate-burst must not be negative")
	case o.rateBurst > 0 && o.rateLimit == 0:
		return errors.New("--rate-burst needs --rate-limit")
	}
	return nil
}

// configure puts the settings into the node's configuration. The node
// reads the files when it starts, and fails then if one cannot be used.
func (o *securityOptions) configure(cfg *raftbackend.Config, logger *slog.Logger) error {
	if o.cert != "" {
		cfg.TLS = &raftbackend.TLSFiles{
			CertFile: o.cert, KeyFile: o.key, CAFile: o.ca,
			ClientCAFile: o.clientCA, ServerName: o.serverName,
		}
	}
	cfg.BindClientIDs = o.bindClientIDs
	cfg.AdminIdentities = o.adminIdentities
	cfg.RateLimit, cfg.RateBurst = o.rateLimit, o.rateBurst
	switch {
	case cfg.TLS == nil:
		logger.Warn("TLS is off: the client API and Raft traffic are plaintext and unauthenticated")
	case o.clientCA == "":
		logger.Info("TLS on; clients need no certificate", "cert", o.cert)
	default:
		logger.Info("mutual TLS on", "cert", o.cert, "bind_client_ids", o.bindClientIDs)
	}
	return nil
}
