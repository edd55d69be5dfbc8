// Command connect-bench is the Go side of the benchmarks in bench/: a Connect-native service built on
// Consul's own Go SDK (package github.com/hashicorp/consul/connect), so that consul-connect-native can be
// measured against the reference implementation on the same agent.
//
// It is built by scripts/go-sdk-bin.mjs in a generated wrapper module that requires Consul at the pinned
// version; it is not part of the npm package and is never built by `go build` inside this repository.
//
// Modes:
//
//	connect-bench serve -service NAME [-listen 127.0.0.1:0] [-timeout 60s]
//	    NewService, ReadyWait, then an HTTP server on svc.ServerTLSConfig() answering 200 "ok" to any
//	    request. One JSON line on stdout once listening:
//	    {"event":"ready","addr":"127.0.0.1:PORT","readyMs":12.3}
//	    Serves until SIGINT or SIGTERM, then closes and exits 0.
//
//	connect-bench ready -service NAME [-again NAME2] [-timeout 60s]
//	    NewService, ReadyWait, prints {"event":"ready","readyMs":12.3} and exits 0. With -again, then does
//	    the same for a second service in the same process and prints {"event":"again","readyMs":...}: the
//	    cost without the process's first-use work.
//
//	connect-bench version
//	    {"event":"version","go":"go1.26.8","consul":"v1.22.7","api":"v1.34.1"}
//
// readyMs is the time from just before the SDK's constructor to the close of its ReadyWait channel, which
// happens once the first leaf certificate and the first CA roots have arrived from the agent. The SDK does
// not load intentions: its server asks the agent's /v1/agent/connect/authorize for every new (non-resumed)
// TLS connection instead (connect/tls.go, newServerSideVerifier).
//
// The agent's address and token come from the standard environment (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN,
// ...) through api.DefaultConfig. On any failure one line {"event":"error","message":"..."} goes to stdout
// and the exit code is 1. Diagnostics (SDK log lines, the HTTP server's handshake errors) go to stderr.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/consul/connect"
	"github.com/hashicorp/go-hclog"
)

// event is the one JSON line a mode prints on stdout.
type event struct {
	Event   string   `json:"event"`
	Addr    string   `json:"addr,omitempty"`
	ReadyMs *float64 `json:"readyMs,omitempty"`
	Message string   `json:"message,omitempty"`
	Go      string   `json:"go,omitempty"`
	Consul  string   `json:"consul,omitempty"`
	API     string   `json:"api,omitempty"`
}

func emit(e event) {
	line, err := json.Marshal(e)
	if err != nil {
		line = []byte(`{"event":"error","message":"cannot encode the event"}`)
	}
	os.Stdout.Write(append(line, '\n'))
}

func fail(err error) {
	emit(event{Event: "error", Message: err.Error()})
	os.Exit(1)
}

func millis(d time.Duration) *float64 {
	ms := float64(d.Nanoseconds()) / 1e6
	return &ms
}

const usage = `usage:
  connect-bench serve -service NAME [-listen 127.0.0.1:0] [-timeout 60s] [-log-level warn]
  connect-bench ready -service NAME [-again NAME2] [-timeout 60s] [-log-level warn]
  connect-bench version`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		fail(errors.New("missing mode (serve, ready or version)"))
	}
	mode, args := os.Args[1], os.Args[2:]
	switch mode {
	case "serve":
		serve(args)
	case "ready":
		ready(args)
	case "version":
		version()
	default:
		fmt.Fprintln(os.Stderr, usage)
		fail(fmt.Errorf("unknown mode %q (want serve, ready or version)", mode))
	}
}

// options are the flags both service modes share.
type options struct {
	service  string
	again    string
	listen   string
	timeout  time.Duration
	logLevel string
}

func parseFlags(mode string, args []string, withListen bool) options {
	var o options
	fs := flag.NewFlagSet(mode, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.StringVar(&o.service, "service", "", "service name the leaf certificate is issued for (required)")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "how long to wait for the first leaf and roots")
	fs.StringVar(&o.logLevel, "log-level", "warn", "SDK log level on stderr (trace, debug, info, warn, error)")
	if withListen {
		fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "address the mTLS HTTP server listens on")
	} else {
		fs.StringVar(&o.again, "again", "", "after the first, time a second service of this name in the same process")
	}
	if err := fs.Parse(args); err != nil {
		fail(fmt.Errorf("%s: %w", mode, err))
	}
	if fs.NArg() > 0 {
		fail(fmt.Errorf("%s: unexpected arguments %q", mode, fs.Args()))
	}
	if o.service == "" {
		fail(fmt.Errorf("%s: -service is required", mode))
	}
	if o.timeout <= 0 {
		fail(fmt.Errorf("%s: -timeout must be positive", mode))
	}
	return o
}

