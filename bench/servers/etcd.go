package servers

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// etcdSpec is one etcd member.
type etcdSpec struct {
	Name           string `json:"name"`
	Dir            string `json:"dir"`
	ClientURL      string `json:"client_url"`
	PeerURL        string `json:"peer_url"`
	InitialCluster string `json:"initial_cluster"`
	Token          string `json:"token"`
}

// StartEtcd starts an etcd cluster of members members (1 or 3, say), with
// etcd's default settings, and waits until it serves.
func StartEtcd(ctx context.Context, members int) (*Cluster, error) {
	ports, err := freePorts(2 * members)
	if err != nil {
		return nil, err
	}
	specs := make([]etcdSpec, members)
	initial := make([]string, members)
	// A token of its own keeps the cluster from ever talking to another one
	// that happens to reuse a port.
	token := "bench-" + rand.Text()[:8]
	for i := range specs {
		specs[i] = etcdSpec{
			Name:      fmt.Sprintf("m%d", i+1),
			ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
			Token:     token,
		}
		initial[i] = specs[i].Name + "=" + specs[i].PeerURL
	}
	c := &Cluster{Kind: Etcd, leader: etcdLeader}
	for i := range specs {
		specs[i].InitialCluster = strings.Join(initial, ",")
		c.Addrs = append(c.Addrs, strings.TrimPrefix(specs[i].ClientURL, "http://"))
	}
	// The members wait for each other's votes before any says it serves,
	// so they start together.
	c.procs, err = startAll(members, func(i int) (*Process, error) {
		name := fmt.Sprintf("etcd-%d", i+1)
		dir, err := dataDir(name)
		if err != nil {
			return nil, err
		}
		spec := specs[i]
		spec.Dir = dir
		return launchChild(ctx, name, childSpec{Etcd: &spec}, dir, &struct{}{})
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// etcdLeader asks each member for its status and returns the one that says
// it leads.
func etcdLeader(ctx context.Context, c *Cluster) (int, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Addrs, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	var errs []error
	for i, addr := range c.Addrs {
		if c.procs[i].Exited() {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := cli.Status(sctx, addr)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if st.Leader != 0 && st.Leader == st.Header.MemberId {
			return i, nil
		}
	}
	return 0, errors.Join(append(errs, errors.New("no member leads"))...)
}

// serveEtcd runs one etcd member until ctx ends.
func serveEtcd(ctx context.Context, s *etcdSpec) error {
	cfg := embed.NewConfig()
	cfg.Name = s.Name
	cfg.Dir = s.Dir
	cfg.LogLevel = "error"
	client, err := url.Parse(s.ClientURL)
	if err != nil {
		return err
	}
	peer, err := url.Parse(s.PeerURL)
	if err != nil {
		return err
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	cfg.InitialCluster = s.InitialCluster
	cfg.InitialClusterToken = s.Token
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		return err
	case <-ctx.Done():
		return nil
	}
	if err := announce(struct{}{}); err != nil {
		return err
	}
	select {
	case err := <-e.Err():
		return err
	case <-ctx.Done():
		return nil
	}
}
