// Package app wires promobot's parts into one running process: rules,
// NATS (embedded or external), the webhook server, the planner workers and
// the HTTP endpoints. cmd/promobot, the demo and the end-to-end tests all
// start promobot through Start, so they exercise the same wiring.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/automerge"
	"github.com/promobot/promobot/internal/budget"
	"github.com/promobot/promobot/internal/chatops"
	"github.com/promobot/promobot/internal/checkout"
	"github.com/promobot/promobot/internal/ghapp"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/gitmirror"
	"github.com/promobot/promobot/internal/policycheck"
	"github.com/promobot/promobot/internal/prwriter"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/repoindex"
	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/ui"
	"github.com/promobot/promobot/internal/webhook"
	"github.com/promobot/promobot/internal/worker"
)

// Config is everything promobot needs to run.
type Config struct {
	RulesPath     string
	Listen        string
	DataDir       string
	NATSURL       string // empty: embedded nats-server under DataDir
	GitHubAPIURL  string
	AppID         int64
	PrivateKey    []byte
	Token         string // instead of an App
	WebhookSecret []byte
	Insecure      bool // accept unsigned webhooks (local only)
	Workers       int
	Webhook       bool // run the webhook server
	Worker        bool // run the planner workers
	Log           zerolog.Logger
	// RulesReload is how often the rules file is checked for changes (default 10s).
	RulesReload time.Duration
	// Observe, when set, sees every handled intent (tests and the demo)
	// but configuration reads, which ObserveIndex sees.
	Observe      func(worker.Result)
	ObserveIndex func(worker.Result)
	// Queue overrides queue settings (tests).
	Queue queue.Config
	// GitHubRetry configures retries and pacing of GitHub calls (tests and
	// the demo turn pacing off: the test server has no secondary limits).
	GitHubRetry ghretry.Config
	// GitHubBudget is the GitHub write budget the deployment's workers
	// share per installation (internal/budget); no Windows: none. serve
	// sets GitHub's minute and hour from its flags; tests set their own
	// windows, margins and waits here.
	GitHubBudget budget.Config
	// RedeliverInterval is how often the delivery reconciler has GitHub
	// redeliver the webhook deliveries that failed (redeliver.go); it runs
	// with Worker, in one process at a time. 0: off.
	RedeliverInterval time.Duration
	// PublicURL is where GitHub reaches promobot (its webhook is PublicURL
	// + "/webhook"); with a Token the reconciler finds its repository
	// webhooks by it.
	PublicURL string
	// RepoConfigPath is where each GitOps repository configures itself
	// (checkout.Source.RepoConfigPath); "": .github/promobot.yaml.
	RepoConfigPath string
	// UIOAuth enables the status page (internal/ui) with sign-in with
	// GitHub; its empty WebURL, APIURL and PublicURL come from above.
	UIOAuth *ui.OAuth
	// UINoAuth serves the status page to everyone (local use only).
	UINoAuth bool
	// UIRefresh is how often the page's mirrors are fetched when no
	// intent did it (default DefaultUIRefresh).
	UIRefresh time.Duration
	// Listener, when set, is served instead of listening on Listen (a
	// caller that binds the port itself, e.g. a test).
	Listener net.Listener
	// Clock is the time of the workers' gates, the policy check and its
	// scheduler; nil: the wall clock (tests move a fake one).
	Clock policycheck.Clock
}

// App is a running promobot.
type App struct {
	log      zerolog.Logger
	ln       net.Listener
	http     *http.Server
	handler  atomic.Pointer[http.Handler] // the full mux once started (boot.go)
	embedded *queue.Embedded
	nc       *nats.Conn
	instance *queue.Instance // the worker's queue state under DataDir; nil without
	q        *queue.Queue
	rules    *rules.Store
	github   *ghapp.Clients // the workers' GitHub clients; nil without workers
	live     *liveBoard     // the status page's open PRs and closed gates (uilive.go)
	// index of the repositories' own configurations (repoindex.go)
	index *repoindex.Index
	// page is the status page's source (nil when the page is off)
	page      atomic.Pointer[uiSource]
	indexStop context.CancelFunc

	stop     context.CancelFunc
	closing  atomic.Bool
	wg       sync.WaitGroup
	consumed chan error
}

