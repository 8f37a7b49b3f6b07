package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/raftlock/raftlock/raftbackend"
)

// observeShutdownTimeout bounds how long the metrics endpoint waits for
// its requests in flight (a CPU profile, a slow scrape) when serve stops.
const observeShutdownTimeout = 5 * time.Second

// observeOptions are serve's settings for metrics and profiling.
type observeOptions struct {
	metricsAddr string
	pprof       bool
}

// observeFlags defines the flags of observeOptions on fs.
func observeFlags(fs *flag.FlagSet, o *observeOptions) {
	fs.StringVar(&o.metricsAddr, "metrics-addr", "",
		"`host:port` of an HTTP endpoint serving /metrics (Prometheus text format: the node's Raft state, "+
			"lock table and counters, RPCs by method and code, Go runtime and process) and /healthz "+
			"(200 while the node can serve lock calls, 503 otherwise); empty serves none")
	fs.BoolVar(&o.pprof, "pprof", false,
		"also serve Go's profiles under /debug/pprof/ on --metrics-addr (which it requires); "+
			"they reveal the program's internals, so keep that address on a trusted network")
}

// check reports a bad setting before anything starts.
func (o *observeOptions) check() error {
	if o.metricsAddr == "" {
		if o.pprof {
			return errors.New("--pprof needs --metrics-addr")
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(o.metricsAddr); err != nil {
		return fmt.Errorf("--metrics-addr: %v", err)
	}
	return nil
}

// configure prepares what must be in place before the node starts (gRPC
// interceptors in cfg) and returns the observer that serves the rest. With
// --metrics-addr it listens at once, so that a taken port fails the start
// rather than going unnoticed, and serves /healthz as 503 until the node
// runs.
func (o *observeOptions) configure(cfg *raftbackend.Config, logger *slog.Logger) (*observer, error) {
	ob := &observer{logger: logger}
	if o.metricsAddr == "" {
		return ob, nil
	}
	// A registry of our own rather than the default one: the binary links
	// packages that may register on the default registry, and /metrics
	// should show what this page documents, nothing else.
	reg := prometheus.NewRegistry()
	rpc := newRPCMetrics()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		rpc,
		&nodeCollector{node: &ob.node},
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// A collector that fails shows in the answer's missing series and
		// in the log, not as a failed scrape of everything else.
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /healthz", ob.healthz)
	if o.pprof {
		// On this mux only: net/http/pprof also registers itself on
		// http.DefaultServeMux, which nothing here serves.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}

	lis, err := net.Listen("tcp", o.metricsAddr)
	if err != nil {
		return nil, fmt.Errorf("metrics endpoint: %w", err)
	}
	ob.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: a CPU profile or trace writes for as long as
		// it was asked to run.
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ob.served = make(chan struct{})
	go func() {
		defer close(ob.served)
		if err := ob.srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics endpoint stopped", "error", err)
		}
	}()

	// First in the chain, so that it counts and times every call as the
	// client sees it, including those that interceptors added before it
	// (authentication, rate limits) turn away.
	cfg.ServerOptions = append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(rpc.unary),
		grpc.ChainStreamInterceptor(rpc.stream),
	}, cfg.ServerOptions...)
	logger.Info("metrics endpoint serving", "addr", lis.Addr().String(), "pprof", o.pprof)
	return ob, nil
}

// observer serves what the node exposes once it runs: /metrics and
// /healthz, and /debug/pprof/ if asked.
type observer struct {
	logger *slog.Logger
	node   atomic.Pointer[raftbackend.Node] // nil until attach
	srv    *http.Server                     // nil without --metrics-addr
	served chan struct{}                    // closed when srv's Serve returns
}

// attach starts observing node, once it runs.
func (ob *observer) attach(node *raftbackend.Node) {
	ob.node.Store(node)
}

// close stops serving, letting the requests in flight finish for a moment.
func (ob *observer) close() {
	if ob.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), observeShutdownTimeout)
	defer cancel()
	if err := ob.srv.Shutdown(ctx); err != nil {
		ob.logger.Warn("metrics endpoint did not stop in time; closing it", "error", err)
		ob.srv.Close()
	}
	<-ob.served
}

// healthz answers 200 while the node can serve lock calls, 503 otherwise,
// as its grpc.health.v1 status says SERVING or NOT_SERVING: both ask
// whether the node knows a leader. The body says why, in one line.
func (ob *observer) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	n := ob.node.Load()
	if n == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not serving: starting")
		return
	}
	h, err := n.Health(r.Context())
	switch {
	case err != nil:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not serving:", err)
	case !h.Serving:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not serving:", h.Message)
	default:
		fmt.Fprintln(w, "serving:", h.Message)
	}
}
