package raftbackend

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// RemoteScheme is the URL scheme of the gRPC client driver:
//
//	raft://host:port,host:port,...?max_redirects=3&cancel_grace=2s
//
// The hosts are the nodes' client API addresses (any subset of the cluster
// will do: the driver finds the leader). backend.OpenOptions.Endpoints, when
// set, replace them; IPv6 literals can only be given that way, because a
// URL holds one bracketed host at most. Parameters, each at most once:
//
//	max_redirects          whole number (RemoteMaxRedirects)
//	cancel_grace           Go duration (RemoteCancelGrace)
//	tls                    true to use TLS with the system's roots
//	ca_file                PEM file of the CAs that sign the nodes' certificates (implies tls)
//	cert_file, key_file    PEM client certificate and key, for nodes that require one (imply tls)
//	server_name            name to verify the nodes' certificates against, when not the host dialled
//
// The TLS files are read again when they change (RemoteTLSFiles); the
// names are those of the etcd store's URL. OpenOptions.DialTimeout bounds
// each connection attempt, and KeepAlive, MaxMessageSize and Logger map to
// the matching RemoteOptions. Anything else in the URL, tls=false with
// another TLS parameter, or cert_file without key_file, fails with
// CodeInvalidArgument.
const RemoteScheme = "raft"

func init() {
	backend.Register(RemoteScheme, openRemoteURL)
}

// openRemoteURL is the backend.Opener for raft:// URLs.
func openRemoteURL(ctx context.Context, u *url.URL, o backend.OpenOptions) (backend.Driver, error) {
	hosts, opts, e := parseRemoteURL(u)
	if e != nil {
		return nil, e
	}
	if len(o.Endpoints) > 0 {
		hosts = o.Endpoints
	}
	if len(hosts) == 0 {
		return nil, backend.Errorf(backend.CodeInvalidArgument, "raft store URL: no hosts: write raft://host:port,host:port")
	}
	opts = append(opts,
		RemoteLogger(o.Logger),
		RemoteKeepAlive(o.KeepAlive),
		RemoteMaxMessageSize(o.MaxMessageSize),
		RemoteConnectTimeout(o.DialTimeout),
	)
	d, err := Dial(ctx, hosts, opts...)
	if err != nil {
		return nil, err // not d: a nil *RemoteDriver in a Driver is not a nil Driver
	}
	return d, nil
}

// parseRemoteURL reads a raft:// URL: its hosts (nil when it names none)
// and the options its parameters set.
func parseRemoteURL(u *url.URL) ([]string, []RemoteOption, *backend.Error) {
	bad := func(format string, args ...any) ([]string, []RemoteOption, *backend.Error) {
		return nil, nil, backend.Errorf(backend.CodeInvalidArgument, "raft store URL: "+format, args...)
	}
	switch {
	case u.Opaque != "":
		return bad("write raft://host:port,..., not raft:%s", u.Opaque)
	case u.User != nil:
		return bad("user information is not allowed")
	case u.Path != "" && u.Path != "/":
		return bad("path %q is not allowed", u.Path)
	case u.Fragment != "":
		return bad("fragment %q is not allowed", u.Fragment)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("query: %v", err)
	}
	var opts []RemoteOption
	var (
		tlsFiles TLSFiles
		useTLS   string // "" when not given
	)
	for key, vals := range q {
		if len(vals) != 1 {
			return bad("parameter %s is given %d times", key, len(vals))
		}
		v := vals[0]
		switch key {
		case "max_redirects":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return bad("max_redirects=%q: want a whole number", v)
			}
			opts = append(opts, RemoteMaxRedirects(n))
		case "cancel_grace":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return bad("cancel_grace=%q: want a Go duration such as 2s", v)
			}
			opts = append(opts, RemoteCancelGrace(d))
		case "tls":
			if _, err := strconv.ParseBool(v); err != nil {
				return bad("tls=%q: want true or false", v)
			}
			useTLS = v
		case "ca_file", "cert_file", "key_file", "server_name":
			tlsFiles.setURLParam(key, v, false)
		default:
			return bad("unknown parameter %q (known: max_redirects, cancel_grace, tls, ca_file, cert_file, key_file, server_name)", key)
		}
	}
	tlsOpt, e := tlsFromURL(useTLS, tlsFiles)
	if e != nil {
		return nil, nil, e
	}
	if tlsOpt != nil {
		opts = append(opts, tlsOpt)
	}
	var hosts []string
	if u.Host != "" {
		hosts = strings.Split(u.Host, ",")
		for _, h := range hosts {
			if e := checkEndpoint(h); e != nil {
				return bad("host %q is not host:port", h)
			}
		}
	}
	return hosts, opts, nil
}

// tlsFromURL is the RemoteOption of a raft:// URL's TLS parameters: nil
// for plaintext. useTLS is the tls parameter, "" when absent; any file or
// server name implies TLS, and contradicts tls=false.
func tlsFromURL(useTLS string, files TLSFiles) (RemoteOption, *backend.Error) {
	bad := func(format string, args ...any) (RemoteOption, *backend.Error) {
		return nil, backend.Errorf(backend.CodeInvalidArgument, "raft store URL: "+format, args...)
	}
	on, _ := strconv.ParseBool(useTLS)
	given := files != TLSFiles{}
	switch {
	case useTLS != "" && !on && given:
		return bad("tls=false contradicts ca_file, cert_file, key_file and server_name")
	case files.CertFile != "" && files.KeyFile == "":
		return bad("cert_file needs key_file")
	case files.KeyFile != "" && files.CertFile == "":
		return bad("key_file needs cert_file")
	case !on && !given:
		return nil, nil
	}
	return RemoteTLSFiles(files), nil
}