// Start starts promobot and returns when it accepts webhooks and works the queue.
func Start(ctx context.Context, cfg Config) (_ *App, err error) {
	if !cfg.Webhook && !cfg.Worker {
		cfg.Webhook, cfg.Worker = true, true
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.RulesReload <= 0 {
		cfg.RulesReload = 10 * time.Second
	}
	log := cfg.Log
	rs, err := rules.Load(cfg.RulesPath)
	if err != nil {
		return nil, fmt.Errorf("rules %s: %w", cfg.RulesPath, err)
	}
	a := &App{log: log, rules: rules.NewStore(rs)}
	warnOwners(log, cfg.RulesPath, rs)
	defer func() {
		if err != nil {
			a.close()
		}
	}()

	// Liveness holds and readiness says "starting" while NATS is reached.
	if err := a.listen(cfg); err != nil {
		return nil, err
	}
	url := cfg.NATSURL
	if url == "" {
		a.embedded, err = queue.StartEmbedded(ctx, queue.EmbeddedConfig{Dir: filepath.Join(cfg.DataDir, "jetstream")})
		if err != nil {
			return nil, fmt.Errorf("start embedded nats: %w", err)
		}
		url = a.embedded.ClientURL()
	}
	// RetryOnFailedConnect: a webhook or worker pod started before NATS
	// waits for it (not ready) instead of exiting and crash-looping.
	a.nc, err = nats.Connect(url, nats.Name("promobot"), nats.MaxReconnects(-1), nats.ReconnectWait(500*time.Millisecond),
		nats.RetryOnFailedConnect(true), nats.ConnectHandler(func(*nats.Conn) { log.Info().Msg("nats connected") }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if !a.closing.Load() {
				log.Warn().Err(err).Msg("nats disconnected")
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info().Msg("nats reconnected") }))
	if err != nil {
		return nil, fmt.Errorf("connect nats %s: %w", url, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	qcfg := cfg.Queue
	qcfg.Registerer = reg
	qcfg.Logger = log
	// A dead-lettered intent waits nowhere any more (uidead.go).
	prevDead := qcfg.DeadLettered
	qcfg.DeadLettered = func(dl queue.DeadLetter) {
		a.forgetDead(dl)
		if prevDead != nil {
			prevDead(dl)
		}
	}
	if qcfg.AckWait <= 0 {
		qcfg.AckWait = queue.DefaultAckWait
	}
	if qcfg.LeaseTTL <= 0 {
		// A crashed worker's lease expires about when its intent comes back.
		qcfg.LeaseTTL = qcfg.AckWait
	}
	if cfg.Worker && cfg.DataDir != "" && qcfg.Instance == nil {
		// A worker restarted on its data directory takes back at once what
		// its crashed predecessor held (queue.Instance).
		dir := filepath.Join(cfg.DataDir, "queue")
		if a.instance, err = queue.OpenInstance(dir); err != nil {
			log.Warn().Err(err).Str("dir", dir).Msg("no instance directory: after a crash, this worker's intents wait out the ack wait and lease TTL")
		}
		qcfg.Instance = a.instance
	}
	if !a.nc.IsConnected() {
		log.Warn().Str("nats", url).Msg("waiting for nats: not ready until it answers")
	}
	a.q, err = queue.Open(ctx, a.nc, qcfg)
	if err != nil {
		return nil, fmt.Errorf("open queue: %w", err)
	}
	if a.index, a.indexStop, err = openIndex(ctx, a.nc, qcfg.Replicas, log); err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	if cfg.Webhook {
		wh, err := webhook.New(webhook.Config{
			Secret: cfg.WebhookSecret, Insecure: cfg.Insecure, Rules: a.rules.Current,
			Publisher: a.q, Log: log, Registerer: reg,
			OnInstallation: announceInstallations(a.nc), OnPush: announcePushes(a.nc),
			RepoConfigs: &webhookConfigs{idx: a.index}, RepoConfigPath: cfg.RepoConfigPath,
		})
		if err != nil {
			return nil, err
		}
		mux.Handle("/webhook", wh)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/readyz", a.ready)
	if err := a.registerReady(reg); err != nil {
		return nil, err
	}
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))

	var runCtx context.Context
	runCtx, a.stop = context.WithCancel(context.WithoutCancel(ctx))
	mirrors := gitmirror.New(filepath.Join(cfg.DataDir, "mirrors"))
	if cfg.UIOAuth != nil || cfg.UINoAuth {
		a.live = newLiveBoard(a.q.State(), log) // before the workers, which write it
	}
	if cfg.Worker {
		retry := cfg.GitHubRetry
		retry.Log = log
		bud, err := openBudget(ctx, a.nc, cfg, qcfg.Replicas, reg)
		if err != nil {
			return nil, err
		}
		// The budget's transport sits below ghretry: every attempt is charged.
		clients, err := ghapp.New(ghapp.Config{APIURL: cfg.GitHubAPIURL, AppID: cfg.AppID, PrivateKey: cfg.PrivateKey, Token: cfg.Token, Registerer: reg, Retry: retry,
			Transport: bud.Transport(nil)})
		if err != nil {
			return nil, err
		}
		if _, err := forgetInstallations(a.nc, clients, log); err != nil {
			return nil, err
		}
		a.github = clients
		wm, err := worker.NewMetrics(reg)
		if err != nil {
			return nil, err
		}
		clock := cfg.Clock
		if clock == nil {
			clock = policycheck.RealClock{}
		}
		w := &worker.Worker{
			Holder:   a.q,
			Repos:    &checkout.Source{Clients: clients, Mirrors: mirrors, Rules: a.rules.Current, RepoConfigPath: cfg.RepoConfigPath, Log: log, Now: clock.Now},
			Writer:   &prwriter.Writer{State: kvState{a.q.State()}},
			Commands: &chatops.Commands{Replies: kvState{a.q.State()}, Log: log, Self: clients.Identity},
			Log:      log, Now: time.Now, Observe: splitObserve(cfg), Promoted: a.observeUI(),
			Metrics: wm,
		}
		if bud != nil {
			w.Budget = bud
		}
		w.Merges = automerge.Merger{}
		w.Now = clock.Now
		w.Policy = &policycheck.Checker{Schedule: policySchedule{a.q.State()}, Self: clients.Identity, Now: clock.Now}
		a.startPolicyScheduler(runCtx, clock, log)
		w.Once = kvOnce{a.q.State()}
		w.Repos.(*checkout.Source).Index = checkoutIndex{a.index}
		w.ConfigChecks = w.Repos.(*checkout.Source)
		w.Waits = waitStore{a.q}
		w.Health = healthStore{a.q.State()} // the status page's health (uihealth.go)
		a.consumed = make(chan error, 1)
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.consumed <- a.q.Consume(runCtx, cfg.Workers, func(ctx context.Context, d *queue.Delivery) queue.Outcome { return w.Handle(ctx, d) })
		}()
		if err := a.startIndexScan(runCtx, clients); err != nil {
			return nil, err
		}
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.rules.Watch(runCtx, cfg.RulesPath, cfg.RulesReload, func(err error, r *rules.Rules) {
			if err != nil {
				log.Error().Err(err).Str("rules", cfg.RulesPath).Msg("new rules refused; the last good rules stay in force")
				return
			}
			log.Info().Str("rules", cfg.RulesPath).Int("services", len(r.Services)).Msg("rules reloaded")
			warnOwners(log, cfg.RulesPath, r)
		})
	}()

	uiHandler, err := a.startUI(runCtx, cfg, mirrors)
	if err != nil {
		return nil, err
	}
	mux.Handle("/", uiHandler) // the status page; 404 on every path unless configured

	var h http.Handler = mux
	a.handler.Store(&h)
	a.startRedeliver(runCtx, cfg, reg) // after Serve: its first run's redeliveries find promobot listening
	return a, nil
}

// Addr is the address the HTTP server listens on.
func (a *App) Addr() string { return a.ln.Addr().String() }

// Queue is the intent queue (the tests publish requested promotions on it).
func (a *App) Queue() *queue.Queue { return a.q }

// NATSURL is the URL of the NATS server in use.
func (a *App) NATSURL() string { return a.nc.ConnectedUrl() }

func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.q.Ready(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
		return
	}
	if a.rules.Current() == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "no rules"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// Shutdown stops taking webhooks, lets in-flight intents finish (or releases
// them to the queue), then closes NATS.
func (a *App) Shutdown(ctx context.Context) error {
	var errs []error
	if err := a.http.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	a.stop()
	if a.consumed != nil {
		if err := <-a.consumed; err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("consume: %w", err))
		}
	}
	a.wg.Wait()
	if p := a.page.Load(); p != nil {
		p.close() // its background rebuilds, cancelled with the rest
	}
	a.close()
	return errors.Join(errs...)
}

