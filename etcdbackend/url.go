package etcdbackend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// Scheme is the URL scheme the package registers with backend.Register:
//
//	etcd://[user:password@]host:2379,host:2379[/]?prefix=/locks&dial_timeout=5s
//
// The hosts are the cluster's client addresses; backend.OpenOptions.Endpoints,
// when set, replace them (IPv6 literals can only be given that way, or
// through Config). Parameters, each at most once:
//
//	prefix                 key prefix of the locks (default DefaultPrefix)
//	dial_timeout           Go duration (default DefaultDialTimeout)
//	default_wait_timeout   Go duration, for Enqueue without a wait timeout
//	username, password     etcd auth; or as the URL's user information
//	tls                    true to use TLS with the system's roots
//	ca_file                PEM file of the CAs to trust (implies tls)
//	cert_file, key_file    PEM client certificate and key (imply tls)
//	server_name            name to verify the servers' certificates against
//	insecure_skip_verify   true to skip verifying them (tests only)
//
// OpenOptions.DialTimeout, KeepAlive, MaxMessageSize and Logger apply as
// the matching Config fields. Anything else in the URL fails with
// CodeInvalidArgument.
const Scheme = "etcd"

func init() {
	backend.Register(Scheme, openURL)
}

// openURL is the backend.Opener for etcd:// URLs.
func openURL(ctx context.Context, u *url.URL, o backend.OpenOptions) (backend.Driver, error) {
	cfg, e := parseURL(u)
	if e != nil {
		return nil, e
	}
	if len(o.Endpoints) > 0 {
		cfg.Endpoints = o.Endpoints
	}
	if o.DialTimeout > 0 {
		cfg.DialTimeout = o.DialTimeout
	}
	cfg.KeepAlive, cfg.MaxMessageSize, cfg.Logger = o.KeepAlive, o.MaxMessageSize, o.Logger
	d, err := Open(ctx, cfg)
	if err != nil {
		return nil, err // not d: a nil *Driver in a Driver is not a nil Driver
	}
	return d, nil
}

// parseURL reads an etcd:// URL into a Config. It reads the TLS files the
// URL names.
func parseURL(u *url.URL) (Config, *backend.Error) {
	bad := func(format string, args ...any) (Config, *backend.Error) {
		return Config{}, backend.Errorf(backend.CodeInvalidArgument, "etcd store URL: "+format, args...)
	}
	switch {
	case u.Opaque != "":
		return bad("write etcd://host:port,..., not etcd:%s", u.Opaque)
	case u.Path != "" && u.Path != "/":
		return bad("path %q is not allowed: give the key prefix as ?prefix=%s", u.Path, u.Path)
	case u.Fragment != "":
		return bad("fragment %q is not allowed", u.Fragment)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("query: %v", err)
	}
	var cfg Config
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	var (
		useTLS                    bool
		caFile, certFile, keyFile string
		serverName                string
		skipVerify                bool
	)
	for key, vals := range q {
		if len(vals) != 1 {
			return bad("parameter %s is given %d times", key, len(vals))
		}
		v := vals[0]
		var err error
		switch key {
		case "prefix":
			if _, e := cleanPrefix(v); e != nil || v == "" {
				return bad("prefix=%q: want a key prefix without NUL such as /locks", v)
			}
			cfg.Prefix = v
		case "dial_timeout":
			cfg.DialTimeout, err = positiveDuration(v)
		case "default_wait_timeout":
			cfg.DefaultWaitTimeout, err = positiveDuration(v)
			if err == nil && cfg.DefaultWaitTimeout > backend.MaxWaitTimeout {
				return bad("default_wait_timeout=%q is above %v", v, backend.MaxWaitTimeout)
			}
		case "username":
			if u.User != nil {
				return bad("give the username in the user information or as a parameter, not both")
			}
			cfg.Username = v
		case "password":
			if u.User != nil {
				return bad("give the password in the user information or as a parameter, not both")
			}
			cfg.Password = v
		case "tls":
			useTLS, err = strconv.ParseBool(v)
		case "ca_file":
			caFile = v
		case "cert_file":
			certFile = v
		case "key_file":
			keyFile = v
		case "server_name":
			serverName = v
		case "insecure_skip_verify":
			skipVerify, err = strconv.ParseBool(v)
		default:
			return bad("unknown parameter %q (known: prefix, dial_timeout, default_wait_timeout, username, password, "+
				"tls, ca_file, cert_file, key_file, server_name, insecure_skip_verify)", key)
		}
		if err != nil {
			return bad("parameter %s=%q: %v", key, v, err)
		}
	}
	if cfg.Password != "" && cfg.Username == "" {
		return bad("a password without a username")
	}
	if u.Host != "" {
		for _, h := range strings.Split(u.Host, ",") {
			// Open drops a blank endpoint; a host that is only (Unicode)
			// space is none.
			if strings.TrimSpace(h) == "" || strings.ContainsAny(h, "/?#@") {
				return bad("host %q is not host:port", h)
			}
			cfg.Endpoints = append(cfg.Endpoints, h)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return bad("cert_file and key_file go together")
	}
	if useTLS || caFile != "" || certFile != "" || serverName != "" || skipVerify {
		tc := &tls.Config{ServerName: serverName, InsecureSkipVerify: skipVerify, MinVersion: tls.VersionTLS12}
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return bad("ca_file: %v", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return bad("ca_file %s holds no PEM certificate", caFile)
			}
		}
		if certFile != "" {
			cert, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return bad("cert_file and key_file: %v", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		cfg.TLS = tc
	}
	return cfg, nil
}

func positiveDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err == nil && d <= 0 {
		return 0, strconv.ErrRange
	}
	return d, err
}
