package queue

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedConfig configures the in-process nats-server.
type EmbeddedConfig struct {
	// Dir is where JetStream keeps its files; required.
	Dir string
	// Host defaults to 127.0.0.1 (loopback only).
	Host string
	// Port 0 picks a free port.
	Port int
	// ServerName must be unique within a cluster; defaults to "promobot".
	ServerName string
	// Cluster, when set, joins the server to a JetStream cluster.
	Cluster *EmbeddedCluster
}

// EmbeddedCluster is the route configuration of a clustered embedded server.
type EmbeddedCluster struct {
	Name   string   // cluster name, the same on every node
	Host   string   // route listen host; defaults to 127.0.0.1
	Port   int      // route listen port; 0 picks a free port
	Routes []string // nats-route://host:port of every node (this one may be listed)
}

// Embedded is a running in-process nats-server with JetStream.
type Embedded struct {
	srv *server.Server
}

// StartEmbedded starts nats-server with JetStream stored under cfg.Dir and
// returns once it accepts connections (or ctx ends, whichever is first).
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.Dir == "" {
		return nil, errors.New("embedded nats: dir is required")
	}
	opts := &server.Options{
		ServerName: cfg.ServerName,
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   cfg.Dir,
		NoSigs:     true, // the process owns signal handling, not the library
		NoLog:      true,
	}
	if opts.ServerName == "" {
		opts.ServerName = "promobot"
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	if c := cfg.Cluster; c != nil {
		// Without routes nats-server refuses clustered JetStream fatally.
		if c.Name == "" || len(c.Routes) == 0 {
			return nil, errors.New("embedded nats: a cluster needs a name and routes (listing this node too is fine)")
		}
		opts.Cluster = server.ClusterOpts{Name: c.Name, Host: c.Host, Port: c.Port}
		if opts.Cluster.Host == "" {
			opts.Cluster.Host = "127.0.0.1"
		}
		if opts.Cluster.Port == 0 {
			opts.Cluster.Port = server.RANDOM_PORT
		}
		for _, r := range c.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("embedded nats: route %q: %w", r, err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go srv.Start()

	// Poll in short slices so a cancelled ctx is honoured promptly.
	for !srv.ReadyForConnections(100 * time.Millisecond) {
		if err := ctx.Err(); err != nil {
			srv.Shutdown()
			srv.WaitForShutdown()
			return nil, fmt.Errorf("embedded nats: not ready: %w", err)
		}
	}
	return &Embedded{srv: srv}, nil
}

// ClientURL is the nats:// URL clients connect to.
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// ClusterURL is the nats-route:// URL other nodes route to ("" when not clustered).
func (e *Embedded) ClusterURL() string {
	addr := e.srv.ClusterAddr()
	if addr == nil {
		return ""
	}
	return "nats-route://" + addr.String()
}

// Shutdown stops the server, flushing JetStream to disk, and waits for it.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}