func (a *App) close() {
	a.closing.Store(true)
	if a.http != nil {
		_ = a.http.Close() // a failed start: nothing in flight to report
	}
	if a.stop != nil {
		a.stop()
	}
	if a.indexStop != nil {
		a.indexStop()
	}
	if a.nc != nil {
		if err := a.nc.Drain(); err != nil {
			a.log.Warn().Err(err).Msg("nats drain")
		}
	}
	if a.embedded != nil {
		a.embedded.Shutdown()
	}
	if a.instance != nil {
		_ = a.instance.Close() // only unlocks; nothing to report
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}

// openBudget opens the GitHub write budget the workers share (nil when
// cfg sets no window).
func openBudget(ctx context.Context, nc *nats.Conn, cfg Config, replicas int, reg prometheus.Registerer) (*budget.Budget, error) {
	if len(cfg.GitHubBudget.Windows) == 0 {
		return nil, nil
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("write budget: %w", err)
	}
	bc := cfg.GitHubBudget
	bc.Token, bc.Replicas, bc.Registerer, bc.Log = cfg.Token != "", replicas, reg, cfg.Log
	return budget.Open(ctx, js, bc)
}

// kvState keeps the PR writer's target → PR record in JetStream KV, so every
// worker replica shares it.
type kvState struct{ kv jetstream.KeyValue }

func (s kvState) GetPR(ctx context.Context, key string) (r prwriter.PRRecord, ok bool, err error) {
	ok, err = s.get(ctx, "pr/"+key, &r)
	return r, ok, err
}

func (s kvState) PutPR(ctx context.Context, key string, r prwriter.PRRecord) error {
	return s.put(ctx, "pr/"+key, r)
}

func (s kvState) GetReply(ctx context.Context, key string) (r chatops.ReplyRecord, ok bool, err error) {
	ok, err = s.get(ctx, key, &r)
	return r, ok, err
}

func (s kvState) PutReply(ctx context.Context, key string, r chatops.ReplyRecord) error {
	return s.put(ctx, key, r)
}

func (s kvState) get(ctx context.Context, key string, v any) (bool, error) {
	e, err := s.kv.Get(ctx, queue.EscapeKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return false, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

func (s kvState) put(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if _, err := s.kv.Put(ctx, queue.EscapeKey(key), b); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}