// startService creates the SDK service and waits for its first leaf and roots. It returns the service and
// the time from just before the constructor to ReadyWait's close. The caller closes the service.
func startService(ctx context.Context, o options) (*connect.Service, time.Duration, error) {
	logger := hclog.New(&hclog.LoggerOptions{
		Name:   "connect-bench",
		Level:  hclog.LevelFromString(o.logLevel),
		Output: os.Stderr,
	})
	cfg := api.DefaultConfig() // CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, ... from the environment
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, 0, fmt.Errorf("creating the Consul API client: %w", err)
	}

	start := time.Now()
	// NewService is NewServiceWithConfig(name, Config{Client: client}); the config only adds a quieter
	// logger and the ALPN list. The SDK's default is ["h2"] alone (connect/tls.go, defaultTLSConfig; see
	// Consul issue 4466): Go would still let a client offering only http/1.1 in (crypto/tls falls back to
	// no ALPN for it), but a client that offers something else and not h2 would be refused, so http/1.1 is
	// advertised explicitly. http.Server speaks both.
	svc, err := connect.NewServiceWithConfig(o.service, connect.Config{
		Client:           client,
		Logger:           logger,
		ServerNextProtos: []string{"h2", "http/1.1"},
	})
	if err != nil {
		return nil, 0, fmt.Errorf("creating the Connect service %q: %w", o.service, err)
	}
	// ReadyWait returns a nil channel when the service is already ready: a receive from it would block
	// forever, so nil means "ready now".
	if ch := svc.ReadyWait(); ch != nil {
		timer := time.NewTimer(o.timeout)
		defer timer.Stop()
		select {
		case <-ch:
		case <-timer.C:
			svc.Close()
			return nil, 0, fmt.Errorf("service %q: no leaf certificate and CA roots from the agent at %s within %s", o.service, cfg.Address, o.timeout)
		case <-ctx.Done():
			svc.Close()
			return nil, 0, fmt.Errorf("service %q: interrupted while waiting for the leaf certificate and CA roots", o.service)
		}
	}
	return svc, time.Since(start), nil
}

func ready(args []string) {
	o := parseFlags("ready", args, false)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	svc, took, err := startService(ctx, o)
	if err != nil {
		fail(err)
	}
	emit(event{Event: "ready", ReadyMs: millis(took)})
	svc.Close()
	if o.again == "" {
		return
	}
	o.service = o.again
	svc, took, err = startService(ctx, o)
	if err != nil {
		fail(err)
	}
	emit(event{Event: "again", ReadyMs: millis(took)})
	svc.Close()
}

func serve(args []string) {
	o := parseFlags("serve", args, true)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	svc, took, err := startService(ctx, o)
	if err != nil {
		fail(err)
	}
	defer svc.Close()

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		svc.Close()
		fail(fmt.Errorf("listening on %s: %w", o.listen, err))
	}
	// ServerTLSConfig verifies the client chain against the agent's roots, then calls the agent's
	// authorize endpoint with the client's SPIFFE ID and serial, in VerifyPeerCertificate.
	tlsLn := tls.NewListener(ln, svc.ServerTLSConfig())
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte("ok"))
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(tlsLn) }()
	emit(event{Event: "ready", Addr: ln.Addr().String(), ReadyMs: millis(took)})

	select {
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			_ = srv.Close()
		}
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			svc.Close()
			fail(fmt.Errorf("serving on %s: %w", ln.Addr(), err))
		}
	}
}

func version() {
	e := event{Event: "version", Go: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			v := dep.Version
			if dep.Replace != nil {
				v = dep.Replace.Version
			}
			switch dep.Path {
			case "github.com/hashicorp/consul":
				e.Consul = v
			case "github.com/hashicorp/consul/api":
				e.API = v
			}
		}
	}
	emit(e)
}
