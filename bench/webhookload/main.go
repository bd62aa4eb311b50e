// Command webhookload measures promobot's webhook ingest: N concurrent HTTP
// clients send signed ~7 KB GitHub push deliveries (each with its own
// X-GitHub-Delivery, each producing one intent that JetStream must store
// before the 202), for a fixed duration, over real HTTP on loopback. In the
// same run it measures the raw JetStream publish rate of 7 KB messages on
// the same nats-server, so the two figures are comparable.
//
// By default it starts everything in this process, wired as the promobot
// binary wires it: an embedded nats-server with file storage in a temp dir,
// a TCP NATS connection, the intent queue, the webhook handler behind
// net/http. With -url it drives a running promobot instead (and measures
// raw publishing only when -nats is given too). With -serve it only starts
// the in-process server, prints its URLs and serves for -serve-for, so the
// generator can run in another process.
//
// With -promobot BIN it measures the real binary black-box: it starts an
// external nats-server (the -nats-server binary, or this program re-executed
// as one) and `BIN webhook` against it, each in its own process, and reports
// the CPU each process used per delivery (from /proc/<pid>/stat), so the
// binary's own cost is separated from the generator's and the store's.
// -perf FILE records the promobot process with `perf record -g` during the
// measured window.
//
// Traffic goes only to loopback (or the -url given); every loop is bounded
// by -d.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/webhook"
)

//go:embed testdata/push-tag-create.drone.json
var pushPayload []byte

//go:embed testdata/rules.yaml
var rulesYAML []byte

type options struct {
	url, natsURL string
	secret       string
	conc         int
	dur, warmup  time.Duration
	rawDur       time.Duration
	size         int
	serve        bool
	serveFor     time.Duration
	logLevel     string
	cpuProfile   string
	client       string // nethttp or lean
	promobot     string // binary to run black-box
	natsServer   string // nats-server binary for -promobot ("": this program as one)
	keep         bool   // keep the -promobot temp dir (logs)
	watch        string // name=pid,... whose CPU is reported per delivery
	perfOut      string // perf record of the promobot process
	promobotEnv  string // extra environment of the promobot process
}

