package main

// Black-box mode: the real promobot binary in `webhook` mode against an
// external nats-server process, both started by the generator, each
// process's CPU read from /proc/<pid>/stat.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/promobot/promobot/internal/queue"
)

// proc is a process whose CPU time is reported per delivery.
type proc struct {
	name string
	pid  int
}

// procCPU is the user+system CPU time of process pid and all its threads
// (/proc/<pid>/stat utime and stime, in clock ticks of 10 ms: USER_HZ is
// 100 on every Linux architecture Go supports).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// cpuSnap records the CPU time of procs at one instant.
type cpuSnap []time.Duration

func snapCPU(procs []proc) cpuSnap {
	s := make(cpuSnap, len(procs))
	for i, p := range procs {
		s[i], _ = procCPU(p.pid) // a process that is gone reads as 0; its figure is then meaningless and shows as negative
	}
	return s
}

// printCPU prints each process's CPU between a and b per operation.
func printCPU(procs []proc, a, b cpuSnap, ops int, unit string) {
	for i, p := range procs {
		d := b[i] - a[i]
		fmt.Printf("  %s (pid %d) CPU %.1f µs per %s (%.2f s in all)\n", p.name, p.pid,
			float64(d.Microseconds())/float64(max(ops, 1)), unit, d.Seconds())
	}
}

// parseWatch reads -watch: name=pid,name=pid.
func parseWatch(s string) ([]proc, error) {
	var out []proc
	if s == "" {
		return nil, nil
	}
	for _, kv := range strings.Split(s, ",") {
		name, pid, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(pid)
		if !ok || err != nil || n <= 0 {
			return nil, fmt.Errorf("-watch %q: want name=pid[,name=pid]", s)
		}
		out = append(out, proc{name: name, pid: n})
	}
	return out, nil
}

// spawned is promobot's binary and a nats-server, each in its own process.
type spawned struct {
	url, natsURL string
	procs        []proc // promobot, nats-server
	close        func()
}

// freePort asks the kernel for a free port on loopback (there is a small
// race between closing it here and the child binding it).
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startChild starts cmd with its output in logPath and stops it with
// SIGTERM (SIGKILL after 30 s) when stop is called.
func startChild(cmd *exec.Cmd, logPath string) (stop func(), err error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close() // the start error is the one to report
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // exit status of a child we stop ourselves is not interesting
		_ = logf.Close()
		close(done)
	}()
	return func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // it may have exited already
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}, nil
}

// waitFor polls ok every 50 ms until it reports true, the child exits or
// 30 s pass.
func waitFor(ctx context.Context, what string, ok func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for !ok() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not ready: %w", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// startSpawned starts a nats-server (o.natsServer, or this program
// re-executed as one with -nats-child) and `promobot webhook` against it.
func startSpawned(ctx context.Context, o options) (*spawned, error) {
	dir, err := os.MkdirTemp("", "webhookload-spawn-")
	if err != nil {
		return nil, err
	}
	var stops []func()
	closeAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		if o.keep {
			fmt.Printf("kept %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir) // best effort: a temp dir
	}
	fail := func(err error) (*spawned, error) {
		closeAll()
		return nil, err
	}
	natsPort, err := freePort()
	if err != nil {
		return fail(err)
	}
	var natsCmd *exec.Cmd
	if o.natsServer != "" {
		natsCmd = exec.Command(o.natsServer, "-js", "-sd", filepath.Join(dir, "jetstream"), "-a", "127.0.0.1", "-p", strconv.Itoa(natsPort))
	} else {
		self, err := os.Executable()
		if err != nil {
			return fail(err)
		}
		natsCmd = exec.Command(self)
		natsCmd.Env = append(os.Environ(), natsChildEnv+"="+strconv.Itoa(natsPort)+":"+filepath.Join(dir, "jetstream"))
	}
	stop, err := startChild(natsCmd, filepath.Join(dir, "nats-server.log"))
	if err != nil {
		return fail(fmt.Errorf("start nats-server: %w", err))
	}
	stops = append(stops, stop)
	natsAddr := "127.0.0.1:" + strconv.Itoa(natsPort)
	if err := waitFor(ctx, "nats-server", func() bool {
		c, err := net.DialTimeout("tcp", natsAddr, time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}); err != nil {
		return fail(err)
	}
	natsURL := "nats://" + natsAddr

	secret := filepath.Join(dir, "webhook-secret")
	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := errors.Join(os.WriteFile(secret, []byte(o.secret), 0o600), os.WriteFile(rulesPath, rulesYAML, 0o600)); err != nil {
		return fail(err)
	}
	httpPort, err := freePort()
	if err != nil {
		return fail(err)
	}
	listen := "127.0.0.1:" + strconv.Itoa(httpPort)
	pb := exec.Command(o.promobot, "webhook", "--nats-url", natsURL, "--listen", listen,
		"--webhook-secret-file", secret, "--rules", rulesPath, "--data-dir", filepath.Join(dir, "data"),
		"--log-level", o.logLevel)
	pb.Env = append(os.Environ(), "PROMOBOT_WEBHOOK_SECRET=")
	if o.promobotEnv != "" {
		pb.Env = append(pb.Env, strings.Split(o.promobotEnv, ",")...)
	}
	stop, err = startChild(pb, filepath.Join(dir, "promobot.log"))
	if err != nil {
		return fail(fmt.Errorf("start promobot: %w", err))
	}
	stops = append(stops, stop)
	base := "http://" + listen
	if err := waitFor(ctx, "promobot", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "promobot.log"))
		return fail(fmt.Errorf("%w\npromobot log:\n%s", err, log))
	}
	return &spawned{
		url: base + "/webhook", natsURL: natsURL,
		procs: []proc{{"promobot", pb.Process.Pid}, {"nats-server", natsCmd.Process.Pid}},
		close: closeAll,
	}, nil
}

// natsChildEnv, set to "port:dir", makes this program (or its test binary)
// serve an embedded nats-server, the module's own version, with JetStream
// in dir until SIGTERM: the external nats-server of -promobot when no
// -nats-server binary is given.
const natsChildEnv = "WEBHOOKLOAD_NATS_CHILD"

func natsChild(spec string) error {
	port, dir, ok := strings.Cut(spec, ":")
	p, err := strconv.Atoi(port)
	if !ok || err != nil || dir == "" {
		return fmt.Errorf("%s=%q: want port:dir", natsChildEnv, spec)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e, err := queue.StartEmbedded(ctx, queue.EmbeddedConfig{Dir: dir, Port: p})
	if err != nil {
		return err
	}
	defer e.Shutdown()
	<-ctx.Done()
	return nil
}

// perfRecord runs `perf record -g` on pid until the returned stop is
// called (SIGINT makes perf write its file).
func perfRecord(path string, pid int) (stop func(), err error) {
	cmd := exec.Command("perf", "record", "-F", "999", "-g", "-p", strconv.Itoa(pid), "-o", path)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf: %w", err)
	}
	return func() {
		_ = cmd.Process.Signal(os.Interrupt) // perf flushes and exits on SIGINT
		_ = cmd.Wait()                       // its own messages went to stderr
	}, nil
}
