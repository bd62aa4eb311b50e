package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/promobot/promobot/internal/app"
	"github.com/promobot/promobot/internal/budget"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/rules"
)

type mode string

const (
	modeAll     mode = "serve"
	modeWebhook mode = "webhook"
	modeWorker  mode = "worker"
)

// serveFlags are the server settings, each with its PROMOBOT_* variable
// (the README lists them all).
type serveFlags struct {
	rules, listen, dataDir, natsURL, apiURL, appID, keyFile, secretFile string
	logFormat, logLevel                                                 string
	workers                                                             int
	insecure                                                            bool
	ackWait, leaseTTL, githubPace                                       time.Duration

	redeliverInterval time.Duration // the delivery reconciler (internal/redeliver)
	writesPerMinute   int           // the shared GitHub write budget (internal/budget)
	writesPerHour     int
	publicURL         string
	repoConfigPath    string // where a GitOps repository configures itself (internal/checkout)

	oauthClientID, oauthSecretFile string // sign-in to the status page (internal/ui)
	uiNoAuth                       bool
	streamReplicas                 int // JetStream replicas of every stream and KV bucket
}

func newServe(m mode) *cobra.Command {
	var f serveFlags
	short := map[mode]string{
		modeAll:     "Run the webhook server, the planner workers and an embedded NATS server in one process",
		modeWebhook: "Run only the webhook server (needs --nats-url)",
		modeWorker:  "Run only the planner workers (needs --nats-url)",
	}[m]
	cmd := &cobra.Command{
		Use:   string(m),
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), cmd, m, f)
		},
	}
	fs := cmd.Flags()
	stringFlag(fs, &f.rules, "rules", "PROMOBOT_RULES", "config/promotion-rules.yaml", "rules file")
	stringFlag(fs, &f.listen, "listen", "PROMOBOT_LISTEN", ":8080", "HTTP listen address")
	stringFlag(fs, &f.dataDir, "data-dir", "PROMOBOT_DATA_DIR", "./data", "directory for embedded JetStream, git mirrors and the worker's crash-recovery state")
	stringFlag(fs, &f.natsURL, "nats-url", "PROMOBOT_NATS_URL", "", "external NATS URL (empty: embedded server)")
	stringFlag(fs, &f.apiURL, "github-api-url", "PROMOBOT_GITHUB_API_URL", "https://api.github.com/", "GitHub REST API URL (GHES: https://HOST)")
	stringFlag(fs, &f.appID, "app-id", "PROMOBOT_APP_ID", "", "GitHub App id")
	stringFlag(fs, &f.keyFile, "private-key-file", "PROMOBOT_PRIVATE_KEY_FILE", "", "GitHub App private key (PEM file)")
	fs.StringVar(&f.secretFile, "webhook-secret-file", "", "file holding the webhook secret (or set $PROMOBOT_WEBHOOK_SECRET to the value)")
	stringFlag(fs, &f.logFormat, "log-format", "PROMOBOT_LOG_FORMAT", "json", "log format: json or console")
	stringFlag(fs, &f.logLevel, "log-level", "PROMOBOT_LOG_LEVEL", "info", "log level")
	fs.BoolVar(&f.insecure, "insecure-no-signature", false, "accept unsigned webhooks (local experiments only; never in production)")
	stringFlag(fs, &f.repoConfigPath, "repo-config-path", "PROMOBOT_REPO_CONFIG_PATH", rules.DefaultRepoConfigPath, "where each GitOps repository configures itself, read from its base branch (repositories without it follow the rules file's services)")
	stringFlag(fs, &f.publicURL, "public-url", "PROMOBOT_PUBLIC_URL", "", "where GitHub reaches promobot, e.g. https://promobot.example.com (webhook: its /webhook); with a token, the redeliver reconciler finds its repository webhooks by it")
	stringFlag(fs, &f.oauthClientID, "github-oauth-client-id", "PROMOBOT_GITHUB_OAUTH_CLIENT_ID", "", "the GitHub App's OAuth client id: enables the status page with sign-in with GitHub (callback: --public-url + /auth/callback)")
	fs.StringVar(&f.oauthSecretFile, "github-oauth-client-secret-file", "", "file holding the App's OAuth client secret, one per line: the first is used, later ones (during a rotation) still open sessions (or set $PROMOBOT_GITHUB_OAUTH_CLIENT_SECRET to the value)")
	err := errors.Join(
		boolFlag(fs, &f.uiNoAuth, "ui-no-auth", "PROMOBOT_UI_NO_AUTH", "serve the status page to everyone without sign-in (local use only; never in production)"),
		intFlag(fs, &f.workers, "workers", "PROMOBOT_WORKERS", runtime.NumCPU(), "planner workers"),
		durationFlag(fs, &f.ackWait, "ack-wait", "PROMOBOT_ACK_WAIT", queue.DefaultAckWait, "how long an intent stays with a dead worker before another gets it (busy workers heartbeat every third of it; one restarted on its --data-dir takes them back at once)"),
		durationFlag(fs, &f.leaseTTL, "lease-ttl", "PROMOBOT_LEASE_TTL", 0, "how long a dead worker's lease blocks its target (live ones refresh every third of it; one restarted on its --data-dir frees it at once; 0: the ack wait)"),
		durationFlag(fs, &f.githubPace, "github-pace", "PROMOBOT_GITHUB_PACE", time.Second, "minimum spacing of content-creating GitHub requests, per GitHub's secondary rate limits (0: none)"),
		intFlag(fs, &f.writesPerMinute, "github-writes-per-minute", "PROMOBOT_GITHUB_WRITES_PER_MINUTE", budget.DefaultPerMinute, "content-creating GitHub requests the whole deployment makes per installation in any minute (GitHub's secondary limit; 0: no minute limit)"),
		intFlag(fs, &f.writesPerHour, "github-writes-per-hour", "PROMOBOT_GITHUB_WRITES_PER_HOUR", budget.DefaultPerHour, "content-creating GitHub requests the whole deployment makes per installation in any hour (GitHub's secondary limit; 0: no hour limit)"),
		intFlag(fs, &f.streamReplicas, "stream-replicas", "PROMOBOT_STREAM_REPLICAS", 1, "JetStream replicas of promobot's streams and KV buckets: 1, or 3 on a 3-node NATS cluster (at most 5, at most the cluster's servers)"),
		durationFlag(fs, &f.redeliverInterval, "redeliver-interval", "PROMOBOT_REDELIVER_INTERVAL", time.Minute, "how often GitHub is asked for failed webhook deliveries, which it then redelivers (worker and serve processes, one at a time; 0: off)"),
	)
	if err != nil {
		cmd.RunE = func(*cobra.Command, []string) error { return err }
	}
	return cmd
}