func main() {
	if spec := os.Getenv(natsChildEnv); spec != "" {
		// This program re-executed by -promobot as its nats-server.
		if err := natsChild(spec); err != nil {
			fmt.Fprintln(os.Stderr, "webhookload: nats-server:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.StringVar(&o.url, "url", "", "webhook URL of a running promobot (default: start one in-process)")
	flag.StringVar(&o.natsURL, "nats", "", "with -url: NATS URL of its server, for the raw publish rate")
	flag.StringVar(&o.secret, "secret", "webhookload-secret", "webhook secret")
	flag.IntVar(&o.conc, "c", 64, "concurrent HTTP clients")
	flag.DurationVar(&o.dur, "d", 10*time.Second, "measured duration of the HTTP phase")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up before the HTTP phase")
	flag.DurationVar(&o.rawDur, "raw", 5*time.Second, "duration of each raw JetStream phase (0: skip)")
	flag.IntVar(&o.size, "size", 7<<10, "delivery body size in bytes (the payload is padded up to it)")
	flag.BoolVar(&o.serve, "serve", false, "only start the in-process promobot ingest and serve for -serve-for")
	flag.DurationVar(&o.serveFor, "serve-for", 5*time.Minute, "with -serve: how long to serve")
	flag.StringVar(&o.logLevel, "log", "info", "handler log level (logs go to io.Discard but are still formatted)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the HTTP phase to this file (this process)")
	flag.StringVar(&o.client, "client", "nethttp", "HTTP client: nethttp (net/http) or lean (pre-rendered requests, less CPU)")
	flag.StringVar(&o.promobot, "promobot", "", "run this promobot binary in webhook mode against an external nats-server and drive it")
	flag.StringVar(&o.natsServer, "nats-server", "", "with -promobot: nats-server binary (default: this program re-executed as one)")
	flag.BoolVar(&o.keep, "keep", false, "with -promobot: keep the temp dir with the logs")
	flag.StringVar(&o.watch, "watch", "", "with -url: report CPU per delivery of these processes, name=pid[,name=pid]")
	flag.StringVar(&o.promobotEnv, "promobot-env", "", "with -promobot: extra environment for it, KEY=VALUE[,KEY=VALUE] (e.g. GOGC=200)")
	flag.StringVar(&o.perfOut, "perf", "", "with -promobot: perf record -g the promobot process during the measured window into this file")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "webhookload:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.conc < 1 || o.dur <= 0 {
		return errors.New("-c must be >= 1 and -d > 0")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.client != "nethttp" && o.client != "lean" {
		return fmt.Errorf("-client %q: nethttp or lean", o.client)
	}
	procs, err := parseWatch(o.watch)
	if err != nil {
		return err
	}
	target, natsURL := o.url, o.natsURL
	owned := target == "" // the generator started the server: its stream holds only this run's intents
	if o.promobot != "" {
		if target != "" {
			return errors.New("-promobot and -url exclude each other")
		}
		sp, err := startSpawned(ctx, o)
		if err != nil {
			return err
		}
		defer sp.close()
		target, natsURL, procs = sp.url, sp.natsURL, sp.procs
	} else if target == "" {
		srv, err := startIngest(ctx, o)
		if err != nil {
			return err
		}
		defer srv.close()
		target, natsURL = srv.url, srv.natsURL
		if o.serve {
			fmt.Printf("webhook %s\nnats %s\nsecret %s\n", target, natsURL, o.secret)
			select {
			case <-ctx.Done():
			case <-time.After(o.serveFor):
			}
			return nil
		}
	}
	body, err := deliveryBody(o.size)
	if err != nil {
		return err
	}
	fmt.Printf("machine: %d CPUs (GOMAXPROCS %d), %s, %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), cpuModel(), loadAvg())
	fmt.Printf("target: %s, %d %s clients, %v (+%v warm-up), body %d bytes\n", target, o.conc, o.client, o.dur, o.warmup, len(body))

	res, err := drive(ctx, target, o, body, procs)
	if err != nil {
		return err
	}
	res.print()
	printCPU(procs, res.procCPU[0], res.procCPU[1], res.n, "delivery")
	if owned {
		// Every 202 must mean a stored intent: count them in the stream.
		stored, err := streamMsgs(ctx, natsURL)
		if err != nil {
			return err
		}
		fmt.Printf("  intent stream holds %d messages; 202s sent (warm-up included): %d\n", stored, res.accepted)
		if stored < uint64(res.accepted) {
			return fmt.Errorf("only %d intents stored for %d accepted deliveries", stored, res.accepted)
		}
	}

	if o.rawDur > 0 && natsURL != "" {
		raw, err := rawPublish(ctx, natsURL, o, procs)
		if err != nil {
			return err
		}
		raw.print()
	} else if o.rawDur > 0 {
		fmt.Println("raw JetStream publish: skipped (give -nats with -url)")
	}
	fmt.Printf("load average after: %s\n", loadAvg())
	if res.errs > 0 {
		return fmt.Errorf("%d deliveries were not accepted", res.errs)
	}
	return nil
}

// ingest is promobot's webhook ingest running in this process.
type ingest struct {
	url, natsURL string
	close        func()
}

// startIngest wires the embedded nats-server, queue and webhook handler as
// internal/app does, on 127.0.0.1.
func startIngest(ctx context.Context, o options) (*ingest, error) {
	dir, err := os.MkdirTemp("", "webhookload-")
	if err != nil {
		return nil, err
	}
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	closers = append(closers, func() { _ = os.RemoveAll(dir) })
	fail := func(err error) (*ingest, error) {
		closeAll()
		return nil, err
	}
	e, err := queue.StartEmbedded(ctx, queue.EmbeddedConfig{Dir: dir})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, e.Shutdown)
	nc, err := nats.Connect(e.ClientURL(), nats.Name("promobot"), nats.MaxReconnects(-1))
	if err != nil {
		return fail(fmt.Errorf("connect nats: %w", err))
	}
	closers = append(closers, nc.Close)
	reg := prometheus.NewRegistry()
	q, err := queue.Open(ctx, nc, queue.Config{Registerer: reg})
	if err != nil {
		return fail(fmt.Errorf("open queue: %w", err))
	}
	rs, err := rules.Parse("rules.yaml", rulesYAML)
	if err != nil {
		return fail(fmt.Errorf("rules: %w", err))
	}
	lvl, err := zerolog.ParseLevel(o.logLevel)
	if err != nil {
		return fail(err)
	}
	h, err := webhook.New(webhook.Config{
		Secret: []byte(o.secret), Rules: func() *rules.Rules { return rs }, Publisher: q,
		Log: zerolog.New(io.Discard).Level(lvl).With().Timestamp().Logger(), Registerer: reg,
	})
	if err != nil {
		return fail(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/webhook", h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "webhookload: http server:", err)
		}
	}()
	closers = append(closers, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx) // best effort at exit
		<-done
	})
	return &ingest{url: "http://" + ln.Addr().String() + "/webhook", natsURL: e.ClientURL(), close: closeAll}, nil
}

// deliveryBody compacts the push payload and pads it to size bytes with one
// extra string member (GitHub adds members over time; the handler ignores
// unknown ones but still checks and signs every byte).
func deliveryBody(size int) ([]byte, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, pushPayload); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	const member = `,"webhookload_padding":""}`
	if pad := size - b.Len() - len(member) + 1; pad > 0 {
		b.Truncate(b.Len() - 1) // the closing brace
		b.WriteString(`,"webhookload_padding":"`)
		b.Write(bytes.Repeat([]byte("x"), pad))
		b.WriteString(`"}`)
	}
	return b.Bytes(), nil
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

type httpResult struct {
	n        int
	accepted int64 // 202s including the warm-up
	errs     int64
	statuses map[int]int64
	firstErr string
	elapsed  time.Duration
	lat      []time.Duration
	cpu      time.Duration
	procCPU  [2]cpuSnap // watched processes at the start and end of the measured window
}

func (r *httpResult) print() {
	fmt.Printf("HTTP ingest: %d deliveries accepted in %.2fs = %.0f deliveries/s; errors %d %v\n",
		r.n, r.elapsed.Seconds(), float64(r.n)/r.elapsed.Seconds(), r.errs, r.statuses)
	if r.firstErr != "" {
		fmt.Printf("  first error: %s\n", r.firstErr)
	}
	if len(r.lat) > 0 {
		fmt.Printf("  latency p50 %v  p90 %v  p99 %v  max %v\n", pct(r.lat, 50), pct(r.lat, 90), pct(r.lat, 99), r.lat[len(r.lat)-1])
	}
	if r.n > 0 {
		fmt.Printf("  generator process CPU %.1f µs per delivery (user+sys of this process: the client and, in-process, promobot's ingest and nats-server)\n",
			float64(r.cpu.Microseconds())/float64(r.n))
	}
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(len(sorted)-1, i-1))].Round(10 * time.Microsecond)
}

// drive runs o.conc clients, each sending one delivery at a time over its
// own keep-alive connection, for o.warmup+o.dur; only deliveries completed
// within the measured window count. The CPU of procs is read at the start
// and the end of that window.
func drive(ctx context.Context, target string, o options, body []byte, procs []proc) (*httpResult, error) {
	sig := sign(o.secret, body)
	tr := &http.Transport{
		MaxIdleConns: o.conc, MaxIdleConnsPerHost: o.conc, MaxConnsPerHost: o.conc,
		IdleConnTimeout: time.Minute, DisableCompression: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	newSender := func() (sender, error) {
		if o.client == "lean" {
			return newLeanSender(target, body, sig)
		}
		return &netHTTPSender{client: client, target: target, body: body, sig: sig}, nil
	}
	run := strconv.FormatInt(time.Now().UnixNano(), 36)

	var (
		seq      atomic.Int64
		accepted atomic.Int64
		measure  atomic.Bool
		mu       sync.Mutex
		res      = &httpResult{statuses: map[int]int64{}}
		wg       sync.WaitGroup
		deadline = time.Now().Add(o.warmup + o.dur)
	)
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(30*time.Second))
	defer cancel()
	lats := make([][]time.Duration, o.conc)
	worker := func(w int) {
		defer wg.Done()
		s, err := newSender()
		if err != nil {
			mu.Lock()
			res.errs++
			if res.firstErr == "" {
				res.firstErr = err.Error()
			}
			mu.Unlock()
			return
		}
		defer s.close()
		local := make([]time.Duration, 0, 1<<14)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			id := "wl-" + run + "-" + strconv.FormatInt(seq.Add(1), 10)
			start := time.Now()
			status, err := s.send(ctx, id)
			took := time.Since(start)
			if err == nil && status == http.StatusAccepted {
				accepted.Add(1)
			}
			if !measure.Load() {
				continue
			}
			if err != nil || status != http.StatusAccepted {
				mu.Lock()
				res.errs++
				res.statuses[status]++
				if res.firstErr == "" {
					res.firstErr = fmt.Sprintf("status %d, %v", status, err)
				}
				mu.Unlock()
				continue
			}
			local = append(local, took)
		}
		lats[w] = local
	}
	wg.Add(o.conc)
	for w := 0; w < o.conc; w++ {
		go worker(w)
	}
	select {
	case <-time.After(o.warmup):
	case <-ctx.Done():
	}
	measure.Store(true)
	if o.cpuProfile != "" {
		stopProfile, err := startProfile(o.cpuProfile)
		if err != nil {
			return nil, err
		}
		defer stopProfile()
	}
	if o.perfOut != "" && len(procs) > 0 {
		stopPerf, err := perfRecord(o.perfOut, procs[0].pid)
		if err != nil {
			return nil, err
		}
		defer stopPerf()
	}
	res.procCPU[0] = snapCPU(procs)
	cpu0 := cpuTime()
	start := time.Now()
	wg.Wait()
	res.elapsed = time.Since(start)
	res.cpu = cpuTime() - cpu0
	res.procCPU[1] = snapCPU(procs)
	for _, l := range lats {
		res.lat = append(res.lat, l...)
	}
	slices.Sort(res.lat)
	res.n = len(res.lat)
	res.accepted = accepted.Load()
	return res, ctx.Err()
}

func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close() // the profile error is the one to report
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "webhookload: cpu profile:", err)
		}
	}, nil
}

// cpuTime is this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "cpu unknown"
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && string(bytes.TrimSpace(k)) == "model name" {
			return string(bytes.TrimSpace(v))
		}
	}
	return "cpu unknown"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load unknown"
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return "load unknown"
	}
	return "load average " + string(bytes.Join(f[:3], []byte(" ")))
}