func runServe(ctx context.Context, cmd *cobra.Command, m mode, f serveFlags) error {
	log, err := newLogger(cmd.ErrOrStderr(), f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	cfg := app.Config{
		RulesPath: f.rules, Listen: f.listen, DataDir: f.dataDir, NATSURL: f.natsURL,
		GitHubAPIURL: f.apiURL, Token: os.Getenv("PROMOBOT_GITHUB_TOKEN"),
		Workers: f.workers, Log: log, Insecure: f.insecure,
		Webhook: m != modeWorker, Worker: m != modeWebhook,
		Queue:       queue.Config{AckWait: f.ackWait, LeaseTTL: f.leaseTTL},
		GitHubRetry: ghretry.Config{ContentPace: f.githubPace},
	}
	if f.streamReplicas < 1 || f.streamReplicas > 5 {
		return fmt.Errorf("--stream-replicas %d: want 1 to 5 (JetStream's limit)", f.streamReplicas)
	}
	cfg.Queue.Replicas = f.streamReplicas
	if f.githubPace <= 0 {
		cfg.GitHubRetry.ContentPace = -1 // ghretry: negative disables pacing
	}
	if f.writesPerMinute < 0 || f.writesPerHour < 0 {
		return fmt.Errorf("--github-writes-per-minute and --github-writes-per-hour must not be negative")
	}
	cfg.GitHubBudget.Windows = budget.GitHubWindows(f.writesPerMinute, f.writesPerHour)
	cfg.RedeliverInterval, cfg.PublicURL = f.redeliverInterval, f.publicURL
	if err := checkRepoConfigPath(f.repoConfigPath); err != nil {
		return err
	}
	cfg.RepoConfigPath = f.repoConfigPath
	if f.publicURL != "" {
		if _, err := app.WebhookURL(f.publicURL); err != nil {
			return fmt.Errorf("--public-url: %w", err)
		}
	}
	if m != modeAll && f.natsURL == "" {
		return fmt.Errorf("promobot %s needs --nats-url: the embedded NATS server runs only with serve", m)
	}
	if f.appID != "" {
		if _, err := fmt.Sscan(f.appID, &cfg.AppID); err != nil {
			return fmt.Errorf("--app-id %q is not a number", f.appID)
		}
	}
	if f.keyFile != "" {
		if cfg.PrivateKey, err = os.ReadFile(f.keyFile); err != nil {
			return fmt.Errorf("read private key: %w", err)
		}
	}
	cfg.WebhookSecret = []byte(os.Getenv("PROMOBOT_WEBHOOK_SECRET"))
	if f.secretFile != "" {
		if cfg.WebhookSecret, err = os.ReadFile(f.secretFile); err != nil {
			return fmt.Errorf("read webhook secret: %w", err)
		}
		cfg.WebhookSecret = trimNewline(cfg.WebhookSecret)
	}
	if err := uiConfig(&cfg, f); err != nil {
		return err
	}
	a, err := app.Start(ctx, cfg)
	if err != nil {
		return err
	}
	log.Info().Str("listen", a.Addr()).Str("mode", string(m)).Msg("promobot started")
	<-ctx.Done()
	log.Info().Msg("shutting down: no new webhooks, finishing in-flight intents")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
